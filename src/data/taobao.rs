//! The Taobao UserBehavior.csv preset: `user,item,category,behavior,ts`, no
//! header, numeric ids, 100M rows in the full file. Built for speed: chunks of
//! the file are parsed in parallel into compact columns, then users (with
//! categories) and items are interned concurrently, each in file order, through
//! a direct-address table when the ids are small enough (they are, in the real
//! file) and a hash map otherwise.

use std::path::Path;

use super::builder::{BadRows, Builder};
use super::formats::truncate;
use super::parse::Progress;
use super::{Action, DataError, NONE};
use crate::util::FxHashMap;

/// Direct-address tables are used up to this many slots (4 bytes each) ...
const DIRECT_MAX_SLOTS: u64 = 1 << 26;
/// ... and only when they hold at most this many slots per row (sparse huge ids use a map).
const DIRECT_SLOTS_PER_ROW: u64 = 8;

/// A column of raw ids: 4 bytes each while they fit (real Taobao ids do), 8 after.
enum Ids {
    Narrow(Vec<u32>),
    Wide(Vec<u64>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids::Narrow(Vec::new())
    }
}

impl Ids {
    fn with_capacity(n: usize) -> Self {
        Ids::Narrow(Vec::with_capacity(n))
    }
    #[inline]
    fn push(&mut self, k: u64) {
        match self {
            Ids::Narrow(v) => match u32::try_from(k) {
                Ok(k) => v.push(k),
                Err(_) => {
                    let mut wide: Vec<u64> = v.iter().map(|&x| u64::from(x)).collect();
                    wide.push(k);
                    *self = Ids::Wide(wide);
                }
            },
            Ids::Wide(v) => v.push(k),
        }
    }
    fn len(&self) -> usize {
        match self {
            Ids::Narrow(v) => v.len(),
            Ids::Wide(v) => v.len(),
        }
    }
    /// Id `i`, widened (0 out of range).
    #[inline]
    fn get(&self, i: usize) -> u64 {
        match self {
            Ids::Narrow(v) => v.get(i).map_or(0, |&x| u64::from(x)),
            Ids::Wide(v) => v.get(i).copied().unwrap_or(0),
        }
    }
    /// Calls `f` with every id in order (the match is outside the loop).
    #[inline]
    fn for_each(&self, mut f: impl FnMut(u64)) {
        match self {
            Ids::Narrow(v) => v.iter().for_each(|&x| f(u64::from(x))),
            Ids::Wide(v) => v.iter().for_each(|&x| f(x)),
        }
    }
}

/// Parsed fields of one chunk (raw numeric ids, not yet interned).
#[derive(Default)]
struct Chunk {
    user: Ids,
    item: Ids,
    cat: Ids,
    action: Vec<u8>,
    secs: Vec<i64>,
    /// Largest id of each column (for the direct-address tables).
    max: [u64; 3],
    /// (line number within the chunk, 1-based; reason)
    errors: Vec<(u64, String)>,
    lines: u64,
}

fn parse_u64(f: &[u8]) -> Option<u64> {
    if f.is_empty() || f.len() > 19 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in f {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    Some(v)
}

fn parse_i64(f: &[u8]) -> Option<i64> {
    match f.first() {
        Some(b'-') => parse_u64(&f[1..]).map(|v| -(v as i64)),
        _ => parse_u64(f).map(|v| v as i64),
    }
}

fn line_into(line: &[u8], c: &mut Chunk) -> Result<(), String> {
    let mut f = [&b""[..]; 5];
    let mut n = 0;
    for part in line.split(|&b| b == b',') {
        if n < 5 {
            f[n] = part;
        }
        n += 1;
    }
    if n != 5 {
        return Err(format!("expected 5 fields, found {n}"));
    }
    // Every accepted field is ASCII, so only a rejected line needs the UTF-8 verdict.
    let reject = |msg: String| if std::str::from_utf8(line).is_err() { "invalid UTF-8".to_string() } else { msg };
    let id = |x: &[u8], what: &str| parse_u64(x).ok_or_else(|| reject(format!("{what} `{}` is not an integer id", truncate(&String::from_utf8_lossy(x), 30))));
    let user = id(f[0], "user")?;
    let item = id(f[1], "item")?;
    let cat = id(f[2], "category")?;
    let action = match f[3] {
        b"pv" => Action::Click,
        b"fav" => Action::Fav,
        b"cart" => Action::Cart,
        b"buy" => Action::Buy,
        other => return Err(reject(format!("unknown behavior `{}`", truncate(&String::from_utf8_lossy(other), 30)))),
    };
    let ts = parse_i64(f[4]).ok_or_else(|| reject(format!("timestamp `{}` is not an integer", truncate(&String::from_utf8_lossy(f[4]), 30))))?;
    c.user.push(user);
    c.item.push(item);
    c.cat.push(cat);
    c.action.push(action as u8);
    c.secs.push(ts);
    c.max = [c.max[0].max(user), c.max[1].max(item), c.max[2].max(cat)];
    Ok(())
}

fn parse_chunk(bytes: &[u8]) -> Chunk {
    let mut c = Chunk::default();
    let est = bytes.len() / 30;
    c.user = Ids::with_capacity(est);
    c.item = Ids::with_capacity(est);
    c.cat = Ids::with_capacity(est);
    c.action.reserve(est);
    c.secs.reserve(est);
    let mut at = 0;
    while at < bytes.len() {
        c.lines += 1;
        // One pass over a well-formed line; anything unusual takes the careful path.
        if let Some(next) = fast_line(bytes, at, &mut c) {
            at = next;
            continue;
        }
        let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| at + p);
        let line = &bytes[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = end + 1;
        if line.is_empty() {
            continue;
        }
        if let Err(e) = line_into(line, &mut c) {
            c.errors.push((c.lines, e));
        }
    }
    c
}

/// Digits of an unsigned id at `at` up to `stop`: (value, index of the stop byte).
#[inline]
fn digits(bytes: &[u8], mut at: usize, stop: u8) -> Option<(u64, usize)> {
    let start = at;
    let mut v: u64 = 0;
    while let Some(&b) = bytes.get(at) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        at += 1;
    }
    let n = at - start;
    (n > 0 && n <= 18 && bytes.get(at) == Some(&stop)).then_some((v, at))
}

/// Parses the well-formed line starting at `at` (`u,i,c,behavior,ts` then `\n`, `\r\n`
/// or the end) into `c`; returns where the next line starts, or None (nothing
/// pushed) when the line needs the careful parser.
#[inline]
fn fast_line(bytes: &[u8], at: usize, c: &mut Chunk) -> Option<usize> {
    let (user, at) = digits(bytes, at, b',')?;
    let (item, at) = digits(bytes, at + 1, b',')?;
    let (cat, at) = digits(bytes, at + 1, b',')?;
    let rest = &bytes[at + 1..];
    let (action, len) = if rest.starts_with(b"pv,") {
        (Action::Click, 2)
    } else if rest.starts_with(b"buy,") {
        (Action::Buy, 3)
    } else if rest.starts_with(b"fav,") {
        (Action::Fav, 3)
    } else if rest.starts_with(b"cart,") {
        (Action::Cart, 4)
    } else {
        return None;
    };
    let ts_at = at + 1 + len + 1;
    let mut end = ts_at;
    let mut ts: i64 = 0;
    while let Some(&b) = bytes.get(end) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        ts = ts.wrapping_mul(10).wrapping_add(i64::from(d));
        end += 1;
    }
    if end == ts_at || end - ts_at > 18 {
        return None;
    }
    let next = match bytes.get(end) {
        None => end,
        Some(b'\n') => end + 1,
        Some(b'\r') if bytes.get(end + 1) == Some(&b'\n') => end + 2,
        Some(_) => return None,
    };
    c.user.push(user);
    c.item.push(item);
    c.cat.push(cat);
    c.action.push(action as u8);
    c.secs.push(ts);
    c.max = [c.max[0].max(user), c.max[1].max(item), c.max[2].max(cat)];
    Some(next)
}

/// Dense ids for numeric keys in first-seen order: a direct-address table for
/// small keys, a hash map for the rest.
enum NumInterner {
    Direct { slots: Vec<u32>, keys: Vec<u64> },
    Map { map: FxHashMap<u64, u32>, keys: Vec<u64> },
}

impl NumInterner {
    /// An interner for keys up to `max` over `rows` rows, expecting about `cap` distinct keys.
    fn new(max: u64, rows: usize, cap: usize) -> Self {
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
    fn intern(&mut self, k: u64) -> u32 {
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

    fn keys(&self) -> &[u64] {
        match self {
            NumInterner::Direct { keys, .. } | NumInterner::Map { keys, .. } => keys,
        }
    }

    fn into_interner(self) -> super::Interner {
        let mut pool = super::StrPool::new();
        for k in self.keys() {
            pool.push(&k.to_string());
        }
        super::Interner::from_pool(pool)
    }
}

/// Parses a Taobao UserBehavior.csv already read into `bytes` into `b`.
pub fn parse(path: &Path, bytes: &[u8], b: &mut Builder, bad: &mut BadRows, progress: Progress) -> Result<(), DataError> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    // Split at line boundaries.
    let mut bounds = vec![0usize];
    for t in 1..threads {
        let mut i = (bytes.len() * t / threads).max(1);
        while i < bytes.len() && bytes[i - 1] != b'\n' {
            i += 1;
        }
        if i > *bounds.last().unwrap_or(&0) {
            bounds.push(i);
        }
    }
    bounds.push(bytes.len());
    bounds.dedup();
    let chunks: Vec<Chunk> = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let part = &bytes[w[0]..w[1]];
                std::thread::Builder::new().name("lumlab-parse".into()).spawn_scoped(s, move || parse_chunk(part))
            })
            .collect();
        handles.into_iter().map(|h| h.ok().and_then(|h| h.join().ok()).unwrap_or_default()).collect()
    });
    if let Some(p) = progress {
        p(0.6);
    }
    let mut line_base = 0u64;
    for c in &chunks {
        for (l, e) in &c.errors {
            bad.bad(line_base + l, e.clone())?;
        }
        line_base += c.lines;
    }
    let total: usize = chunks.iter().map(|c| c.user.len()).sum();
    let max = |k: usize| chunks.iter().map(|c| c.max[k]).max().unwrap_or(0);
    let (max_user, max_item, max_cat) = (max(0), max(1), max(2));
    // Users (and categories) on one thread, items on another, each in file order.
    let ((users, user_ids, cats), (items, item_ids, item_raw_cat)) = std::thread::scope(|s| {
        let chunks = &chunks;
        let items_job = s.spawn(move || {
            let mut items = NumInterner::new(max_item, total, total / 8 + 16);
            let mut ids = Vec::with_capacity(total);
            let mut raw_cat = Vec::new();
            for c in chunks {
                let mut row = 0;
                c.item.for_each(|k| {
                    let id = items.intern(k);
                    if id as usize == raw_cat.len() {
                        raw_cat.push(c.cat.get(row));
                    }
                    ids.push(id);
                    row += 1;
                });
            }
            (items, ids, raw_cat)
        });
        let mut users = NumInterner::new(max_user, total, total / 64 + 16);
        let mut cats = NumInterner::new(max_cat, total, 1024);
        let mut ids = Vec::with_capacity(total);
        for c in chunks {
            c.user.for_each(|k| ids.push(users.intern(k)));
            c.cat.for_each(|k| {
                cats.intern(k);
            });
        }
        let items = match items_job.join() {
            Ok(x) => x,
            Err(_) => (NumInterner::new(0, 0, 0), Vec::new(), Vec::new()),
        };
        ((users, ids, cats), items)
    });
    if item_ids.len() != total {
        return Err(DataError::Invalid { path: path.to_path_buf(), reason: "interning the items failed".into() });
    }
    if let Some(p) = progress {
        p(0.8);
    }
    let item_cat: Vec<u32> = {
        let mut cats = cats;
        let ids = item_raw_cat.iter().map(|&k| cats.intern(k)).collect();
        b.item_table.categories = cats.into_interner();
        ids
    };
    // The first chunk's columns grow in place; the builder keeps milliseconds.
    let mut chunks = chunks.into_iter();
    let (mut millis, mut action) = match chunks.next() {
        Some(c) => (c.secs, c.action),
        None => (Vec::new(), Vec::new()),
    };
    millis.reserve(total - millis.len());
    action.reserve(total - action.len());
    for c in chunks {
        millis.extend_from_slice(&c.secs);
        action.extend_from_slice(&c.action);
    }
    for t in &mut millis {
        *t = t.saturating_mul(1000);
    }
    b.set_core(user_ids, millis, item_ids, action);
    b.users = users.into_interner();
    b.items = items.into_interner();
    let n_items = item_cat.len();
    b.item_table.described = vec![true; n_items];
    b.item_table.brand = vec![NONE; n_items];
    b.item_table.price = vec![f32::NAN; n_items];
    b.item_table.category = item_cat;
    Ok(())
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
}
