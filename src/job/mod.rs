//! Long work (loading, tokenizing, training, extraction, evaluation) as a job
//! on a named background thread that reports [`JobEvent`]s over a channel and
//! obeys pause / resume / stop through a [`CancelToken`].
//!
//! The engine function takes a sink (`&mut dyn FnMut(JobEvent)`) and a token;
//! it knows nothing of who listens. The GUI drains events each frame
//! ([`JobHandle::try_drain`]); the CLI feeds them to a [`ProgressPrinter`].
//! Both see the same stream, which always ends with exactly one
//! [`JobEvent::Finished`], also on error, stop or panic.

pub mod cancel;
pub mod progress;
pub mod runner;

pub use cancel::{CancelToken, Stopped};
pub use progress::ProgressPrinter;
pub use runner::{JobHandle, spawn_job};

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::eval::Metric;

/// The `Finished(Err(..))` text of a job that obeyed a stop request.
pub const STOPPED_MESSAGE: &str = "stopped";

/// Severity of a [`JobEvent::Log`] line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

/// Attention probabilities of one layer and head over one sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttentionSnapshot {
    /// Layer index, 0-based.
    pub layer: usize,
    /// Head index, 0-based.
    pub head: usize,
    /// A display label per token position (e.g. `c:query shoes`, `i:item 42`), length n.
    pub tokens: Vec<String>,
    /// (n, n) row-major: `weights[q * n + k]` is how much query position q attends to key k.
    pub weights: Vec<f32>,
    /// Sequence length.
    pub n: usize,
}

impl AttentionSnapshot {
    /// Attention of query position `q` to key position `k`, if both are in range.
    pub fn weight(&self, q: usize, k: usize) -> Option<f32> {
        if q < self.n && k < self.n { self.weights.get(q * self.n + k).copied() } else { None }
    }
}

/// What a running job reports. Serialisable so the CLI can stream it as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub enum JobEvent {
    /// The job began; `total_steps` is 0 when unknown.
    Started { total_steps: u64, label: String },
    /// One optimisation step finished.
    Step { step: u64, loss: f32, tokens_per_sec: f32, step_secs: f32, lr: f32 },
    /// Evaluation at `step`; every metric carries its protocol.
    Eval { step: u64, metrics: Vec<Metric> },
    /// Attention probabilities for the visualiser.
    Attention(AttentionSnapshot),
    /// Per-query ranking comparison (e.g. a serialised `eval::QueryRanking` list).
    Ranking(Value),
    /// A checkpoint was written.
    Checkpoint { step: u64, path: PathBuf },
    /// Progress of non-training work (loading, extraction): `done` of `total` `what`.
    Progress { done: u64, total: u64, what: String },
    /// A multi-stage job (the flow) entered stage `index` (0-based) of `total`.
    Stage { index: u32, total: u32, name: String },
    /// A log line.
    Log { level: LogLevel, text: String },
    /// The last event of every job: its summary, or why it failed
    /// ([`STOPPED_MESSAGE`] after a stop; `panicked: ...` after a panic).
    Finished(Result<Value, String>),
}

impl JobEvent {
    /// An info log line.
    pub fn info(text: impl Into<String>) -> Self {
        JobEvent::Log { level: LogLevel::Info, text: text.into() }
    }

    /// A warning log line.
    pub fn warn(text: impl Into<String>) -> Self {
        JobEvent::Log { level: LogLevel::Warn, text: text.into() }
    }

    /// Whether this is the final event.
    pub fn is_finished(&self) -> bool {
        matches!(self, JobEvent::Finished(_))
    }

    /// Whether this is the final event of a job that was stopped.
    pub fn was_stopped(&self) -> bool {
        matches!(self, JobEvent::Finished(Err(e)) if e == STOPPED_MESSAGE)
    }

    /// A one-line human description (status bars, the CLI's last-event log).
    pub fn describe(&self) -> String {
        match self {
            JobEvent::Started { total_steps, label } if *total_steps > 0 => {
                format!("started {label} ({total_steps} steps)")
            }
            JobEvent::Started { label, .. } => format!("started {label}"),
            JobEvent::Step { step, loss, tokens_per_sec, .. } => {
                format!("step {step}: loss {loss:.4}, {tokens_per_sec:.0} tokens/s")
            }
            JobEvent::Eval { step, metrics } => {
                let parts: Vec<String> = metrics.iter().map(|m| format!("{} = {:.4}", m.label(), m.value)).collect();
                format!("eval at step {step}: {}", parts.join("; "))
            }
            JobEvent::Attention(a) => format!("attention layer {} head {} over {} tokens", a.layer, a.head, a.n),
            JobEvent::Ranking(_) => "ranking snapshot".to_string(),
            JobEvent::Stage { index, total, name } => format!("stage {}/{total}: {name}", index + 1),
            JobEvent::Checkpoint { step, path } => format!("checkpoint at step {step}: {}", path.display()),
            JobEvent::Progress { done, total, what } if *total > 0 => format!("{what}: {done}/{total}"),
            JobEvent::Progress { done, what, .. } => format!("{what}: {done}"),
            JobEvent::Log { level: LogLevel::Info, text } => text.clone(),
            JobEvent::Log { level: LogLevel::Warn, text } => format!("warning: {text}"),
            JobEvent::Log { level: LogLevel::Error, text } => format!("error: {text}"),
            JobEvent::Finished(Ok(_)) => "finished".to_string(),
            JobEvent::Finished(Err(e)) if e == STOPPED_MESSAGE => "stopped".to_string(),
            JobEvent::Finished(Err(e)) => format!("failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_json() {
        let events = vec![
            JobEvent::Started { total_steps: 10, label: "pretrain".into() },
            JobEvent::Eval { step: 3, metrics: vec![Metric::new("HR@10", 0.5, "full, leave-one-out, seen removed")] },
            JobEvent::Attention(AttentionSnapshot {
                layer: 0,
                head: 1,
                tokens: vec!["a".into(), "b".into()],
                weights: vec![1.0, 0.0, 0.25, 0.75],
                n: 2,
            }),
            JobEvent::Ranking(serde_json::json!([{"query": 1}])),
            JobEvent::warn("slow disk"),
            JobEvent::Finished(Ok(serde_json::json!({"auc": 0.7}))),
            JobEvent::Finished(Err(STOPPED_MESSAGE.into())),
        ];
        for e in events {
            let s = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<JobEvent>(&s).unwrap(), e, "{s}");
        }
    }

    #[test]
    fn describe_and_accessors() {
        let e = JobEvent::Eval { step: 3, metrics: vec![Metric::new("HR@10", 0.5, "full")] };
        assert_eq!(e.describe(), "eval at step 3: HR@10 (full) = 0.5000");
        assert!(JobEvent::Finished(Err("stopped".into())).was_stopped());
        assert!(!JobEvent::Finished(Err("disk full".into())).was_stopped());
        assert_eq!(JobEvent::Finished(Err("disk full".into())).describe(), "failed: disk full");
        let a = AttentionSnapshot { layer: 0, head: 0, tokens: vec![], weights: vec![0.1, 0.9, 0.5, 0.5], n: 2 };
        assert_eq!(a.weight(0, 1), Some(0.9));
        assert_eq!(a.weight(2, 0), None);
    }
}
