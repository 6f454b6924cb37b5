//! Read-only memory maps of input files, so a parser reads a large log straight
//! from the page cache instead of copying it into buffers first.
//!
//! Only on Unix (through `libc::mmap`); elsewhere, and whenever mapping fails
//! (an empty file, a pipe, an exotic filesystem), [`Mapped::new`] gives `None`
//! and callers read the file the ordinary way.
//!
//! Like every reader of mapped files (ripgrep, git), we assume the file is not
//! truncated by another process while it is mapped: that would end the process
//! with SIGBUS instead of an error.

use std::fs::File;

/// The whole of a file, mapped read-only into memory.
pub struct Mapped {
    ptr: *const u8,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value; sharing `&[u8]` views of
// it between threads is as safe as sharing any immutable byte slice.
unsafe impl Send for Mapped {}
// SAFETY: as above, nothing mutates the mapping.
unsafe impl Sync for Mapped {}

impl Mapped {
    /// Maps all of `file` (open for reading); `None` when it cannot be mapped (empty
    /// files included: a zero-length mapping is an error).
    pub fn new(file: &File) -> Option<Mapped> {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
            if len == 0 {
                return None;
            }
            // SAFETY: a fresh private read-only mapping of a valid descriptor; the result
            // is checked against MAP_FAILED before use and unmapped exactly once in Drop.
            let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0) };
            if ptr == libc::MAP_FAILED || ptr.is_null() {
                return None;
            }
            Some(Mapped { ptr: ptr as *const u8, len })
        }
        #[cfg(not(unix))]
        {
            let _ = file;
            None
        }
    }
}

impl Mapped {
    /// Unmaps a large mapping on a short-lived thread: tearing down its page tables takes
    /// milliseconds (about 15 for 330 MB) that the caller need not wait for. A small one
    /// (cheaper to unmap than a thread is to start), or one when no thread can be
    /// started, is unmapped right here.
    pub fn release_in_background(self) {
        const LARGE: usize = 32 << 20;
        if self.len >= LARGE {
            if let Ok(h) = std::thread::Builder::new().name("lumlab-unmap".into()).spawn(move || drop(self)) {
                let mut pending = RELEASES.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                // Reap the finished ones (a long session loads many files).
                let (done, running): (Vec<_>, Vec<_>) = pending.drain(..).partition(|h| h.is_finished());
                for h in done {
                    let _ = h.join();
                }
                *pending = running;
                pending.push(h);
            }
        }
    }
}

/// The unmapping threads [`Mapped::release_in_background`] started and nobody waited for.
static RELEASES: std::sync::Mutex<Vec<std::thread::JoinHandle<()>>> = std::sync::Mutex::new(Vec::new());

/// Waits until every mapping released in the background is unmapped (benchmarks call
/// it between repetitions so that one load's clean-up does not slow the next).
pub fn wait_for_releases() {
    let pending = std::mem::take(&mut *RELEASES.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for h in pending {
        let _ = h.join();
    }
}

impl std::ops::Deref for Mapped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` is a live mapping of `len` readable bytes until Drop.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        #[cfg(unix)]
        // SAFETY: unmaps exactly the range mmap returned, once; no slices outlive `self`.
        unsafe {
            libc::munmap(self.ptr as *mut libc::c_void, self.len);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_maps_are_released_in_the_background_and_can_be_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.bin");
        std::fs::write(&p, vec![7u8; 33 << 20]).unwrap();
        let f = File::open(&p).unwrap();
        if let Some(m) = Mapped::new(&f) {
            assert!(m.iter().step_by(4096).all(|&b| b == 7));
            m.release_in_background();
            wait_for_releases();
            assert!(RELEASES.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn maps_the_bytes_of_a_file_and_refuses_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.bin");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        let f = File::open(&p).unwrap();
        match Mapped::new(&f) {
            Some(m) => assert_eq!(&m[..], &bytes[..]),
            None => assert!(cfg!(not(unix)), "mapping a plain file works on Unix"),
        }
        let e = dir.path().join("empty");
        std::fs::write(&e, b"").unwrap();
        assert!(Mapped::new(&File::open(&e).unwrap()).is_none());
    }
}
