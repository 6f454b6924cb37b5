//! When to write checkpoints, kept apart from how they are written, so the
//! rules are unit-tested without a disk (STYLE.md "Jobs and events").

use serde::{Deserialize, Serialize};

/// Default spacing of periodic `checkpoint.safetensors` saves.
pub const DEFAULT_EVERY_STEPS: u64 = 500;
/// Default validation metric that picks the best checkpoint.
pub const DEFAULT_KEEP_BEST_BY: &str = "ndcg@10";

/// What to save at this step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Write the latest checkpoint (and optimiser state) for resuming.
    pub save_last: bool,
    /// Write the best checkpoint: the validation metric improved.
    pub save_best: bool,
}

/// Checkpoint rules: periodic "last" saves plus a "best" save whenever the
/// validation metric `keep_best_by` improves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CheckpointPolicy {
    /// Save the latest state every this many steps (0 = only at the end).
    pub every_steps: u64,
    /// Name of the validation metric that defines "best" (e.g. `ndcg@10`, `auc`, `val_loss`).
    pub keep_best_by: String,
    /// Whether larger values of `keep_best_by` are better; when absent,
    /// inferred from the name (a name containing "loss" prefers lower).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub higher_is_better: Option<bool>,
    /// Best (step, value) so far; state, not configuration.
    #[serde(skip)]
    best: Option<(u64, f64)>,
}

impl Default for CheckpointPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_EVERY_STEPS, DEFAULT_KEEP_BEST_BY)
    }
}

impl CheckpointPolicy {
    /// A policy; a metric whose name contains "loss" counts lower as better.
    pub fn new(every_steps: u64, keep_best_by: &str) -> Self {
        Self { every_steps, keep_best_by: keep_best_by.to_string(), higher_is_better: None, best: None }
    }

    /// Whether larger metric values are better (explicit setting, else by name).
    pub fn higher_is_better(&self) -> bool {
        self.higher_is_better.unwrap_or_else(|| !self.keep_best_by.to_ascii_lowercase().contains("loss"))
    }

    /// Decision after step `step` (1-based count of steps done), with the
    /// validation metric if one was computed at this step. A NaN or infinite
    /// metric is never "best".
    pub fn decide(&mut self, step: u64, val_metric: Option<f64>) -> Decision {
        let save_last = self.every_steps > 0 && step > 0 && step.is_multiple_of(self.every_steps);
        Decision { save_last, save_best: self.consider(step, val_metric) }
    }

    /// Decision at the end of training: always save the latest state.
    pub fn decide_final(&mut self, step: u64, val_metric: Option<f64>) -> Decision {
        Decision { save_last: true, save_best: self.consider(step, val_metric) }
    }

    fn consider(&mut self, step: u64, val_metric: Option<f64>) -> bool {
        let Some(v) = val_metric.filter(|v| v.is_finite()) else { return false };
        let better = match self.best {
            None => true,
            Some((_, b)) if self.higher_is_better() => v > b,
            Some((_, b)) => v < b,
        };
        if better {
            self.best = Some((step, v));
        }
        better
    }

    /// Best (step, value) seen so far.
    pub fn best(&self) -> Option<(u64, f64)> {
        self.best
    }

    /// Restores the best value when resuming a run, so an earlier, better
    /// checkpoint is not overwritten by a worse one.
    pub fn restore_best(&mut self, step: u64, value: f64) {
        self.best = value.is_finite().then_some((step, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_saves() {
        let mut p = CheckpointPolicy::new(3, "ndcg@10");
        let saves: Vec<u64> = (0..=10).filter(|&s| p.decide(s, None).save_last).collect();
        assert_eq!(saves, vec![3, 6, 9]);
        let mut never = CheckpointPolicy::new(0, "ndcg@10");
        assert!((1..100).all(|s| !never.decide(s, None).save_last));
        assert!(never.decide_final(100, None).save_last);
    }

    #[test]
    fn best_follows_improvements_only() {
        let mut p = CheckpointPolicy::new(0, "ndcg@10");
        assert!(p.higher_is_better());
        let vals = [Some(0.1), None, Some(0.3), Some(0.2), Some(f64::NAN), Some(0.3), Some(0.35)];
        let best: Vec<bool> = vals.iter().enumerate().map(|(i, &v)| p.decide(i as u64 + 1, v).save_best).collect();
        assert_eq!(best, vec![true, false, true, false, false, false, true]);
        assert_eq!(p.best(), Some((7, 0.35)));
    }

    #[test]
    fn loss_metrics_prefer_lower() {
        let mut p = CheckpointPolicy::new(0, "val_loss");
        assert!(!p.higher_is_better());
        assert!(p.decide(1, Some(2.0)).save_best);
        assert!(!p.decide(2, Some(2.5)).save_best);
        assert!(p.decide(3, Some(1.5)).save_best);
    }

    #[test]
    fn restored_best_blocks_worse_saves() {
        let mut p = CheckpointPolicy::default();
        p.restore_best(400, 0.5);
        assert!(!p.decide(500, Some(0.4)).save_best);
        assert!(p.decide(600, Some(0.6)).save_best);
    }

    #[test]
    fn config_round_trip_skips_state() {
        let mut p = CheckpointPolicy::new(10, "auc");
        p.decide(1, Some(0.7));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, serde_json::json!({"every_steps": 10, "keep_best_by": "auc"}));
        let back: CheckpointPolicy = serde_json::from_value(json).unwrap();
        assert_eq!(back.best(), None);
        let partial: CheckpointPolicy = serde_json::from_str(r#"{"every_steps": 7}"#).unwrap();
        assert_eq!(partial.keep_best_by, DEFAULT_KEEP_BEST_BY);
        let loss: CheckpointPolicy = serde_json::from_str(r#"{"keep_best_by": "val_loss"}"#).unwrap();
        assert!(!loss.higher_is_better());
        let forced: CheckpointPolicy =
            serde_json::from_str(r#"{"keep_best_by": "val_loss", "higher_is_better": true}"#).unwrap();
        assert!(forced.higher_is_better());
    }
}
