//! String interning: any id string maps to a dense `u32`, names live in one pooled buffer.

use std::collections::HashMap;
use std::sync::OnceLock;

/// Many strings in one buffer: `get(i)` is `buf[offsets[i]..offsets[i+1]]`.
/// One allocation for all names instead of one per string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StrPool {
    buf: String,
    offsets: Vec<u32>,
}

impl Default for StrPool {
    fn default() -> Self {
        Self::new()
    }
}

impl StrPool {
    pub fn new() -> Self {
        Self { buf: String::new(), offsets: vec![0] }
    }
    /// An empty pool with room for `strings` strings of `bytes` bytes in all.
    pub fn with_capacity(strings: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(strings + 1);
        offsets.push(0);
        Self { buf: String::with_capacity(bytes), offsets }
    }
    /// Appends a string; returns its index.
    pub fn push(&mut self, s: &str) -> usize {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.buf.push_str(s);
        self.offsets.push(self.buf.len() as u32);
        self.offsets.len() - 2
    }
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn get(&self, i: usize) -> Option<&str> {
        let a = *self.offsets.get(i)? as usize;
        let b = *self.offsets.get(i + 1)? as usize;
        Some(&self.buf[a..b])
    }
    /// Pads with empty strings up to `n` entries.
    pub fn resize(&mut self, n: usize) {
        while self.len() < n {
            self.push("");
        }
    }
    /// All strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
    /// Raw parts for the binary cache.
    pub fn parts(&self) -> (&str, &[u32]) {
        (&self.buf, &self.offsets)
    }
    /// Rebuilds from raw parts; `None` if they are inconsistent (corrupt cache).
    pub fn from_parts(buf: String, offsets: Vec<u32>) -> Option<Self> {
        if offsets.first() != Some(&0) || *offsets.last()? as usize != buf.len() {
            return None;
        }
        // In ASCII (the usual ids) every offset up to the end is a character boundary.
        let ascii = buf.is_ascii();
        if offsets.windows(2).any(|w| w[0] > w[1] || !(ascii || buf.is_char_boundary(w[1] as usize))) {
            return None;
        }
        Some(Self { buf, offsets })
    }
}

/// Dense ids for strings, in first-seen order.
///
/// The string -> id map is built lazily, so a dataset reopened from the binary
/// cache pays for it only if something looks a name up.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    names: StrPool,
    ids: OnceLock<HashMap<Box<str>, u32>>,
}

impl PartialEq for Interner {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Interner {
    pub fn new() -> Self {
        Self { names: StrPool::new(), ids: OnceLock::from(HashMap::new()) }
    }
    fn build_map(names: &StrPool) -> HashMap<Box<str>, u32> {
        names.iter().enumerate().map(|(i, s)| (Box::<str>::from(s), i as u32)).collect()
    }
    /// The id of `s`, adding it if new.
    pub fn intern(&mut self, s: &str) -> u32 {
        let names = &self.names;
        self.ids.get_or_init(|| Self::build_map(names));
        let Some(ids) = self.ids.get_mut() else { unreachable!("initialised above") };
        if let Some(id) = ids.get(s) {
            return *id;
        }
        let id = self.names.push(s) as u32;
        ids.insert(s.into(), id);
        id
    }
    /// The id of `s` if it was interned.
    pub fn get(&self, s: &str) -> Option<u32> {
        self.ids.get_or_init(|| Self::build_map(&self.names)).get(s).copied()
    }
    /// The string of `id` ("" if out of range).
    pub fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).unwrap_or("")
    }
    pub fn len(&self) -> usize {
        self.names.len()
    }
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
    pub fn names(&self) -> &StrPool {
        &self.names
    }
    /// An interner over an existing name pool (cache reopen); the map is built on first lookup.
    /// Names must be distinct (the cache checksum guarantees what was written).
    pub fn from_pool(names: StrPool) -> Self {
        Self { names, ids: OnceLock::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_dense_and_first_seen() {
        let mut i = Interner::new();
        assert_eq!(i.intern("b"), 0);
        assert_eq!(i.intern("a"), 1);
        assert_eq!(i.intern("b"), 0);
        assert_eq!(i.intern(""), 2);
        assert_eq!(i.intern("ü-42"), 3);
        assert_eq!(i.name(3), "ü-42");
        assert_eq!(i.get("a"), Some(1));
        assert_eq!(i.get("zz"), None);
        assert_eq!(i.len(), 4);
        let (buf, offs) = i.names().parts();
        let pool = StrPool::from_parts(buf.to_string(), offs.to_vec()).unwrap();
        let back = Interner::from_pool(pool);
        assert_eq!(back, i);
        assert_eq!(back.get("ü-42"), Some(3));
    }

    #[test]
    fn corrupt_pool_is_rejected() {
        assert!(StrPool::from_parts("abc".into(), vec![0, 5]).is_none());
        assert!(StrPool::from_parts("abc".into(), vec![0, 2, 1, 3]).is_none());
        assert!(StrPool::from_parts("ü".into(), vec![0, 1, 2]).is_none());
    }
}
