//! The whole flow as the GUI sees it: which stage the engine's `flow::run_flow`
//! job is in, that stage's progress, and how it ended, folded from its
//! [`JobEvent`]s. The pre-training stage's events also feed the Train panel's
//! live run (app.rs forwards them); this only tracks the three stages. egui-free.

use std::path::PathBuf;

use serde_json::Value;

use crate::gui::workspace::StageStatus;
use crate::job::JobEvent;

/// Number of stages of the flow.
pub const STAGES: usize = 3;

/// How a flow job ended.
#[derive(Clone, Debug, PartialEq)]
pub enum FlowEnd {
    Finished(Value),
    Stopped,
    /// The stage that failed and why.
    Failed { stage: usize, error: String },
}

/// A flow job: started from the Flow panel, writing into `out`.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowLive {
    /// The flow folder (`pretrain/`, `ctr/`, `flow_report.json`).
    pub out: PathBuf,
    /// The stage running now (None before the first stage event).
    pub stage: Option<usize>,
    /// Progress of the current stage, 0..=1.
    pub fraction: f32,
    /// Steps of the current stage's training loop (0 = unknown).
    total_steps: u64,
    /// What the current stage is doing, in words.
    pub phase: String,
    pub end: Option<FlowEnd>,
}

impl FlowLive {
    /// A flow that has just been started into `out`.
    pub fn new(out: PathBuf) -> Self {
        FlowLive { out, stage: None, fraction: 0.0, total_steps: 0, phase: "starting".into(), end: None }
    }

    /// The pre-training run folder of this flow.
    pub fn pretrain_dir(&self) -> PathBuf {
        self.out.join("pretrain")
    }

    /// Whether the job is still running.
    pub fn is_active(&self) -> bool {
        self.end.is_none()
    }

    /// Progress of the whole flow, 0..=1 (each stage counts a third).
    pub fn overall(&self) -> f32 {
        match (&self.end, self.stage) {
            (Some(FlowEnd::Finished(_)), _) => 1.0,
            (_, Some(s)) => (s as f32 + self.fraction.clamp(0.0, 1.0)) / STAGES as f32,
            (_, None) => 0.0,
        }
    }

    /// Folds one event of the flow job.
    pub fn apply(&mut self, event: &JobEvent) {
        match event {
            JobEvent::Stage { index, .. } => {
                self.stage = Some((*index as usize).min(STAGES - 1));
                self.fraction = 0.0;
                self.total_steps = 0;
                self.phase = event.describe();
            }
            JobEvent::Started { total_steps, label } => {
                self.total_steps = *total_steps;
                self.phase = label.clone();
            }
            JobEvent::Step { step, .. } if self.total_steps > 0 => {
                self.fraction = (*step as f32 / self.total_steps as f32).min(1.0);
            }
            JobEvent::Progress { done, total, what } => {
                if *total > 0 && self.total_steps == 0 {
                    self.fraction = (*done as f32 / *total as f32).min(1.0);
                }
                self.phase = what.clone();
            }
            JobEvent::Finished(result) => {
                self.end = Some(match result {
                    Ok(report) => FlowEnd::Finished(report.clone()),
                    Err(_) if event.was_stopped() => FlowEnd::Stopped,
                    Err(e) => FlowEnd::Failed { stage: self.stage.unwrap_or(0), error: e.clone() },
                });
            }
            _ => {}
        }
    }

    /// What this flow says about stage `i`: running, waiting for an earlier stage,
    /// or failed; None where the runs on disk tell more (finished stages, a
    /// finished or stopped flow).
    pub fn status(&self, i: usize) -> Option<StageStatus> {
        match &self.end {
            Some(FlowEnd::Failed { stage, error }) if *stage == i => Some(StageStatus::Failed { error: error.clone() }),
            Some(_) => None,
            None => match self.stage {
                Some(s) if s == i => Some(StageStatus::Running { fraction: self.fraction }),
                Some(s) if s > i => None,
                _ if i == 0 => Some(StageStatus::Running { fraction: 0.0 }),
                _ => Some(StageStatus::Waiting),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(i: u32) -> JobEvent {
        JobEvent::Stage { index: i, total: 3, name: format!("s{i}") }
    }

    #[test]
    fn stages_advance_with_progress_and_end() {
        let mut f = FlowLive::new(PathBuf::from("runs/flow-1"));
        assert_eq!(f.status(0), Some(StageStatus::Running { fraction: 0.0 }));
        assert_eq!(f.status(2), Some(StageStatus::Waiting));
        f.apply(&stage(0));
        f.apply(&JobEvent::Started { total_steps: 10, label: "pre-train".into() });
        f.apply(&JobEvent::Step { step: 5, loss: 1.0, tokens_per_sec: 1.0, step_secs: 0.1, lr: 0.01 });
        assert_eq!(f.status(0), Some(StageStatus::Running { fraction: 0.5 }));
        assert!((f.overall() - 0.5 / 3.0).abs() < 1e-6);
        f.apply(&stage(1));
        // A finished stage is read from disk.
        assert_eq!(f.status(0), None);
        f.apply(&JobEvent::Progress { done: 1, total: 4, what: "extracting".into() });
        assert_eq!(f.status(1), Some(StageStatus::Running { fraction: 0.25 }));
        assert_eq!(f.status(2), Some(StageStatus::Waiting));
        f.apply(&JobEvent::Finished(Err("boom".into())));
        assert_eq!(f.status(1), Some(StageStatus::Failed { error: "boom".into() }));
        assert_eq!(f.status(2), None);
        assert!(!f.is_active());
    }

    #[test]
    fn a_stopped_flow_leaves_every_stage_to_the_disk() {
        let mut f = FlowLive::new(PathBuf::from("x"));
        f.apply(&stage(2));
        f.apply(&JobEvent::Finished(Err(crate::job::STOPPED_MESSAGE.into())));
        assert_eq!(f.end, Some(FlowEnd::Stopped));
        assert!((0..STAGES).all(|i| f.status(i).is_none()));
    }
}
