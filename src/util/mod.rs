//! Small shared helpers: a deterministic RNG, atomic file writes, read-only file maps,
//! number formatting.

pub mod alloc;
pub mod fs;
pub mod mapped;
pub mod overrides;
pub mod phases;
pub mod rng;

pub use fs::{atomic_write, atomic_write_with, checked_write_with};
pub use overrides::apply_overrides;
pub use rng::Rng;

/// Formats an integer with thousands separators: 1234567 -> "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_groups_digits() {
        assert_eq!(super::thousands(0), "0");
        assert_eq!(super::thousands(999), "999");
        assert_eq!(super::thousands(1000), "1,000");
        assert_eq!(super::thousands(1234567), "1,234,567");
    }

    #[test]
    fn an_error_line_says_each_cause_once() {
        let path = std::path::Path::new("/no/such/log.csv");
        let io = std::fs::File::open(path).unwrap_err();
        let e = anyhow::Error::from(crate::data::DataError::io(path, io)).context("loading the log");
        let line = super::one_line_error(&e);
        assert!(line.starts_with("loading the log: /no/such/log.csv: "), "{line}");
        assert_eq!(line.matches("os error").count(), 1, "{line}");
        let multi = anyhow::anyhow!("bad\nthing").context("outer");
        assert_eq!(super::one_line_error(&multi), "outer: bad thing");
    }
}

/// A fast non-cryptographic hasher for integer keys (FxHash's multiply-rotate).
/// std's SipHash is ~5x slower on the 10M-row interning hot path.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64)
    }
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64)
    }
}

/// `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

/// An error and its causes on one line, outermost first, each cause said once: many of
/// our errors already quote their cause (`path: No such file or directory`), and the
/// chain would repeat it.
pub fn one_line_error(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}
