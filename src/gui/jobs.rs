//! Minimal background jobs for the GUI: a named worker thread reports progress
//! and one result over an mpsc channel and wakes the UI; the UI drains the
//! events in `App::logic` under a time budget and never blocks.
//!
//! This is deliberately the same shape as the engine's job module
//! (`JobEvent` / `JobHandle` / `CancelToken` / `spawn_job`) and kept isolated
//! here so the app can switch to the engine's version without touching panels.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

/// Progress below this fraction is too early to extrapolate an ETA from.
const MIN_PROGRESS_FOR_ETA: f32 = 0.02;

/// Wakes the UI after an event was sent (`move || ctx.request_repaint()`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A shared stop flag: the UI sets it, the worker checks it between steps.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the worker to stop at its next check.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a worker reports. Every job ends with exactly one `Finished`
/// (the handle synthesises one if the worker thread dies).
#[derive(Debug)]
pub enum JobEvent<T> {
    /// Fraction done in 0..=1 and what is being done.
    Progress { fraction: f32, message: String },
    /// A line for the job's log.
    Log(String),
    /// The result; `Err` carries a message for the user.
    Finished(Result<T, String>),
}

/// The worker's end: send progress, check for cancellation. Cloneable, so a
/// progress callback can own one.
pub struct JobSink<T> {
    tx: mpsc::Sender<JobEvent<T>>,
    waker: Waker,
    cancel: CancelToken,
}

impl<T> Clone for JobSink<T> {
    fn clone(&self) -> Self {
        JobSink {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
            cancel: self.cancel.clone(),
        }
    }
}

impl<T> JobSink<T> {
    /// Reports progress (`fraction` in 0..=1).
    pub fn progress(&self, fraction: f32, message: impl Into<String>) {
        self.send(JobEvent::Progress {
            fraction,
            message: message.into(),
        });
    }
    /// Adds a line to the job's log.
    pub fn log(&self, line: impl Into<String>) {
        self.send(JobEvent::Log(line.into()));
    }
    /// Whether the UI asked the job to stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }
    fn send(&self, event: JobEvent<T>) {
        // A closed channel means the UI dropped the handle: nobody is listening, which is fine.
        let _ = self.tx.send(event);
        (self.waker)();
    }
}

/// The UI's end of a running job: its latest progress, log and (once) its result.
pub struct JobHandle<T> {
    name: String,
    rx: mpsc::Receiver<JobEvent<T>>,
    cancel: CancelToken,
    started: Instant,
    progress: f32,
    message: String,
    log: Vec<String>,
    finished: bool,
}

impl<T> JobHandle<T> {
    /// The job's name (also its thread's name).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Fraction done, 0..=1.
    pub fn progress(&self) -> f32 {
        self.progress
    }
    /// What the job last said it is doing.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Log lines received so far.
    pub fn log(&self) -> &[String] {
        &self.log
    }
    /// Asks the worker to stop.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
    /// Whether the result has been taken by [`JobHandle::drain`].
    pub fn is_finished(&self) -> bool {
        self.finished
    }
    /// Time since the job started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
    /// Remaining time extrapolated linearly from progress so far.
    pub fn eta(&self) -> Option<Duration> {
        (self.progress >= MIN_PROGRESS_FOR_ETA && self.progress < 1.0).then(|| {
            let elapsed = self.elapsed().as_secs_f32();
            Duration::from_secs_f32(elapsed * (1.0 - self.progress) / self.progress)
        })
    }
    /// Applies queued events until `deadline`; returns the result the one time it arrives.
    pub fn drain(&mut self, deadline: Instant) -> Option<Result<T, String>> {
        while !self.finished && Instant::now() < deadline {
            match self.rx.try_recv() {
                Ok(JobEvent::Progress { fraction, message }) => {
                    self.progress = fraction.clamp(0.0, 1.0);
                    self.message = message;
                }
                Ok(JobEvent::Log(line)) => self.log.push(line),
                Ok(JobEvent::Finished(result)) => {
                    self.finished = true;
                    self.progress = 1.0;
                    return Some(result);
                }
                Err(mpsc::TryRecvError::Empty) => return None,
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.finished = true;
                    return Some(Err(format!(
                        "{}: the worker stopped without a result",
                        self.name
                    )));
                }
            }
        }
        None
    }
    /// Blocks until the job finishes (headless rendering and tests only, never on the UI thread).
    pub fn wait(mut self) -> Result<T, String> {
        loop {
            match self.rx.recv() {
                Ok(JobEvent::Finished(result)) => return result,
                Ok(JobEvent::Progress { fraction, message }) => {
                    self.progress = fraction;
                    self.message = message;
                }
                Ok(JobEvent::Log(line)) => self.log.push(line),
                Err(_) => {
                    return Err(format!(
                        "{}: the worker stopped without a result",
                        self.name
                    ));
                }
            }
        }
    }
}

/// Runs `work` on a new thread named `name`; its return value becomes the `Finished` event.
pub fn spawn_job<T, F>(name: &str, waker: Waker, work: F) -> std::io::Result<JobHandle<T>>
where
    T: Send + 'static,
    F: FnOnce(&JobSink<T>) -> Result<T, String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let cancel = CancelToken::new();
    let sink = JobSink {
        tx,
        waker,
        cancel: cancel.clone(),
    };
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let result = work(&sink);
            sink.send(JobEvent::Finished(result));
        })?;
    Ok(JobHandle {
        name: name.to_string(),
        rx,
        cancel,
        started: Instant::now(),
        progress: 0.0,
        message: String::new(),
        log: Vec::new(),
        finished: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_waker() -> Waker {
        Arc::new(|| {})
    }

    #[test]
    fn progress_then_result_arrive_in_order() {
        let job = spawn_job("test-job", no_waker(), |sink| {
            sink.progress(0.5, "half");
            sink.log("a line");
            Ok(42_u32)
        })
        .unwrap();
        assert_eq!(job.wait(), Ok(42));
    }

    #[test]
    fn drain_reports_result_once_and_respects_cancel() {
        let mut job = spawn_job("cancel-job", no_waker(), |sink: &JobSink<u32>| {
            while !sink.is_cancelled() {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err("stopped".to_string())
        })
        .unwrap();
        job.cancel();
        let mut result = None;
        while result.is_none() {
            result = job.drain(Instant::now() + Duration::from_millis(10));
        }
        assert_eq!(result, Some(Err("stopped".to_string())));
        assert!(job.is_finished());
        assert_eq!(job.drain(Instant::now() + Duration::from_millis(5)), None);
    }

    #[test]
    fn panicking_worker_still_finishes() {
        let job = spawn_job(
            "panic-job",
            no_waker(),
            |_sink: &JobSink<u32>| -> Result<u32, String> { panic!("boom") },
        )
        .unwrap();
        assert!(job.wait().is_err());
    }
}
