//! Dense ids for the Taobao reader's numeric user, item and category ids, in
//! first-seen order: a direct-address table (prefetched a few rows ahead) when the
//! largest id is small enough, a hash map otherwise, and the decimal name tables.

use crate::util::FxHashMap;

use super::NONE;

/// Direct-address tables are used up to this many slots (4 bytes each) ...
const DIRECT_MAX_SLOTS: u64 = 1 << 26;
/// ... and only when they hold at most this many slots per row (sparse huge ids use a map).
const DIRECT_SLOTS_PER_ROW: u64 = 8;

/// How many rows ahead the item interner prefetches its table slots.
const PREFETCH_ROWS: usize = 24;

/// Hints the CPU to fetch `slots[k]`: the items table is far larger than the caches and
/// its lookups otherwise wait on memory one (mispredicted) row at a time.
#[inline]
fn prefetch(slots: &[u32], k: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(slot) = slots.get(k) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        // SAFETY: a prefetch is only a hint: it never faults and changes no memory (and
        // the address is a live element anyway).
        unsafe { _mm_prefetch::<_MM_HINT_T0>(std::ptr::from_ref(slot).cast::<i8>()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slots, k);
}

/// Dense ids for numeric keys in first-seen order: a direct-address table for
/// small keys, a hash map for the rest.
pub(super) enum NumInterner {
    Direct { slots: Vec<u32>, keys: Vec<u64> },
    Map { map: FxHashMap<u64, u32>, keys: Vec<u64> },
}

impl NumInterner {
    /// An interner for keys up to `max` over `rows` rows, expecting about `cap` distinct keys.
    pub(super) fn new(max: u64, rows: usize, cap: usize) -> Self {
        let slots = max.saturating_add(1);
        if slots <= DIRECT_MAX_SLOTS && slots <= (rows as u64).saturating_mul(DIRECT_SLOTS_PER_ROW).max(1 << 16) {
            NumInterner::Direct { slots: vec![NONE; slots as usize], keys: Vec::with_capacity(cap) }
        } else {
            let mut map = FxHashMap::default();
            map.reserve(cap);
            NumInterner::Map { map, keys: Vec::with_capacity(cap) }
        }
    }

    #[inline]
    pub(super) fn intern(&mut self, k: u64) -> u32 {
        match self {
            NumInterner::Direct { slots, keys } => match slots.get_mut(k as usize) {
                Some(slot) if *slot != NONE => *slot,
                Some(slot) => {
                    *slot = keys.len() as u32;
                    keys.push(k);
                    *slot
                }
                // Keys never exceed the chunk maxima the table was sized for.
                None => NONE,
            },
            NumInterner::Map { map, keys } => {
                let next = keys.len() as u32;
                let id = *map.entry(k).or_insert(next);
                if id == next {
                    keys.push(k);
                }
                id
            }
        }
    }

    /// Replaces every key of `col` by its id, calling `on_new(row)` for each row whose key
    /// is seen for the first time. The table's kind is matched once, not once per row.
    pub(super) fn intern_column(&mut self, col: &mut [u32], mut on_new: impl FnMut(usize)) {
        match self {
            NumInterner::Direct { slots, keys } => {
                for r in 0..col.len() {
                    if let Some(&ahead) = col.get(r + PREFETCH_ROWS) {
                        prefetch(slots, ahead as usize);
                    }
                    let k = &mut col[r];
                    // Keys never exceed the maximum the table was sized for.
                    let Some(slot) = slots.get_mut(*k as usize) else {
                        *k = NONE;
                        continue;
                    };
                    if *slot == NONE {
                        *slot = keys.len() as u32;
                        keys.push(u64::from(*k));
                        on_new(r);
                    }
                    *k = *slot;
                }
            }
            NumInterner::Map { .. } => {
                for r in 0..col.len() {
                    let seen = self.len();
                    let id = self.intern(u64::from(col[r]));
                    if id as usize == seen {
                        on_new(r);
                    }
                    col[r] = id;
                }
            }
        }
    }

    /// Interns every key of `col` (a run of equal keys costs one lookup).
    pub(super) fn intern_all(&mut self, col: &[u32]) {
        let mut prev = None;
        match self {
            NumInterner::Direct { slots, keys } => {
                for &k in col {
                    if prev != Some(k) {
                        prev = Some(k);
                        if let Some(slot) = slots.get_mut(k as usize)
                            && *slot == NONE
                        {
                            *slot = keys.len() as u32;
                            keys.push(u64::from(k));
                        }
                    }
                }
            }
            NumInterner::Map { .. } => {
                for &k in col {
                    if prev != Some(k) {
                        prev = Some(k);
                        self.intern(u64::from(k));
                    }
                }
            }
        }
    }

    pub(super) fn keys(&self) -> &[u64] {
        match self {
            NumInterner::Direct { keys, .. } | NumInterner::Map { keys, .. } => keys,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.keys().len()
    }

    pub(super) fn into_interner(self) -> crate::data::Interner {
        let keys = self.keys();
        let widest = keys.iter().max().map_or(1, |&k| k.checked_ilog10().unwrap_or(0) as usize + 1);
        // All names in one buffer, checked as UTF-8 once (a million items).
        let mut text = Vec::with_capacity(keys.len() * widest);
        let mut offsets = Vec::with_capacity(keys.len() + 1);
        offsets.push(0);
        for &k in keys {
            push_decimal(&mut text, k);
            offsets.push(text.len() as u32);
        }
        let pool = String::from_utf8(text).ok().and_then(|t| crate::data::StrPool::from_parts(t, offsets));
        crate::data::Interner::from_pool(pool.unwrap_or_default())
    }
}

/// "00" to "99": two decimal digits a step.
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Appends `k` in decimal to `out`.
fn push_decimal(out: &mut Vec<u8>, mut k: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while k >= 100 {
        let r = (k % 100) as usize * 2;
        k /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[r..r + 2]);
    }
    if k >= 10 {
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[2 * k as usize..2 * k as usize + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + k as u8;
    }
    out.extend_from_slice(&buf[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_and_map_interners_agree() {
        let keys = [7u64, 3, 7, 1 << 40, 3, 0, 1 << 40, 9];
        let mut direct = NumInterner::new(9, 100, 4);
        let mut map = NumInterner::new(1 << 40, 8, 4);
        assert!(matches!(direct, NumInterner::Direct { .. }) && matches!(map, NumInterner::Map { .. }));
        let small: Vec<u32> = keys.iter().filter(|&&k| k <= 9).map(|&k| direct.intern(k)).collect();
        assert_eq!(small, vec![0, 1, 0, 1, 2, 3]);
        let all: Vec<u32> = keys.iter().map(|&k| map.intern(k)).collect();
        assert_eq!(all, vec![0, 1, 0, 2, 1, 3, 2, 4]);
        assert_eq!(map.keys(), &[7, 3, 1 << 40, 0, 9]);
    }

    #[test]
    fn decimal_writes_any_u64() {
        let mut out = Vec::new();
        let keys = [0, 7, 10, 99, 100, 101, 999, 1000, 4_294_967_296, u64::MAX];
        for k in keys {
            push_decimal(&mut out, k);
            out.push(b' ');
        }
        let want: Vec<String> = keys.iter().map(u64::to_string).collect();
        assert_eq!(String::from_utf8(out).unwrap(), want.join(" ") + " ");
    }
}
