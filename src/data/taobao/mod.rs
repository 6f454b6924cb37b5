//! The Taobao UserBehavior.csv preset: `user,item,category,behavior,ts`, no
//! header, numeric ids, 100M rows in the full file. Built for speed: the file is
//! mapped; one pass over 256 KiB blocks on all cores counts each block's lines and
//! hashes it (the content hash); each block's lines are then parsed in parallel (a
//! line at a time, by the fast parsers of `lines`) straight into file-wide 32-bit
//! columns, users kept as runs; then categories and items are interned concurrently,
//! each in file order (`ids`: a direct-address table when the ids are small enough, as
//! in the real file, a hash map otherwise), and each user's rows are sorted by time in
//! place (`sort`, through the sorting network of `bitonic` where the CPU has AVX2)
//! while the name tables are written. `lumlab bench load` times each phase.

use std::fs::File;
use std::mem::MaybeUninit;
use std::path::Path;

use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use super::builder::{BadRows, Builder};
use super::formats::truncate;
use super::parse::Progress;
use super::{Action, DataError, NONE};
use crate::util::mapped::Mapped;
use crate::util::phases;

#[cfg(target_arch = "x86_64")]
mod bitonic;
mod ids;
mod lines;
mod sort;

use ids::NumInterner;

use sort::{Presorted, presort_users, sort_users};

/// The phases (see `util::phases`) that turn the text into typed columns: what
/// `pandas.read_csv` does, before ids, sorting and tables.
pub const COLUMN_PHASES: [&str; 2] = ["count lines", "parse fields"];

/// Bytes read at a time by each parser thread.
const READ_PIECE: usize = 4 << 20;
/// Rows expected per byte of file when sizing the general path's columns (real lines are ~33 bytes).
const BYTES_PER_ROW_GUESS: usize = 30;

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

/// One parsed row: raw numeric ids, the action byte, seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Fields {
    user: u64,
    item: u64,
    cat: u64,
    action: u8,
    ts: i64,
}

/// Line count and bad lines of a parsed range.
#[derive(Default)]
struct Tally {
    /// (line number within the range, 1-based; reason)
    errors: Vec<(u64, String)>,
    lines: u64,
}

/// Where parsed rows go.
trait Sink {
    /// Stores a row; false when it does not fit this sink's layout (the parse stops).
    fn put(&mut self, f: Fields) -> bool;
    fn tally(&mut self) -> &mut Tally;
}

/// Parsed fields of one chunk (raw numeric ids, not yet interned), any width.
#[derive(Default)]
struct Chunk {
    user: Ids,
    item: Ids,
    cat: Ids,
    action: Vec<u8>,
    secs: Vec<i64>,
    /// Largest id of each column (for the direct-address tables).
    max: [u64; 3],
    tally: Tally,
}

impl Chunk {
    fn with_capacity(rows: usize) -> Self {
        Chunk {
            user: Ids::with_capacity(rows),
            item: Ids::with_capacity(rows),
            cat: Ids::with_capacity(rows),
            action: Vec::with_capacity(rows),
            secs: Vec::with_capacity(rows),
            ..Default::default()
        }
    }
}

impl Sink for Chunk {
    #[inline]
    fn put(&mut self, f: Fields) -> bool {
        self.user.push(f.user);
        self.item.push(f.item);
        self.cat.push(f.cat);
        self.action.push(f.action);
        self.secs.push(f.ts);
        self.max = [self.max[0].max(f.user), self.max[1].max(f.item), self.max[2].max(f.cat)];
        true
    }
    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }
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

/// The careful parser of one line (no line end), with the reason when it is bad.
fn parse_fields(line: &[u8]) -> Result<Fields, String> {
    // A byte-order mark (only ever before the first line) is not part of the user id.
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
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
    if !super::time::in_range(ts) {
        return Err(format!("timestamp `{ts}` {}", super::time::TimeError::OutOfRange));
    }
    Ok(Fields { user, item, cat, action: action as u8, ts })
}

/// Parses whole lines (`bytes` ends at a line end or the end of the file) into `sink`;
/// false when the sink refused a row (the rest is not parsed).
fn parse_lines<S: Sink>(bytes: &[u8], sink: &mut S) -> bool {
    parse_lines_by(bytes, sink, lines::fast_lines)
}

/// [`parse_lines`] with a given fast parser (tests compare them): runs of well-formed
/// lines go through `fast`, anything unusual through the careful [`parse_fields`].
fn parse_lines_by<S: Sink>(bytes: &[u8], sink: &mut S, fast: fn(&[u8], usize, &mut S) -> Option<usize>) -> bool {
    let mut at = 0;
    while at < bytes.len() {
        match fast(bytes, at, sink) {
            Some(stop) => at = stop,
            None => return false,
        }
        if at >= bytes.len() {
            break;
        }
        sink.tally().lines += 1;
        let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| at + p);
        let line = &bytes[at..end];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        at = end + 1;
        if line.is_empty() {
            continue;
        }
        match parse_fields(line) {
            Ok(f) => {
                if !sink.put(f) {
                    return false;
                }
            }
            Err(e) => {
                let t = sink.tally();
                let line = t.lines;
                t.errors.push((line, e));
            }
        }
    }
    true
}

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
    let mut c = Chunk::with_capacity(((end - start) as usize) / BYTES_PER_ROW_GUESS);
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

/// Offsets splitting `bytes` into at most `parts` ranges that start at line starts.
fn split_bytes(bytes: &[u8], parts: usize) -> Vec<usize> {
    let len = bytes.len();
    let mut bounds = vec![0usize];
    for t in 1..parts.max(1) {
        let at = (len * t / parts).max(*bounds.last().unwrap_or(&0));
        let found = bytes[at..].iter().position(|&b| b == b'\n').map_or(len, |i| at + i + 1);
        if found > *bounds.last().unwrap_or(&0) && found < len {
            bounds.push(found);
        }
    }
    bounds.push(len);
    bounds.dedup();
    bounds
}

/// Newlines in `bytes`.
fn count_newlines(bytes: &[u8]) -> usize {
    // Sums of 0/1 bytes in byte-wide lanes vectorise best (16 or 32 bytes an instruction);
    // 255 bytes cannot overflow a lane.
    bytes.chunks(255).map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'\n')))).sum()
}

/// What the first pass learns about one block of the file.
struct BlockScan {
    newlines: usize,
    /// Position in the file of the block's last newline.
    last_newline: Option<usize>,
    /// xxh3 of the block (for [`super::cache::bytes_hash`]).
    hash: u64,
}

/// The first pass over a mapped file, in blocks of `block` bytes on all cores: each
/// block's newlines are counted and its bytes hashed while they are in cache.
fn scan_blocks(bytes: &[u8], block: usize) -> Vec<BlockScan> {
    let block = block.max(1);
    bytes
        .par_chunks(block)
        .enumerate()
        .map(|(k, b)| BlockScan { newlines: count_newlines(b), last_newline: b.iter().rposition(|&c| c == b'\n').map(|i| k * block + i), hash: xxh3_64(b) })
        .collect()
}

/// The parse pieces from [`scan_blocks`]: piece k holds the lines whose newline is in
/// block k (plus, in the last, an unterminated last line), so its line count is known.
/// Returns (start, end, lines) of each non-empty piece.
fn pieces_of(bytes: &[u8], scans: &[BlockScan]) -> Vec<(usize, usize, usize)> {
    let mut pieces = Vec::with_capacity(scans.len());
    let mut start = 0;
    for (k, s) in scans.iter().enumerate() {
        let last = k + 1 == scans.len();
        let end = if last { bytes.len() } else { s.last_newline.map_or(start, |p| p + 1) };
        let lines = s.newlines + usize::from(last && end > start && bytes[end - 1] != b'\n');
        if end > start {
            pieces.push((start, end, lines));
        }
        start = end;
    }
    pieces
}

/// The first `n` elements of `*rest`, leaving the others in `*rest`.
fn take_front<'a, T>(rest: &mut &'a mut [T], n: usize) -> &'a mut [T] {
    let (front, back) = std::mem::take(rest).split_at_mut(n);
    *rest = back;
    front
}

/// The columns of the mapped parser: room for one row per line of the file, 32-bit ids
/// and seconds. Users are not a column: a user's rows come in runs (one run per user in
/// the real file), kept as [`Run`]s.
///
/// The room is not zeroed: a zeroed allocation this large is cleared by the allocator on
/// one thread (the kernel clears fresh pages as they are first touched, and an allocator
/// that cannot tell they are fresh writes zeros over them again), while the parsers touch
/// only their own slots, in parallel, and only written slots become rows.
struct Columns {
    item: Vec<u32>,
    cat: Vec<u32>,
    ts: Vec<u32>,
    action: Vec<u8>,
}

/// The uninitialised room of the four columns.
type Room<'a> = (&'a mut [MaybeUninit<u32>], &'a mut [MaybeUninit<u32>], &'a mut [MaybeUninit<u32>], &'a mut [MaybeUninit<u8>]);

impl Columns {
    /// Empty columns with room for `n` rows.
    fn with_room(n: usize) -> Self {
        Columns { item: Vec::with_capacity(n), cat: Vec::with_capacity(n), ts: Vec::with_capacity(n), action: Vec::with_capacity(n) }
    }

    /// Every column's room (all of it while the columns are empty).
    fn room(&mut self) -> Room<'_> {
        (self.item.spare_capacity_mut(), self.cat.spare_capacity_mut(), self.ts.spare_capacity_mut(), self.action.spare_capacity_mut())
    }

    /// Moves the slots `from..from + n` of the room to start at `to` (to <= from).
    fn move_rows(&mut self, from: usize, n: usize, to: usize) {
        let r = from..from + n;
        let (item, cat, ts, action) = self.room();
        item.copy_within(r.clone(), to);
        cat.copy_within(r.clone(), to);
        ts.copy_within(r.clone(), to);
        action.copy_within(r, to);
    }

    /// Makes the first `n` slots of the room the columns' rows.
    ///
    /// # Safety
    /// Each of the first `n` slots of every column's room was written, and the columns were empty.
    unsafe fn set_rows(&mut self, n: usize) {
        // SAFETY: see the function's contract; `n` is within the room, whose slots are initialised.
        unsafe {
            self.item.set_len(n);
            self.cat.set_len(n);
            self.ts.set_len(n);
            self.action.set_len(n);
        }
    }
}

/// Rows of one user in a row: (raw user id, first row).
type Run = (u32, u32);

/// One piece's share of [`Columns`]: as many slots as the piece has lines.
struct Slab<'a> {
    /// The piece's runs of rows of one user (first rows relative to the piece).
    runs: Vec<Run>,
    item: &'a mut [MaybeUninit<u32>],
    cat: &'a mut [MaybeUninit<u32>],
    ts: &'a mut [MaybeUninit<u32>],
    action: &'a mut [MaybeUninit<u8>],
    /// Slots written so far: the first `rows` of each column's share, no others.
    rows: usize,
    max: [u32; 3],
    min_ts: u32,
    tally: Tally,
    /// False when a row did not fit in 32 bits (the file takes the general path).
    complete: bool,
}

impl Sink for Slab<'_> {
    #[inline]
    fn put(&mut self, f: Fields) -> bool {
        let (Ok(user), Ok(item), Ok(cat), Ok(ts)) = (u32::try_from(f.user), u32::try_from(f.item), u32::try_from(f.cat), u32::try_from(f.ts)) else {
            return false;
        };
        let r = self.rows;
        match (self.item.get_mut(r), self.cat.get_mut(r), self.ts.get_mut(r), self.action.get_mut(r)) {
            (Some(i), Some(c), Some(t), Some(a)) => {
                i.write(item);
                c.write(cat);
                t.write(ts);
                a.write(f.action);
            }
            // More rows than lines cannot happen; refusing is the safe answer anyway.
            _ => return false,
        }
        if self.runs.last().is_none_or(|run| run.0 != user) {
            self.runs.push((user, r as u32));
        }
        self.rows = r + 1;
        self.max = [self.max[0].max(user), self.max[1].max(item), self.max[2].max(cat)];
        self.min_ts = self.min_ts.min(ts);
        true
    }
    fn tally(&mut self) -> &mut Tally {
        &mut self.tally
    }
}

/// The fast path over a mapped file: count lines per piece, parse every piece in
/// parallel straight into its share of file-wide 32-bit columns, intern in place,
/// and, when every user's rows are contiguous (as in the real Taobao file), sort
/// each user's rows by time in place: no per-chunk columns, gathers or permutation.
/// Returns (whether it parsed the file, the file's content hash): false, having changed
/// nothing, when some value needs more than 32 bits.
fn parse_columns(bytes: &[u8], b: &mut Builder, bad: &mut BadRows, progress: Progress) -> Result<(bool, u64), DataError> {
    let scans = scan_blocks(bytes, super::cache::HASH_BLOCK);
    let hash = super::cache::combine_block_hashes(scans.iter().map(|s| s.hash), bytes.len() as u64);
    Ok((parse_columns_by(bytes, &scans, b, bad, progress, Presort::Auto)?, hash))
}

/// How many users' times the thread that interns users and categories sorts while the
/// other interns items (tests pin the extremes; the result is the same).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Presort {
    /// Until the items are interned.
    Auto,
    #[cfg_attr(not(test), allow(dead_code))]
    All,
    #[cfg_attr(not(test), allow(dead_code))]
    Never,
}

/// [`parse_columns`] over the blocks `scans` found (of any size).
fn parse_columns_by(bytes: &[u8], scans: &[BlockScan], b: &mut Builder, bad: &mut BadRows, progress: Progress, presort: Presort) -> Result<bool, DataError> {
    let pieces: Vec<(usize, usize, usize)> = pieces_of(bytes, scans);
    let lines: Vec<usize> = pieces.iter().map(|p| p.2).collect();
    let pieces: Vec<&[u8]> = pieces.iter().map(|&(start, end, _)| &bytes[start..end]).collect();
    let total_lines: usize = lines.iter().sum();
    phases::mark("count lines");
    // Row numbers and offsets are 32-bit.
    if u32::try_from(total_lines).is_err() {
        return Ok(false);
    }
    let mut cols = Columns::with_room(total_lines);
    let mut slabs = Vec::with_capacity(pieces.len());
    {
        let (mut item, mut cat, mut ts, mut action) = cols.room();
        for &n in &lines {
            slabs.push(Slab {
                runs: Vec::with_capacity(n / 32 + 4),
                item: take_front(&mut item, n),
                cat: take_front(&mut cat, n),
                ts: take_front(&mut ts, n),
                action: take_front(&mut action, n),
                rows: 0,
                max: [0; 3],
                min_ts: u32::MAX,
                tally: Tally::default(),
                complete: true,
            });
        }
        slabs.par_iter_mut().zip(pieces.par_iter()).for_each(|(slab, piece)| slab.complete = parse_lines(piece, slab));
    }
    if slabs.iter().any(|s| !s.complete) {
        return Ok(false);
    }
    let max = |k: usize| slabs.iter().map(|s| s.max[k]).max().unwrap_or(0);
    let (max_user, max_item, max_cat) = (max(0), max(1), max(2));
    let min_ts = slabs.iter().map(|s| s.min_ts).min().unwrap_or(0);
    let summary: Vec<(usize, Tally, Vec<Run>)> = slabs.into_iter().map(|s| (s.rows, s.tally, s.runs)).collect();
    phases::mark("parse fields");
    if let Some(p) = progress {
        p(0.6);
    }
    let mut line_base = 0u64;
    for (_, t, _) in &summary {
        for (l, e) in &t.errors {
            bad.bad(line_base + l, e.clone())?;
        }
        line_base += t.lines;
    }
    // Close the gaps that bad and blank lines left, and put the runs in file rows (a
    // user's run may go on from one piece into the next).
    let (mut to, mut from) = (0usize, 0usize);
    let mut runs: Vec<Run> = Vec::with_capacity(summary.iter().map(|s| s.2.len()).sum());
    for (&n_lines, (rows, _, piece_runs)) in lines.iter().zip(&summary) {
        if to != from {
            cols.move_rows(from, *rows, to);
        }
        for &(u, r) in piece_runs {
            if runs.last().is_none_or(|run| run.0 != u) {
                runs.push((u, to as u32 + r));
            }
        }
        to += rows;
        from += n_lines;
    }
    drop(summary);
    // SAFETY: each slab wrote the first `rows` slots of its share and the moves above laid
    // those shares end to end from slot 0, so slots 0..to are all written.
    unsafe { cols.set_rows(to) };
    let total = to;
    let Columns { mut item, cat, mut ts, mut action } = cols;
    // Items (with each one's first category) on one thread; users and categories on another.
    let items_done = std::sync::atomic::AtomicBool::new(false);
    let ((items, item_raw_cat), (users, offsets, mut cats, presorted)) = rayon::join(
        || {
            let mut items = NumInterner::new(u64::from(max_item), total, total / 8 + 16);
            let mut raw_cat = Vec::new();
            items.intern_column(&mut item, |r| raw_cat.push(cat[r]));
            items_done.store(true, std::sync::atomic::Ordering::Relaxed);
            (items, raw_cat)
        },
        || {
            let mut users = NumInterner::new(u64::from(max_user), total, runs.len() + 16);
            // Each run's user id; the start row of each user while every user has one run.
            let mut offsets = Vec::with_capacity(runs.len() + 1);
            let mut grouped = true;
            for (u, _) in runs.iter_mut() {
                let seen = users.len();
                *u = users.intern(u64::from(*u));
                grouped &= *u as usize == seen;
            }
            if grouped {
                offsets.extend(runs.iter().map(|r| r.1));
                offsets.push(total as u32);
            }
            let mut cats = NumInterner::new(u64::from(max_cat), total, 1024);
            cats.intern_all(&cat);
            // This thread is done long before the items are: it sorts the first users'
            // times and actions meanwhile (not their items, which are being rewritten).
            let presorted = match presort {
                Presort::Never => Presorted::default(),
                _ if !grouped => Presorted::default(),
                _ => presort_users(&offsets, &mut ts, &mut action, || presort == Presort::Auto && items_done.load(std::sync::atomic::Ordering::Relaxed)),
            };
            (users, grouped.then_some(offsets), cats, presorted)
        },
    );
    drop(cat);
    phases::mark("intern ids");
    if let Some(p) = progress {
        p(0.8);
    }
    let item_cat: Vec<u32> = item_raw_cat.iter().map(|&k| cats.intern(u64::from(k))).collect();
    b.item_table.categories = cats.into_interner();
    // The name tables are written while the other cores sort.
    let names = || rayon::join(|| users.into_interner(), || items.into_interner());
    let (users, items) = match offsets {
        Some(offsets) => {
            let ((), names) = rayon::join(|| sort_users(&offsets, &mut ts, &mut item, &mut action, min_ts, &presorted), names);
            b.set_sorted(offsets, i64::from(min_ts), ts, item, action);
            names
        }
        None => {
            // Users interleave: the builder's counting sort groups them.
            let mut user = vec![0; total];
            for (k, &(u, start)) in runs.iter().enumerate() {
                let end = runs.get(k + 1).map_or(total, |r| r.1 as usize);
                user[start as usize..end].fill(u);
            }
            let millis = ts.iter().map(|&t| i64::from(t) * 1000).collect();
            b.set_core(user, millis, item, action);
            names()
        }
    };
    phases::mark("sort by time");
    set_tables(b, users, items, item_cat);
    Ok(true)
}

/// Hands the interned users and items to the builder, with the items table the
/// log itself describes: a category per item, no brand, no price.
fn set_tables(b: &mut Builder, users: super::Interner, items: super::Interner, item_cat: Vec<u32>) {
    b.users = users;
    b.items = items;
    let n_items = item_cat.len();
    b.item_table.described = vec![true; n_items];
    b.item_table.brand = vec![NONE; n_items];
    b.item_table.price = vec![f32::NAN; n_items];
    b.item_table.category = item_cat;
}

/// Parses a Taobao UserBehavior.csv into `b`; returns the content hash of its bytes
/// (`cache::bytes_hash`, the data fingerprint's part for the file), computed in the
/// parser's first pass.
///
/// The file is memory-mapped when it can be, and parsed by [`parse_columns`] straight
/// into the final columns; files it cannot hold (ids or times beyond 32 bits) and
/// files that cannot be mapped take the general path over [`Chunk`]s.
pub fn parse(path: &Path, b: &mut Builder, bad: &mut BadRows, progress: Progress) -> Result<u64, DataError> {
    parse_as(path, b, bad, progress, Route::Auto)
}

/// Which reader [`parse_as`] uses (tests pin the slower ones to compare them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Route {
    /// Mapped columns when possible, else mapped chunks, else read chunks.
    Auto,
    /// The general path over a memory map.
    #[cfg_attr(not(test), allow(dead_code))]
    MappedChunks,
    /// The general path reading the file in pieces (no map).
    ReadChunks,
}

fn parse_as(path: &Path, b: &mut Builder, bad: &mut BadRows, progress: Progress, route: Route) -> Result<u64, DataError> {
    let io = |e| DataError::io(path, e);
    let file = File::open(path).map_err(io)?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let map = if route == Route::ReadChunks { None } else { Mapped::new(&file) };
    if let Some(map) = map {
        let bytes: &[u8] = &map;
        let (done, hash) = if route == Route::Auto { parse_columns(bytes, b, bad, progress)? } else { (false, super::cache::bytes_hash(bytes)) };
        if !done {
            let bounds = split_bytes(bytes, threads);
            let chunks: Vec<Chunk> = bounds
                .par_windows(2)
                .map(|w| {
                    let mut c = Chunk::with_capacity((w[1] - w[0]) / BYTES_PER_ROW_GUESS);
                    parse_lines(&bytes[w[0]..w[1]], &mut c);
                    c
                })
                .collect();
            build_from_chunks(path, chunks, b, bad, progress)?;
        }
        map.release_in_background();
        return Ok(hash);
    }
    let len = file.metadata().map_err(io)?.len();
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
    build_from_chunks(path, chunks, b, bad, progress)?;
    Ok(hash)
}

/// The general path's second half: reports bad rows, interns, and hands file-order
/// columns to the builder (which groups and sorts them).
fn build_from_chunks(path: &Path, chunks: Vec<Chunk>, b: &mut Builder, bad: &mut BadRows, progress: Progress) -> Result<(), DataError> {
    if let Some(p) = progress {
        p(0.6);
    }
    let mut line_base = 0u64;
    for c in &chunks {
        for (l, e) in &c.tally.errors {
            bad.bad(line_base + l, e.clone())?;
        }
        line_base += c.tally.lines;
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
    set_tables(b, users.into_interner(), items.into_interner(), item_cat);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(c: &Chunk) -> (Vec<u64>, Vec<u64>, Vec<u64>, Vec<u8>, Vec<i64>, Vec<(u64, String)>, u64) {
        let ids = |x: &Ids| (0..x.len()).map(|i| x.get(i)).collect::<Vec<u64>>();
        (ids(&c.user), ids(&c.item), ids(&c.cat), c.action.clone(), c.secs.clone(), c.tally.errors.clone(), c.tally.lines)
    }

    /// A field of random length for the line fuzzer: digits mostly, sometimes junk.
    fn fuzz_field(rng: &mut crate::util::rng::Rng, max_digits: u64) -> String {
        let len = 1 + rng.below(max_digits) as usize;
        let mut f: String = (0..len).map(|_| char::from(b'0' + rng.below(10) as u8)).collect();
        match rng.below(40) {
            0 => f.clear(),
            1 => f.insert(rng.index(len + 1), ['x', '-', ' ', '/', ':', '\u{e9}'][rng.index(6)]),
            2 => f.push('\r'),
            _ => {}
        }
        f
    }

    /// A log of `n` random lines: mostly well-formed with ids of up to `id_digits` digits and
    /// times of up to `ts_digits`, some with junk, missing or extra fields, CRLF, blank lines.
    fn fuzz_log(seed: u64, n: usize, id_digits: u64, ts_digits: u64) -> String {
        let mut rng = crate::util::rng::Rng::new(seed);
        let mut text = String::new();
        for _ in 0..n {
            let action = ["pv", "buy", "fav", "cart", "pvx", "car", "", "PV", "buy ", "pv\0", "fa"][if rng.below(4) == 0 { rng.index(11) } else { rng.index(4) }];
            let mut fields = vec![fuzz_field(&mut rng, id_digits), fuzz_field(&mut rng, id_digits), fuzz_field(&mut rng, id_digits), action.to_string(), fuzz_field(&mut rng, ts_digits)];
            match rng.below(30) {
                0 => drop(fields.pop()),
                1 => fields.push("1".into()),
                _ => {}
            }
            text.push_str(&fields.join(","));
            text.push_str(["\n", "\r\n", "\n", "\n", "\r\r\n", "\n\n"][rng.index(6)]);
        }
        text
    }

    #[test]
    fn the_fast_parsers_agree_with_the_careful_one_on_every_line() {
        let text = fuzz_log(7, 20_000, 10, 13);
        let bytes = text.as_bytes();
        #[cfg(target_arch = "x86_64")]
        let avx2 = lines::avx2::available();
        let (mut at, mut fast, mut wide) = (0, 0, 0);
        while at < bytes.len() {
            let end = bytes[at..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| at + p);
            let line = &bytes[at..end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let careful = parse_fields(line).ok();
            let parts: Vec<&[u8]> = line.split(|&b| b == b',').collect();
            let ids_fit = parts.len() == 5 && parts[..3].iter().all(|p| p.len() <= 8) && !parts[4].starts_with(b"-");
            let show = || String::from_utf8_lossy(line).into_owned();
            // Ids of up to 8 digits and times of up to 11 are the word parser's to take.
            let within = ids_fit && parts[4].len() <= 11 && at + lines::LINE_WINDOW <= bytes.len();
            match lines::fast_line(bytes, at) {
                Some((f, next)) => {
                    fast += 1;
                    assert_eq!(Some(f), careful, "line {:?}", show());
                    assert_eq!(next, end + 1);
                }
                None => assert!(careful.is_none() || !within, "word parser declined {:?}", show()),
            }
            // The AVX2 parser takes times of up to 11 digits, lines of up to 63 bytes.
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                let within = ids_fit && parts[4].len() <= 11 && end - at < 64;
                let window = bytes.get(at..at + lines::avx2::WINDOW).and_then(|w| <&[u8; lines::avx2::WINDOW]>::try_from(w).ok());
                // SAFETY: `avx2` says the CPU has the features.
                match window.and_then(|w| unsafe { lines::avx2::line(w) }) {
                    Some((f, len)) => {
                        wide += 1;
                        assert_eq!(Some(f), careful, "line {:?}", show());
                        assert_eq!(at + len, end + 1);
                    }
                    None => assert!(careful.is_none() || !within || window.is_none(), "AVX2 parser declined {:?}", show()),
                }
            }
            at = end + 1;
        }
        assert!(fast > 4_000, "{fast}");
        #[cfg(target_arch = "x86_64")]
        assert!(!avx2 || wide > 4_000, "{wide}");
        let _ = wide;
    }

    #[test]
    fn whole_logs_parse_the_same_with_either_fast_parser() {
        for (seed, id_digits, ts_digits) in [(1, 8, 10), (2, 10, 17), (3, 3, 16)] {
            let text = fuzz_log(seed, 5_000, id_digits, ts_digits);
            let mut portable = Chunk::default();
            assert!(parse_lines_by(text.as_bytes(), &mut portable, lines::word_lines));
            let mut careful = Chunk::default();
            assert!(parse_lines_by(text.as_bytes(), &mut careful, |_, at, _| Some(at)));
            assert_eq!(columns(&portable), columns(&careful), "seed {seed}");
            #[cfg(target_arch = "x86_64")]
            if lines::avx2::available() {
                let mut avx2 = Chunk::default();
                // SAFETY: the CPU has the features (checked above).
                assert!(parse_lines_by(text.as_bytes(), &mut avx2, |b, at, s| unsafe { lines::avx2::lines(b, at, s) }));
                assert_eq!(columns(&avx2), columns(&careful), "seed {seed}");
            }
        }
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
        assert!(parse_lines(text.as_bytes(), &mut whole));
        assert_eq!(whole.tally.errors.len(), 16, "{:?}", whole.tally.errors);
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
                lines += c.tally.lines;
                users.extend((0..c.user.len()).map(|i| c.user.get(i)));
            }
            assert_eq!((lines, users), (want.6, want.0.clone()), "{parts} parts");
        }
    }

    /// A Taobao-shaped log: `users` users of 1..12 rows, times from a small range (ties),
    /// grouped by user or shuffled, with `odd` sprinkled bad, blank and CRLF lines.
    fn log(seed: u64, users: u64, grouped: bool, odd: bool) -> String {
        let mut rng = crate::util::Rng::new(seed);
        let mut lines = Vec::new();
        for u in 0..users {
            for _ in 0..1 + rng.below(12) {
                let item = rng.below(40);
                let beh = ["pv", "fav", "cart", "buy"][rng.index(4)];
                lines.push(format!("{},{item},{},{beh},{}", u * 97 % 1000, item % 7, 1_511_000_000 + rng.below(6)));
            }
        }
        if !grouped {
            for i in (1..lines.len()).rev() {
                lines.swap(i, rng.index(i + 1));
            }
        }
        let mut text = String::new();
        for (i, l) in lines.iter().enumerate() {
            match (odd, i % 23) {
                (true, 3) => text.push_str("1,2,3,click,4\n"),
                (true, 8) => text.push('\n'),
                (true, 13) => text.push_str("x,1,1,pv,1511000000\n"),
                _ => {}
            }
            text.push_str(l);
            text.push_str(if odd && i % 19 == 5 { "\r\n" } else { "\n" });
        }
        text
    }

    /// The dataset, bad-row report and hash of `path` through `route`.
    fn load_by(path: &Path, route: Route) -> (crate::data::Dataset, u64, Vec<String>, u64) {
        let mut b = Builder::new();
        let mut bad = BadRows::new(path, false);
        let hash = parse_as(path, &mut b, &mut bad, None, route).unwrap();
        (b.finish(crate::data::Format::Taobao, path).unwrap(), bad.skipped, bad.examples, hash)
    }

    /// Rows of user `u` as (user name, item name, action, absolute time).
    fn named_rows(d: &crate::data::Dataset) -> Vec<(String, String, u8, i64)> {
        (0..d.n_users() as u32)
            .flat_map(|u| d.user_range(u).map(move |r| (d.users.name(u).to_string(), d.items.name(d.item[r]).to_string(), d.action[r], d.time(r))))
            .collect()
    }

    #[test]
    fn mapped_columns_match_the_general_path_and_an_independent_sort() {
        let dir = tempfile::tempdir().unwrap();
        for (k, (grouped, odd, tail)) in [(true, false, "\n"), (true, true, ""), (false, true, "\n"), (false, false, ""), (true, true, "\r\n")].into_iter().enumerate() {
            let mut text = log(k as u64, 300, grouped, odd);
            // Vary the ending: with a newline, without one, or CRLF.
            text.truncate(text.len() - if text.ends_with("\r\n") { 2 } else { 1 });
            text.push_str(tail);
            let p = dir.path().join(format!("t{k}.csv"));
            std::fs::write(&p, &text).unwrap();
            let fast = load_by(&p, Route::Auto);
            assert_eq!(fast.3, crate::data::cache::bytes_hash(text.as_bytes()));
            for route in [Route::MappedChunks, Route::ReadChunks] {
                assert!(fast == load_by(&p, route), "case {k}: {route:?} differs");
            }
            // Many small pieces: gaps from bad lines are closed, line numbers carry over;
            // however many users are sorted while the items are interned.
            for presort in [Presort::All, Presort::Never] {
                let mut b = Builder::new();
                let mut bad = BadRows::new(&p, false);
                assert!(parse_columns_by(text.as_bytes(), &scan_blocks(text.as_bytes(), 64), &mut b, &mut bad, None, presort).unwrap());
                let d = b.finish(crate::data::Format::Taobao, &p).unwrap();
                assert!(d == fast.0 && (bad.skipped, &bad.examples) == (fast.1, &fast.2), "case {k}: small pieces differ ({presort:?})");
            }
            // Independently: good rows in file order, grouped by first-seen user, stable by time.
            let mut want: Vec<(String, String, u8, i64)> = Vec::new();
            let mut order: Vec<String> = Vec::new();
            let mut skipped = 0;
            for line in text.lines() {
                let f: Vec<&str> = line.split(',').collect();
                let beh = f.get(3).and_then(|b| ["", "pv", "cart", "fav", "buy"].iter().position(|x| x == b));
                match (f.len(), f[0].parse::<u64>(), beh) {
                    (5, Ok(_), Some(a)) if a > 0 => {
                        if !order.iter().any(|u| u == f[0]) {
                            order.push(f[0].to_string());
                        }
                        want.push((f[0].to_string(), f[1].to_string(), a as u8, f[4].parse().unwrap()));
                    }
                    (1, _, _) if line.is_empty() => {}
                    _ => skipped += 1,
                }
            }
            want.sort_by_key(|r| (order.iter().position(|u| *u == r.0).unwrap(), r.3));
            assert_eq!(named_rows(&fast.0), want, "case {k}");
            assert_eq!(fast.1, skipped, "case {k}");
            if odd {
                assert!(fast.2[0].ends_with(":4: unknown behavior `click`"), "{:?}", fast.2);
            }
        }
    }

    #[test]
    fn presorted_and_big_users_sort_like_the_general_path() {
        use std::fmt::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let mut rng = crate::util::Rng::new(5);
        let mut text = String::new();
        // Around the sorting network's 256 rows, many ties, and spans too wide for its keys.
        for (u, (n, span)) in [(1, 10), (2, 1), (255, 50), (256, 1000), (257, 5), (600, 100_000), (40, 1 << 28), (3, 3), (9, 1 << 31)].into_iter().enumerate() {
            for _ in 0..n {
                let _ = writeln!(text, "{u},{},{},pv,{}", rng.below(500), rng.below(9), 1_000_000_000 + rng.below(span));
            }
        }
        let p = dir.path().join("big.csv");
        std::fs::write(&p, &text).unwrap();
        let general = load_by(&p, Route::ReadChunks);
        for presort in [Presort::All, Presort::Never, Presort::Auto] {
            let mut b = Builder::new();
            let mut bad = BadRows::new(&p, false);
            assert!(parse_columns_by(text.as_bytes(), &scan_blocks(text.as_bytes(), 1000), &mut b, &mut bad, None, presort).unwrap());
            let d = b.finish(crate::data::Format::Taobao, &p).unwrap();
            assert!(d == general.0, "{presort:?}");
        }
    }

    #[test]
    fn fuzzed_logs_parse_the_same_through_columns_and_the_general_path() {
        let dir = tempfile::tempdir().unwrap();
        for seed in 0..3 {
            // Ids and times of up to 9 digits always fit the 32-bit columns; negative times
            // (which take the general path) become bad rows.
            let text = fuzz_log(seed, 3_000, 9, 9).replace(",-", ",x-");
            let p = dir.path().join(format!("f{seed}.csv"));
            std::fs::write(&p, &text).unwrap();
            let general = load_by(&p, Route::ReadChunks);
            // Blocks shorter than a line, about a line, many lines, the whole file.
            for (piece, presort) in [(7, Presort::All), (64, Presort::Never), (1000, Presort::All), (1 << 20, Presort::Auto)] {
                let mut b = Builder::new();
                let mut bad = BadRows::new(&p, false);
                assert!(parse_columns_by(text.as_bytes(), &scan_blocks(text.as_bytes(), piece), &mut b, &mut bad, None, presort).unwrap(), "seed {seed} piece {piece}");
                let d = b.finish(crate::data::Format::Taobao, &p).unwrap();
                assert!(d == general.0, "seed {seed} piece {piece}: datasets differ");
                assert_eq!((bad.skipped, &bad.examples), (general.1, &general.2), "seed {seed} piece {piece}");
            }
            assert!(general.1 > 100 && general.0.n_behaviors() > 1_000, "{} skipped", general.1);
        }
    }

    #[test]
    fn wide_values_and_empty_files_take_the_general_path() {
        let dir = tempfile::tempdir().unwrap();
        for (k, text) in ["1,5000000000,2,pv,1511000000\n1,3,2,buy,1511000001\n", "1,3,2,pv,-5\n1,4,2,pv,-7\n2,3,2,fav,1511000000", ""].into_iter().enumerate() {
            let p = dir.path().join(format!("w{k}.csv"));
            std::fs::write(&p, text).unwrap();
            let mut b = Builder::new();
            let mut bad = BadRows::new(&p, false);
            if !text.is_empty() {
                assert!(!parse_columns_by(text.as_bytes(), &scan_blocks(text.as_bytes(), 64), &mut b, &mut bad, None, Presort::Auto).unwrap(), "case {k} does not fit 32 bits");
                assert!(b.is_empty() && bad.skipped == 0, "a refused fast parse changes nothing");
            }
            let fast = load_by(&p, Route::Auto);
            assert_eq!(fast.3, crate::data::cache::bytes_hash(text.as_bytes()));
            assert!(fast == load_by(&p, Route::ReadChunks), "case {k}");
            assert_eq!(fast.0.n_behaviors(), text.lines().count());
        }
        let d = load_by(&dir.path().join("w1.csv"), Route::Auto).0;
        assert_eq!((d.base_ts, d.time(0), d.time(1)), (-7, -7, -5), "negative times sort too");
    }

}
