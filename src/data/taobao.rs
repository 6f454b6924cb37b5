//! The Taobao UserBehavior.csv preset: `user,item,category,behavior,ts`, no
//! header, numeric ids, 100M rows in the full file. Built for speed: chunks of
//! the file are parsed in parallel into compact columns, then users (with
//! categories) and items are interned concurrently, each in file order, through
//! a direct-address table when the ids are small enough (they are, in the real
//! file) and a hash map otherwise.

use std::fs::File;
use std::path::Path;

use super::builder::{BadRows, Builder};
use super::formats::truncate;
use super::parse::Progress;
use super::{Action, DataError, NONE};
use crate::util::FxHashMap;

/// Bytes read at a time by each parser thread.
const READ_PIECE: usize = 4 << 20;
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

/// Parses whole lines (`bytes` ends at a line end or the end of the file) into `c`.
fn parse_lines(bytes: &[u8], c: &mut Chunk) {
    let mut at = 0;
    while at < bytes.len() {
        c.lines += 1;
        // One pass over a well-formed line; anything unusual takes the careful path.
        if let Some(next) = fast_line(bytes, at, c) {
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
        if let Err(e) = line_into(line, c) {
            c.errors.push((c.lines, e));
        }
    }
}

/// Reads `buf.len()` bytes (fewer at the end of the file) at `pos`.
fn read_at(file: &File, buf: &mut [u8], pos: u64) -> std::io::Result<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], pos + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut f = file.try_clone()?;
        f.seek(std::io::SeekFrom::Start(pos))?;
        let mut done = 0;
        while done < buf.len() {
            match f.read(&mut buf[done..])? {
                0 => break,
                n => done += n,
            }
        }
        Ok(done)
    }
}

/// Parses the lines of `file` in `start..end` (both at line starts, or the end),
/// reading it in pieces through one reused buffer (no copy of the whole file).
fn parse_range(file: &File, start: u64, end: u64) -> std::io::Result<Chunk> {
    parse_range_by(file, start, end, READ_PIECE)
}

/// [`parse_range`] reading `piece` bytes at a time.
fn parse_range_by(file: &File, start: u64, end: u64, piece: usize) -> std::io::Result<Chunk> {
    let mut c = Chunk::default();
    let est = ((end - start) / 30) as usize;
    c.user = Ids::with_capacity(est);
    c.item = Ids::with_capacity(est);
    c.cat = Ids::with_capacity(est);
    c.action.reserve(est);
    c.secs.reserve(est);
    let mut buf = vec![0u8; piece.max(1)];
    let (mut pos, mut carry) = (start, 0usize);
    while pos < end || carry > 0 {
        if carry == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let want = ((end - pos) as usize).min(buf.len() - carry);
        let n = read_at(file, &mut buf[carry..carry + want], pos)?;
        pos += n as u64;
        let filled = carry + n;
        let last = pos >= end || n == 0;
        let cut = if last { filled } else { buf[..filled].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) };
        parse_lines(&buf[..cut], &mut c);
        buf.copy_within(cut..filled, 0);
        carry = filled - cut;
        if last {
            break;
        }
    }
    Ok(c)
}

/// Byte offsets splitting `file` (of `len` bytes) into `parts` ranges at line starts.
fn split_points(file: &File, len: u64, parts: usize) -> std::io::Result<Vec<u64>> {
    let mut bounds = vec![0u64];
    let mut probe = vec![0u8; 64 * 1024];
    for t in 1..parts {
        let mut at = (len * t as u64 / parts as u64).max(*bounds.last().unwrap_or(&0)).max(1) - 1;
        // The next line starts after the first newline at or after `at`.
        let found = loop {
            let n = read_at(file, &mut probe, at)?;
            if n == 0 {
                break len;
            }
            if let Some(i) = probe[..n].iter().position(|&b| b == b'\n') {
                break at + i as u64 + 1;
            }
            at += n as u64;
        };
        if found > *bounds.last().unwrap_or(&0) && found < len {
            bounds.push(found);
        }
    }
    bounds.push(len);
    bounds.dedup();
    Ok(bounds)
}

/// The run of decimal digits at `at`: (value, index after it); at most 18 digits
/// (so it cannot overflow), at least one.
#[inline]
fn digit_run(bytes: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut end = at;
    let mut v: u64 = 0;
    while let Some(&b) = bytes.get(end) {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        end += 1;
    }
    (end > at && end - at <= 18).then_some((v, end))
}

/// Digits of an unsigned id at `at` followed by `stop`: (value, index of the stop byte).
#[inline]
fn digits(bytes: &[u8], at: usize, stop: u8) -> Option<(u64, usize)> {
    digit_run(bytes, at).filter(|&(_, end)| bytes.get(end) == Some(&stop))
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
    let (ts, end) = digit_run(bytes, at + 1 + len + 1)?;
    let ts = ts as i64;
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

/// Parses a Taobao UserBehavior.csv into `b`; returns the xxh3 of its bytes (the
/// data fingerprint's part for the file), hashed while the parser threads run.
pub fn parse(path: &Path, b: &mut Builder, bad: &mut BadRows, progress: Progress) -> Result<u64, DataError> {
    let io = |e| DataError::io(path, e);
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let bounds = split_points(&file, len, threads).map_err(io)?;
    let (chunks, hash) = std::thread::scope(|s| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (file, start, end) = (&file, w[0], w[1]);
                std::thread::Builder::new().name("lumlab-parse".into()).spawn_scoped(s, move || parse_range(file, start, end))
            })
            .collect();
        // The page cache is warm behind the parsers: hashing costs one sequential read.
        let hash = super::cache::file_hash(path);
        let chunks: Vec<std::io::Result<Chunk>> = handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| Err(std::io::Error::other("a parser thread panicked"))),
                Err(e) => Err(e),
            })
            .collect();
        (chunks, hash)
    });
    let chunks: Vec<Chunk> = chunks.into_iter().collect::<Result<_, _>>().map_err(io)?;
    let hash = hash.map_err(io)?;
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
    Ok(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(c: &Chunk) -> (Vec<u64>, Vec<u64>, Vec<u64>, Vec<u8>, Vec<i64>, Vec<(u64, String)>, u64) {
        let ids = |x: &Ids| (0..x.len()).map(|i| x.get(i)).collect::<Vec<u64>>();
        (ids(&c.user), ids(&c.item), ids(&c.cat), c.action.clone(), c.secs.clone(), c.errors.clone(), c.lines)
    }

    #[test]
    fn pieces_and_split_points_do_not_change_the_parse() {
        let mut text = String::new();
        for i in 0..300u64 {
            match i % 37 {
                5 => text.push_str("1,2,3,oops,4\n"),
                9 => text.push('\n'),
                11 => text.push_str(&format!("{i},{},{},pv,{}\r\n", 5_000_000_000u64 + i, i % 7, 1_511_000_000 + i)),
                17 => text.push_str(&format!("{i},{}{},1,buy,1511000000\n", "9".repeat(40), i)),
                _ => text.push_str(&format!("{},{},{},{},{}\n", i % 13, i * 31 % 97, i % 5, ["pv", "fav", "cart", "buy"][i as usize % 4], 1_511_000_000 + i)),
            }
        }
        text.push_str("7,8,9,pv,1511999999"); // no final newline
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, &text).unwrap();
        let f = File::open(&p).unwrap();
        let len = text.len() as u64;
        let mut whole = Chunk::default();
        parse_lines(text.as_bytes(), &mut whole);
        assert_eq!(whole.errors.len(), 16, "{:?}", whole.errors);
        let want = columns(&whole);
        for piece in [1, 7, 16, 61, 4096] {
            assert_eq!(columns(&parse_range_by(&f, 0, len, piece).unwrap()), want, "piece {piece}");
        }
        for parts in [2, 3, 8] {
            let bounds = split_points(&f, len, parts).unwrap();
            assert_eq!((bounds[0], *bounds.last().unwrap()), (0, len));
            assert!(bounds[1..bounds.len() - 1].iter().all(|&b| text.as_bytes()[b as usize - 1] == b'\n'));
            let mut lines = 0;
            let mut users = Vec::new();
            for w in bounds.windows(2) {
                let c = parse_range_by(&f, w[0], w[1], 61).unwrap();
                lines += c.lines;
                users.extend((0..c.user.len()).map(|i| c.user.get(i)));
            }
            assert_eq!((lines, users), (want.6, want.0.clone()), "{parts} parts");
        }
    }

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
