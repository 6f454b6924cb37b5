//! The CLI's consumer of [`JobEvent`]s: an indicatif bar (step, loss,
//! tokens/s, ETA) when stdout is a terminal, nothing otherwise, so piped
//! output and `--json` stay clean. It also keeps a one-line description of
//! the last event, which the CLI can print on failure.
//!
//! The bar is drawn on stderr, leaving stdout for results.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use super::{JobEvent, JobHandle};

/// Bar layout for training steps and counted work.
const BAR_TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} (ETA {eta})";
/// Layout when the total is unknown.
const SPINNER_TEMPLATE: &str = "{prefix:.bold} [{elapsed_precise}] {spinner} {pos} {msg}";
/// Redraws per second; more is wasted on a terminal.
const REFRESH_HZ: u8 = 10;
/// Spinner tick while the total is unknown.
const SPINNER_TICK: Duration = Duration::from_millis(120);

/// Draws job progress for a human at a terminal.
pub struct ProgressPrinter {
    /// `None` when not drawing (not a terminal, or [`hidden`](Self::hidden)).
    bar: Option<ProgressBar>,
    last: String,
    events_seen: u64,
}

impl Default for ProgressPrinter {
    fn default() -> Self {
        Self::new()
    }
}

impl ProgressPrinter {
    /// Draws only when stdout is a terminal.
    pub fn new() -> Self {
        if std::io::stdout().is_terminal() { Self::drawing() } else { Self::hidden() }
    }

    /// Never draws (tests, `--json`); still records the last event.
    pub fn hidden() -> Self {
        Self { bar: None, last: String::new(), events_seen: 0 }
    }

    fn drawing() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(REFRESH_HZ));
        Self { bar: Some(bar), last: String::new(), events_seen: 0 }
    }

    /// Whether a bar is being drawn.
    pub fn is_drawing(&self) -> bool {
        self.bar.is_some()
    }

    /// One-line description of the last event handled ("" before any).
    pub fn last_event(&self) -> &str {
        &self.last
    }

    /// Events handled so far.
    pub fn events_seen(&self) -> u64 {
        self.events_seen
    }

    fn set_total(bar: &ProgressBar, total: u64) {
        let template = if total > 0 { BAR_TEMPLATE } else { SPINNER_TEMPLATE };
        // The templates are constants; if one were rejected, keep the default style.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        if total > 0 {
            bar.disable_steady_tick();
            bar.set_length(total);
        } else {
            bar.unset_length();
            bar.enable_steady_tick(SPINNER_TICK);
        }
    }

    /// Updates the bar (if drawing) and the last-event line for one event.
    pub fn handle(&mut self, ev: &JobEvent) {
        self.events_seen += 1;
        self.last = ev.describe();
        let Some(bar) = &self.bar else { return };
        match ev {
            JobEvent::Started { total_steps, label } => {
                bar.reset();
                bar.set_prefix(label.clone());
                bar.set_message("");
                Self::set_total(bar, *total_steps);
            }
            JobEvent::Step { step, loss, tokens_per_sec, .. } => {
                bar.set_position(*step);
                bar.set_message(format!(
                    "loss {loss:.4} · {} tok/s",
                    crate::util::thousands(tokens_per_sec.max(0.0) as u64)
                ));
            }
            JobEvent::Progress { done, total, what } => {
                if bar.length() != Some(*total).filter(|&t| t > 0) {
                    Self::set_total(bar, *total);
                }
                bar.set_position(*done);
                bar.set_message(what.clone());
            }
            JobEvent::Eval { .. } | JobEvent::Checkpoint { .. } | JobEvent::Log { .. } | JobEvent::Stage { .. } => {
                bar.println(&self.last);
            }
            JobEvent::Attention(_) | JobEvent::Ranking(_) => {}
            JobEvent::Finished(_) => bar.finish_and_clear(),
        }
    }

    /// Feeds every event of `job` through [`handle`](Self::handle) until it
    /// finishes, and returns the job's result (blocking; CLI only).
    pub fn drive(&mut self, job: &mut JobHandle) -> Result<Value, String> {
        while let Some(ev) = job.recv() {
            self.handle(&ev);
            if let JobEvent::Finished(result) = ev {
                job.join();
                return result;
            }
        }
        Err(format!("job {} ended without a result (last event: {})", job.name, self.last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::spawn_job;

    #[test]
    fn hidden_printer_tracks_the_last_event() {
        let mut p = ProgressPrinter::hidden();
        assert!(!p.is_drawing());
        p.handle(&JobEvent::Started { total_steps: 3, label: "pretrain".into() });
        assert_eq!(p.last_event(), "started pretrain (3 steps)");
        p.handle(&JobEvent::Step { step: 2, loss: 0.5, tokens_per_sec: 1234.0, step_secs: 0.1, lr: 1e-3 });
        assert_eq!(p.last_event(), "step 2: loss 0.5000, 1234 tokens/s");
        p.handle(&JobEvent::Progress { done: 5, total: 10, what: "loading".into() });
        assert_eq!(p.last_event(), "loading: 5/10");
        assert_eq!(p.events_seen(), 3);
    }

    #[test]
    fn drive_returns_the_job_result() {
        let mut job = spawn_job(
            "drive",
            || {},
            |sink, _| {
                sink(JobEvent::Started { total_steps: 2, label: "t".into() });
                sink(JobEvent::Step { step: 1, loss: 1.0, tokens_per_sec: 1.0, step_secs: 1.0, lr: 0.0 });
                sink(JobEvent::Step { step: 2, loss: 0.5, tokens_per_sec: 1.0, step_secs: 1.0, lr: 0.0 });
                Ok(serde_json::json!({"loss": 0.5}))
            },
        );
        let mut p = ProgressPrinter::hidden();
        assert_eq!(p.drive(&mut job), Ok(serde_json::json!({"loss": 0.5})));
        assert_eq!(p.events_seen(), 4);
        assert_eq!(p.last_event(), "finished");

        let mut job = spawn_job("fails", || {}, |_, _| anyhow::bail!("bad config"));
        assert_eq!(ProgressPrinter::hidden().drive(&mut job), Err("bad config".to_string()));
    }

    #[test]
    fn drawing_printer_accepts_every_event() {
        // Draws to stderr (hidden by indicatif when stderr is not a terminal);
        // checks that no event kind panics and the bar follows positions.
        let mut p = ProgressPrinter::drawing();
        p.handle(&JobEvent::Started { total_steps: 4, label: "t".into() });
        p.handle(&JobEvent::Step { step: 3, loss: 0.1, tokens_per_sec: 9.0, step_secs: 0.1, lr: 0.0 });
        assert_eq!(p.bar.as_ref().unwrap().position(), 3);
        assert_eq!(p.bar.as_ref().unwrap().length(), Some(4));
        p.handle(&JobEvent::Progress { done: 7, total: 0, what: "extracting".into() });
        assert_eq!(p.bar.as_ref().unwrap().length(), None);
        p.handle(&JobEvent::info("hello"));
        p.handle(&JobEvent::Finished(Ok(Value::Null)));
        assert!(p.bar.as_ref().unwrap().is_finished());
    }
}
