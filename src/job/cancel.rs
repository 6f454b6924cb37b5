//! Stop and pause for a running job, shared between the worker and its owner.
//!
//! The worker calls [`CancelToken::check`] once per step: it returns at once
//! when running, sleeps on a condition variable (no spinning, no CPU) while
//! paused, and returns `Err(Stopped)` once a stop is requested, even from
//! inside a pause.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Returned by [`CancelToken::check`] after a stop request; workers propagate
/// it with `?` and the job runner reports the job as stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("stopped")]
pub struct Stopped;

#[derive(Debug, Default)]
struct Inner {
    stopped: AtomicBool,
    /// Guarded by a mutex (not an atomic) so that waiting on `wake` cannot
    /// miss a resume or stop that happens between the check and the wait.
    paused: Mutex<bool>,
    wake: Condvar,
}

/// A cloneable stop/pause switch. Clones share state.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

impl CancelToken {
    /// A token that is running (neither paused nor stopped).
    pub fn new() -> Self {
        Self::default()
    }

    /// The pause flag; a poisoned lock still holds a valid bool, so recover it.
    fn paused_lock(&self) -> MutexGuard<'_, bool> {
        self.inner.paused.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests a stop; wakes a paused worker so it can finish.
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        // Take the lock so a worker between its check and its wait sees the flag.
        let _guard = self.paused_lock();
        self.inner.wake.notify_all();
    }

    /// Pauses the worker at its next [`check`](Self::check).
    pub fn pause(&self) {
        *self.paused_lock() = true;
    }

    /// Lets a paused worker continue.
    pub fn resume(&self) {
        *self.paused_lock() = false;
        self.inner.wake.notify_all();
    }

    /// Whether a stop was requested.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::SeqCst)
    }

    /// Whether the job is paused (and not stopped).
    pub fn is_paused(&self) -> bool {
        *self.paused_lock() && !self.is_stopped()
    }

    /// Called by the worker between steps: blocks while paused, returns
    /// `Err(Stopped)` once stopped, `Ok(())` otherwise.
    pub fn check(&self) -> Result<(), Stopped> {
        let mut paused = self.paused_lock();
        while *paused && !self.is_stopped() {
            paused = self.inner.wake.wait(paused).unwrap_or_else(|e| e.into_inner());
        }
        if self.is_stopped() { Err(Stopped) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn stop_wakes_a_paused_worker() {
        let token = CancelToken::new();
        assert_eq!(token.check(), Ok(()));
        token.pause();
        assert!(token.is_paused());
        let t2 = token.clone();
        let start = Instant::now();
        let worker = std::thread::spawn(move || t2.check());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!worker.is_finished(), "check must block while paused");
        token.stop();
        assert_eq!(worker.join().unwrap(), Err(Stopped));
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(!token.is_paused(), "a stopped token is not reported as paused");
    }

    #[test]
    fn resume_releases_check() {
        let token = CancelToken::new();
        token.pause();
        let t2 = token.clone();
        let worker = std::thread::spawn(move || t2.check());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!worker.is_finished());
        token.resume();
        assert_eq!(worker.join().unwrap(), Ok(()));
    }
}
