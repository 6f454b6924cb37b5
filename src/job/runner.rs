//! Runs a job function on a named thread and hands its events to the owner.
//!
//! The runner, not the job, guarantees the stream's contract: exactly one
//! final [`JobEvent::Finished`], sent after everything the job sent, whether
//! the job returned, failed, obeyed a stop, or panicked.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{CancelToken, JobEvent, STOPPED_MESSAGE, Stopped};

/// A running (or finished) job as seen by its owner.
#[derive(Debug)]
pub struct JobHandle {
    /// Name given at spawn; the thread is called `job-<name>`.
    pub name: String,
    /// Shared stop / pause switch (the worker holds a clone).
    pub cancel: CancelToken,
    events: Receiver<JobEvent>,
    thread: Option<JoinHandle<()>>,
    finished: bool,
}

impl JobHandle {
    /// Asks the job to stop at its next check (also wakes it if paused).
    pub fn stop(&self) {
        self.cancel.stop();
    }

    /// Pauses the job at its next check.
    pub fn pause(&self) {
        self.cancel.pause();
    }

    /// Resumes a paused job.
    pub fn resume(&self) {
        self.cancel.resume();
    }

    /// Whether the final `Finished` event has been received through this handle.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The raw event channel, for consumers that want their own loop.
    pub fn events(&self) -> &Receiver<JobEvent> {
        &self.events
    }

    fn note(&mut self, ev: &JobEvent) {
        if ev.is_finished() {
            self.finished = true;
        }
    }

    /// Non-blocking: takes the events that are waiting, for at most `max`
    /// (the GUI passes ~10 ms so a chatty job cannot stall a frame).
    pub fn try_drain(&mut self, max: Duration) -> Vec<JobEvent> {
        let deadline = Instant::now() + max;
        let mut out = Vec::new();
        // Empty or disconnected both end the drain.
        while let Ok(ev) = self.events.try_recv() {
            self.note(&ev);
            out.push(ev);
            if Instant::now() >= deadline {
                break;
            }
        }
        out
    }

    /// Blocking: the next event, or `None` once the job has finished and every
    /// event was taken. For the CLI, never the GUI thread.
    pub fn recv(&mut self) -> Option<JobEvent> {
        let ev = self.events.recv().ok()?;
        self.note(&ev);
        Some(ev)
    }

    /// Blocking, with a limit: the next event, or `None` on timeout or end.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<JobEvent> {
        let ev = self.events.recv_timeout(timeout).ok()?;
        self.note(&ev);
        Some(ev)
    }

    /// Blocks until the worker thread has exited (events stay readable).
    /// For the CLI and tests, never the GUI thread.
    pub fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            // The runner catches panics itself, so the thread cannot end in one.
            let _ = t.join();
        }
    }
}

/// Turns a panic payload into text.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_string()
    }
}

/// Runs `work` on a thread named `job-<name>`. Each event the work sends is
/// forwarded through a channel, then `waker` is called (the GUI passes
/// `move || ctx.request_repaint()`). The stream always ends with one
/// `Finished`: `Ok(summary)`; `Err("stopped")` if the work returned
/// [`Stopped`] (anywhere in its error chain); `Err("<error chain>")` on
/// error; `Err("panicked: <message>")` on panic. If the OS refuses to start
/// a thread, the handle holds just that `Finished(Err(..))`.
pub fn spawn_job<W, F>(name: &str, waker: W, work: F) -> JobHandle
where
    W: Fn() + Send + 'static,
    F: FnOnce(&mut dyn FnMut(JobEvent), &CancelToken) -> anyhow::Result<Value> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let cancel = CancelToken::new();
    let worker_cancel = cancel.clone();
    let spawn_tx = tx.clone();
    let spawned = std::thread::Builder::new().name(format!("job-{name}")).spawn(move || {
        let mut sink = |ev: JobEvent| {
            // A dropped receiver means nobody listens; the work still runs to
            // its end (or its next stop check), so ignore the send error.
            let _ = tx.send(ev);
            waker();
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(&mut sink, &worker_cancel)));
        let result = match outcome {
            Ok(Ok(summary)) => Ok(summary),
            Ok(Err(e)) if e.chain().any(|c| c.is::<Stopped>()) => Err(STOPPED_MESSAGE.to_string()),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(payload) => Err(format!("panicked: {}", panic_text(payload.as_ref()))),
        };
        sink(JobEvent::Finished(result));
    });
    let thread = match spawned {
        Ok(t) => Some(t),
        Err(e) => {
            let _ = spawn_tx.send(JobEvent::Finished(Err(format!("could not start a thread for {name}: {e}"))));
            None
        }
    };
    JobHandle { name: name.to_string(), cancel, events: rx, thread, finished: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Collects events until `Finished` (or a generous timeout, which fails the test).
    fn collect_all(job: &mut JobHandle) -> Vec<JobEvent> {
        let mut out = Vec::new();
        while let Some(ev) = job.recv_timeout(Duration::from_secs(20)) {
            let done = ev.is_finished();
            out.push(ev);
            if done {
                return out;
            }
        }
        panic!("job did not finish; got {out:?}");
    }

    fn looping_job(sink: &mut dyn FnMut(JobEvent), cancel: &CancelToken) -> anyhow::Result<Value> {
        sink(JobEvent::Started { total_steps: 0, label: "loop".into() });
        for step in 1.. {
            cancel.check()?;
            sink(JobEvent::Step { step, loss: 1.0, tokens_per_sec: 0.0, step_secs: 0.001, lr: 0.0 });
            std::thread::sleep(Duration::from_millis(1));
        }
        unreachable!("the loop only ends through a stop")
    }

    #[test]
    fn events_arrive_in_order_and_end_with_finished() {
        let wakes = Arc::new(AtomicUsize::new(0));
        let w = wakes.clone();
        let mut job = spawn_job(
            "count",
            move || {
                w.fetch_add(1, Ordering::SeqCst);
            },
            |sink, cancel| {
                sink(JobEvent::Started { total_steps: 5, label: "count".into() });
                for step in 1..=5 {
                    cancel.check()?;
                    sink(JobEvent::Step {
                        step,
                        loss: 1.0 / step as f32,
                        tokens_per_sec: 10.0,
                        step_secs: 0.1,
                        lr: 1e-3,
                    });
                }
                Ok(serde_json::json!({"steps": 5}))
            },
        );
        let events = collect_all(&mut job);
        assert_eq!(events.len(), 7);
        assert!(matches!(events[0], JobEvent::Started { total_steps: 5, .. }));
        let steps: Vec<u64> = events
            .iter()
            .filter_map(|e| if let JobEvent::Step { step, .. } = e { Some(*step) } else { None })
            .collect();
        assert_eq!(steps, vec![1, 2, 3, 4, 5]);
        assert_eq!(events[6], JobEvent::Finished(Ok(serde_json::json!({"steps": 5}))));
        assert!(job.is_finished());
        job.join();
        assert_eq!(wakes.load(Ordering::SeqCst), 7, "waker called after each send");
        assert!(job.recv().is_none(), "nothing after Finished");
    }

    #[test]
    fn errors_are_reported_with_their_chain() {
        let mut job = spawn_job(
            "fail",
            || {},
            |_, _| Err(anyhow::anyhow!("disk full")).map_err(|e| e.context("writing checkpoint")),
        );
        let events = collect_all(&mut job);
        assert_eq!(events, vec![JobEvent::Finished(Err("writing checkpoint: disk full".into()))]);
    }

    #[test]
    fn stop_finishes_a_looping_job_promptly() {
        let mut job = spawn_job("loop", || {}, looping_job);
        // Let it run a few steps.
        let mut seen_steps = 0;
        while seen_steps < 3 {
            if let Some(JobEvent::Step { .. }) = job.recv_timeout(Duration::from_secs(20)) {
                seen_steps += 1;
            }
        }
        let t0 = Instant::now();
        job.stop();
        let events = collect_all(&mut job);
        assert!(t0.elapsed() < Duration::from_secs(2), "stop took {:?}", t0.elapsed());
        let last = events.last().unwrap();
        assert!(last.was_stopped(), "{last:?}");
        assert_eq!(*last, JobEvent::Finished(Err(STOPPED_MESSAGE.into())));
        job.join();
    }

    #[test]
    fn pause_blocks_progress_and_resume_continues() {
        let mut job = spawn_job("pause", || {}, looping_job);
        let mut last_step = 0;
        let mut take_steps = |job: &mut JobHandle, wait: Duration| {
            std::thread::sleep(wait);
            for ev in job.try_drain(Duration::from_millis(50)) {
                if let JobEvent::Step { step, .. } = ev {
                    last_step = step;
                }
            }
            last_step
        };
        while take_steps(&mut job, Duration::from_millis(5)) < 3 {}
        job.pause();
        assert!(job.cancel.is_paused());
        // At most one step can be in flight when the pause lands. Wait for a
        // quiet window (robust to a busy machine delaying that step), then no
        // step may arrive for a much longer time; an unpaused worker steps
        // every millisecond.
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut at_pause = take_steps(&mut job, Duration::from_millis(20));
        loop {
            let now = take_steps(&mut job, Duration::from_millis(50));
            if now == at_pause {
                break;
            }
            assert!(now <= at_pause + 1, "worker kept stepping after pause: {at_pause} -> {now}");
            at_pause = now;
            assert!(Instant::now() < deadline, "pause never took effect");
        }
        let later = take_steps(&mut job, Duration::from_millis(250));
        assert_eq!(later, at_pause, "steps advanced while paused");
        job.resume();
        let deadline = Instant::now() + Duration::from_secs(20);
        while take_steps(&mut job, Duration::from_millis(5)) <= at_pause {
            assert!(Instant::now() < deadline, "did not resume");
        }
        // Stop from inside a pause also finishes.
        job.pause();
        job.stop();
        assert!(collect_all(&mut job).last().unwrap().was_stopped());
    }

    #[test]
    fn a_panicking_job_still_sends_finished() {
        let mut job = spawn_job(
            "boom",
            || {},
            |sink, _| {
                sink(JobEvent::info("about to fail"));
                let v: Vec<u32> = Vec::new();
                if v.is_empty() {
                    panic!("tensor shape mismatch: {}", 42);
                }
                Ok(Value::Null)
            },
        );
        let events = collect_all(&mut job);
        assert_eq!(events[0], JobEvent::info("about to fail"));
        match &events[1] {
            JobEvent::Finished(Err(e)) => {
                assert!(e.starts_with("panicked: "), "{e}");
                assert!(e.contains("tensor shape mismatch: 42"), "{e}");
            }
            other => panic!("expected Finished(Err), got {other:?}"),
        }
        job.join();
    }

    #[test]
    fn worker_thread_is_named() {
        let mut job = spawn_job(
            "named",
            || {},
            |_, _| Ok(Value::String(std::thread::current().name().unwrap_or("").to_string())),
        );
        let events = collect_all(&mut job);
        assert_eq!(events[0], JobEvent::Finished(Ok(Value::String("job-named".into()))));
    }

    #[test]
    fn try_drain_returns_at_once_when_empty() {
        let mut job = spawn_job(
            "idle",
            || {},
            |_, cancel| {
                while cancel.check().is_ok() {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(Stopped.into())
            },
        );
        let t0 = Instant::now();
        assert!(job.try_drain(Duration::from_millis(10)).is_empty());
        assert!(t0.elapsed() < Duration::from_millis(500));
        job.stop();
        assert!(collect_all(&mut job).last().unwrap().was_stopped());
    }
}
