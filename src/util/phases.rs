//! Named phase timings of the load path, kept only while a benchmark asks for them
//! (`lumlab bench load` prints where a cold parse spends its time). Recording is per
//! thread (the thread that calls `load`); off, a mark costs a thread-local check.

use std::cell::RefCell;
use std::time::Instant;

thread_local! {
    /// The marks so far, `None` when not recording.
    static MARKS: RefCell<Option<Vec<(&'static str, Instant)>>> = const { RefCell::new(None) };
}

/// Starts recording (clearing earlier marks); the time until the first mark counts
/// towards that mark's phase.
pub fn start() {
    MARKS.with_borrow_mut(|m| *m = Some(vec![("", Instant::now())]));
}

/// Ends the phase `name` now (a no-op unless recording).
pub fn mark(name: &'static str) {
    MARKS.with_borrow_mut(|m| {
        if let Some(m) = m {
            m.push((name, Instant::now()));
        }
    });
}

/// Stops recording and returns each phase with its seconds, in order (a name marked
/// twice gets the sum).
pub fn stop() -> Vec<(&'static str, f64)> {
    let m = MARKS.with_borrow_mut(Option::take).unwrap_or_default();
    let mut out: Vec<(&'static str, f64)> = Vec::new();
    for w in m.windows(2) {
        let secs = (w[1].1 - w[0].1).as_secs_f64();
        match out.iter_mut().find(|(n, _)| *n == w[1].0) {
            Some((_, s)) => *s += secs,
            None => out.push((w[1].0, secs)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn phases_are_timed_in_order_and_only_while_recording() {
        super::mark("ignored");
        super::start();
        super::mark("a");
        std::thread::sleep(std::time::Duration::from_millis(5));
        super::mark("b");
        super::mark("a");
        let p = super::stop();
        super::mark("after");
        assert_eq!(p.iter().map(|x| x.0).collect::<Vec<_>>(), ["a", "b"]);
        assert!(p[1].1 >= 0.004, "{p:?}");
        assert!(super::stop().is_empty());
    }
}
