//! A pre-training job as the GUI sees it: the live history (loss, throughput,
//! evaluations, log, status) folded from the engine's [`JobEvent`]s. The job
//! itself runs the engine's one training loop (`train::run_pretrain`) on a
//! background thread; this is only its consumer. egui-free.

use std::path::PathBuf;

use serde_json::Value;

use crate::job::{JobEvent, LogLevel};

/// Log lines kept (the oldest are dropped).
const MAX_LOG_LINES: usize = 1_000;
/// Steps averaged for the ETA.
const ETA_WINDOW: usize = 20;

/// Where a live run stands.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveStatus {
    /// Loading and tokenizing, before the first step.
    Preparing,
    Running,
    Paused,
    Finished,
    Stopped,
    Failed(String),
}

/// The history of one training job, newest values last.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRun {
    /// Run folder name (also its colour key).
    pub name: String,
    pub path: PathBuf,
    pub label: String,
    pub status: LiveStatus,
    /// 0 when unknown (popularity has no steps).
    pub total_steps: u64,
    pub step: u64,
    /// `[step, loss]`.
    pub loss: Vec<[f64; 2]>,
    pub tokens_per_sec: f32,
    /// Seconds of the recent steps (for the ETA).
    step_secs: Vec<f32>,
    pub lr: f32,
    /// Per metric label (`NDCG@10 (full, ...)`): `[step, value]`.
    pub evals: Vec<(String, Vec<[f64; 2]>)>,
    /// Non-training progress (loading, test evaluation) as text.
    pub phase: String,
    pub log: Vec<(LogLevel, String)>,
    /// The job's summary once finished (`report.json`'s content).
    pub summary: Option<Value>,
}

impl LiveRun {
    /// A job that has just been started for the run folder `path`.
    pub fn new(path: PathBuf) -> Self {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        LiveRun {
            name,
            path,
            label: "pre-train".into(),
            status: LiveStatus::Preparing,
            total_steps: 0,
            step: 0,
            loss: Vec::new(),
            tokens_per_sec: 0.0,
            step_secs: Vec::new(),
            lr: 0.0,
            evals: Vec::new(),
            phase: "loading and tokenizing".into(),
            log: Vec::new(),
            summary: None,
        }
    }

    /// Folds one event into the history.
    pub fn apply(&mut self, event: &JobEvent) {
        match event {
            JobEvent::Started { total_steps, label } => {
                self.total_steps = *total_steps;
                self.label = label.clone();
                self.status = LiveStatus::Running;
                self.phase = "training".into();
            }
            JobEvent::Step {
                step,
                loss,
                tokens_per_sec,
                step_secs,
                lr,
            } => {
                self.step = *step;
                self.loss.push([*step as f64, f64::from(*loss)]);
                self.tokens_per_sec = *tokens_per_sec;
                self.lr = *lr;
                self.step_secs.push(*step_secs);
                if self.step_secs.len() > ETA_WINDOW {
                    self.step_secs.remove(0);
                }
            }
            JobEvent::Eval { step, metrics } => {
                for m in metrics {
                    let label = m.label();
                    match self.evals.iter_mut().find(|(l, _)| *l == label) {
                        Some((_, pts)) => pts.push([*step as f64, m.value]),
                        None => self.evals.push((label, vec![[*step as f64, m.value]])),
                    }
                }
            }
            JobEvent::Progress { what, done, total } => {
                self.phase = if *total > 0 {
                    format!("{what} {done}/{total}")
                } else {
                    what.clone()
                };
            }
            JobEvent::Log { level, text } => self.push_log(*level, text.clone()),
            JobEvent::Checkpoint { step, .. } => {
                self.push_log(LogLevel::Info, format!("checkpoint at step {step}"))
            }
            JobEvent::Stage { .. } => self.push_log(LogLevel::Info, event.describe()),
            JobEvent::Attention(_) | JobEvent::Ranking(_) => {}
            JobEvent::Finished(result) => {
                match result {
                    Ok(summary) => {
                        self.status = LiveStatus::Finished;
                        self.summary = Some(summary.clone());
                    }
                    Err(_) if event.was_stopped() => self.status = LiveStatus::Stopped,
                    Err(e) => {
                        self.status = LiveStatus::Failed(e.clone());
                        self.push_log(LogLevel::Error, e.clone());
                    }
                }
                self.phase = event.describe();
            }
        }
    }

    fn push_log(&mut self, level: LogLevel, text: String) {
        self.log.push((level, text));
        if self.log.len() > MAX_LOG_LINES {
            self.log.remove(0);
        }
    }

    /// Whether the job is still alive (running, paused or preparing).
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            LiveStatus::Preparing | LiveStatus::Running | LiveStatus::Paused
        )
    }

    /// Fraction of the steps done.
    pub fn fraction(&self) -> f32 {
        if self.total_steps == 0 {
            0.0
        } else {
            (self.step as f32 / self.total_steps as f32).clamp(0.0, 1.0)
        }
    }

    /// Remaining seconds from the mean time of the recent steps.
    pub fn eta_secs(&self) -> Option<f64> {
        if self.step_secs.is_empty() || self.total_steps == 0 || !self.is_active() {
            return None;
        }
        let mean =
            self.step_secs.iter().map(|s| f64::from(*s)).sum::<f64>() / self.step_secs.len() as f64;
        Some(mean * self.total_steps.saturating_sub(self.step) as f64)
    }

    /// `step 1,240/3,000 · loss 2.314 · 18.2k tok/s` (or the current phase before training).
    pub fn status_line(&self) -> String {
        match (&self.status, self.loss.last()) {
            (LiveStatus::Running | LiveStatus::Paused, Some([_, loss])) => format!(
                "step {}/{} · loss {loss:.3} · {} tok/s{}",
                crate::util::thousands(self.step),
                crate::util::thousands(self.total_steps),
                crate::gui::format::compact(self.tokens_per_sec.max(0.0) as u64),
                if self.status == LiveStatus::Paused {
                    " · paused"
                } else {
                    ""
                }
            ),
            _ => self.phase.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Metric;

    #[test]
    fn events_fold_into_curves_status_and_eta() {
        let mut run = LiveRun::new(PathBuf::from("runs/lum-x"));
        assert_eq!(run.name, "lum-x");
        assert!(run.is_active());
        run.apply(&JobEvent::Started {
            total_steps: 10,
            label: "pre-train lum (id)".into(),
        });
        for step in 1..=4 {
            run.apply(&JobEvent::Step {
                step,
                loss: 5.0 - step as f32,
                tokens_per_sec: 1000.0,
                step_secs: 0.5,
                lr: 1e-3,
            });
        }
        run.apply(&JobEvent::Eval {
            step: 4,
            metrics: vec![Metric::new("NDCG@10", 0.25, "full")],
        });
        run.apply(&JobEvent::Eval {
            step: 8,
            metrics: vec![Metric::new("NDCG@10", 0.5, "full")],
        });
        assert_eq!(
            run.loss,
            vec![[1.0, 4.0], [2.0, 3.0], [3.0, 2.0], [4.0, 1.0]]
        );
        assert_eq!(
            run.evals,
            vec![("NDCG@10 (full)".to_string(), vec![[4.0, 0.25], [8.0, 0.5]])]
        );
        assert!((run.fraction() - 0.4).abs() < 1e-6);
        // 6 steps left at 0.5 s each.
        assert_eq!(run.eta_secs(), Some(3.0));
        assert_eq!(run.status_line(), "step 4/10 · loss 1.000 · 1,000 tok/s");
        run.apply(&JobEvent::Finished(Err(crate::job::STOPPED_MESSAGE.into())));
        assert_eq!(run.status, LiveStatus::Stopped);
        assert_eq!(run.eta_secs(), None);
        let mut failed = LiveRun::new(PathBuf::from("r"));
        failed.apply(&JobEvent::Finished(Err("loss is NaN".into())));
        assert_eq!(failed.status, LiveStatus::Failed("loss is NaN".into()));
        assert_eq!(failed.log.last().map(|l| l.1.as_str()), Some("loss is NaN"));
    }
}
