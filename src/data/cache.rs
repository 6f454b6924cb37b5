//! The binary cache of a parsed log, so reopening skips parsing.
//!
//! Layout (little-endian): magic, format version, key (source size, mtime and a
//! sampled content hash, plus the load options), payload length, checksum, four zero
//! bytes, payload. The payload is length-prefixed sections (see `LAYOUT`), each padded
//! with zeros to a multiple of 8 bytes, so every section starts 8-byte aligned in the
//! file; the checksum is xxh3 over each section's length and the xxh3 of each of its
//! 256 KiB blocks, so a reopen verifies the file on all cores in one pass. A mapped
//! cache lends the per-behaviour columns straight to the dataset ([`decode_mapped`]:
//! no copy, no fresh memory); the small sections are copied. A wrong magic, version,
//! key, checksum or padding, or a short file, means "rebuild": a cache is never
//! trusted blindly. Written to a temp file and renamed, so a killed process never
//! leaves a half-written cache (and a dataset still viewing the old file keeps it).

use super::column::{Column, SharedMap};
use super::{Dataset, Format, Interner, ItemTable, LoadReport, StrPool};
use rayon::prelude::*;
use std::borrow::Cow;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

const MAGIC: &[u8; 8] = b"LUMCACHE";
/// Bump when the payload layout or parsing semantics change.
pub const CACHE_VERSION: u32 = 4;
/// Bytes hashed at each of the sampled positions of the source.
const SAMPLE_BYTES: u64 = 1 << 16;

/// Identity of a source file as the cache sees it.
pub fn source_key(path: &Path, options: &str) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    let mtime = meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    let mut h = Xxh3::new();
    h.update(&CACHE_VERSION.to_le_bytes());
    h.update(&meta.len().to_le_bytes());
    h.update(&mtime.to_le_bytes());
    h.update(options.as_bytes());
    // Sampled content hash: head, middle and tail blocks (hashing a 300 MB file in
    // full would cost more than the cached reopen itself).
    let mut f = std::fs::File::open(path)?;
    let len = meta.len();
    let mut buf = vec![0u8; SAMPLE_BYTES as usize];
    for start in [0, len / 2, len.saturating_sub(SAMPLE_BYTES)] {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(start))?;
        let n = Read::by_ref(&mut f).take(SAMPLE_BYTES).read(&mut buf)?;
        h.update(&buf[..n]);
    }
    Ok(h.digest())
}

/// Version of [`content_fingerprint`]'s recipe (1: one xxh3 over the whole file; 2: [`file_hash`]).
const FINGERPRINT_VERSION: u32 = 2;
/// The blocks [`file_hash`] hashes one by one (so the parsers can hash them in parallel).
pub const HASH_BLOCK: usize = 256 << 10;

/// Hash of every byte of `source` (and of `items` when given) plus `options`: the
/// identity of a parsed input that survives copying, cloning and touching the files.
/// `source_hash` is [`file_hash`] of the source when the caller has already read it.
pub fn content_fingerprint(source: &Path, source_hash: Option<u64>, items: Option<&Path>, options: &str) -> std::io::Result<u64> {
    let first = match source_hash {
        Some(x) => x,
        None => file_hash(source)?,
    };
    Ok(fingerprint_of(FINGERPRINT_VERSION, first, items.map(file_hash).transpose()?, options))
}

fn fingerprint_of(version: u32, source_hash: u64, items_hash: Option<u64>, options: &str) -> u64 {
    let mut h = Xxh3::new();
    h.update(&version.to_le_bytes());
    h.update(&source_hash.to_le_bytes());
    if let Some(x) = items_hash {
        h.update(&x.to_le_bytes());
    }
    h.update(options.as_bytes());
    h.digest()
}

/// [`content_fingerprint`] as version 1 made it (runs trained then recorded these); costs a
/// sequential read of the files, so it is only asked for when the current one differs.
pub fn legacy_fingerprint(source: &Path, items: Option<&Path>, options: &str) -> std::io::Result<u64> {
    let whole = |path: &Path| -> std::io::Result<u64> {
        let mut h = Xxh3::new();
        let mut buf = vec![0u8; HASH_BLOCK];
        let mut f = std::fs::File::open(path)?;
        loop {
            match f.read(&mut buf)? {
                0 => return Ok(h.digest()),
                n => h.update(&buf[..n]),
            }
        }
    };
    Ok(fingerprint_of(1, whole(source)?, items.map(whole).transpose()?, options))
}

/// The content hash of a file's bytes: xxh3 of each [`HASH_BLOCK`] bytes, then xxh3 of
/// those hashes and the length. Blocks let the parsers hash a mapped file on all cores,
/// in the same pass that counts its lines.
pub fn bytes_hash(bytes: &[u8]) -> u64 {
    combine_block_hashes(bytes.chunks(HASH_BLOCK).map(xxh3_64), bytes.len() as u64)
}

/// The last step of [`bytes_hash`], from the hashes of its blocks in order.
pub fn combine_block_hashes(blocks: impl Iterator<Item = u64>, len: u64) -> u64 {
    let mut h = Xxh3::new();
    for x in blocks {
        h.update(&x.to_le_bytes());
    }
    h.update(&len.to_le_bytes());
    h.digest()
}

/// [`bytes_hash`] of a file, read a block at a time.
pub fn file_hash(path: &Path) -> std::io::Result<u64> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; HASH_BLOCK];
    let (mut blocks, mut len) = (Vec::new(), 0u64);
    loop {
        // Fill the whole block (a read may return less) unless the file ends.
        let mut n = 0;
        while n < HASH_BLOCK {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        if n == 0 {
            return Ok(combine_block_hashes(blocks.into_iter(), len));
        }
        blocks.push(xxh3_64(&buf[..n]));
        len += n as u64;
    }
}

/// Where the cache of `source` lives: beside it, or under the user cache dir when
/// the source's folder is read-only.
pub fn cache_paths(source: &Path) -> (PathBuf, PathBuf) {
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let beside = source.with_file_name(format!("{name}.lumcache"));
    let abs = std::fs::canonicalize(source).unwrap_or_else(|_| source.to_path_buf());
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    let fallback = base.join("lumlab").join(format!("{:016x}-{name}.lumcache", xxh3_64(abs.to_string_lossy().as_bytes())));
    (beside, fallback)
}

/// Every section starts at a multiple of this many bytes in the file (header included).
const ALIGN: usize = 8;
/// Bytes before the payload: magic, version, key, payload length, checksum, zero padding.
const HEADER: usize = 40;

/// Bytes per checksummed block. Each payload section is hashed block by block and the
/// header's checksum is the hash of the sections' lengths and block hashes, so a reopen
/// verifies and copies blocks on several threads, each block while it is still in cache.
const BLOCK: usize = 1 << 18;
/// Blocks per unit of work on reopen (small enough to balance the threads).
const PIECE_BLOCKS: usize = 8;

/// How a payload section is decoded.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Read in place (small: the report, the format byte, the base time).
    Raw,
    U8,
    I8,
    U32,
    F32,
}

/// The payload's sections in the order [`encode`] writes them (a pool is its buffer, then its offsets).
const LAYOUT: [Kind; 28] = {
    use Kind::*;
    [
        Raw, Raw, Raw, // report, format, base_ts
        U8, U32, U8, U32, U8, U32, // users, items, queries pools
        U32, U32, U32, U8, U32, U8, U8, I8, F32, // user_offsets, ts, item, action, query, scenario, position, label, rating
        U8, U32, U8, U32, U8, U32, // titles, categories, brands pools
        U32, U32, F32, U8, // category, brand, price, described
    ]
};
/// The section of the items pool's offsets (its length gives the item count).
const ITEMS_OFFSETS: usize = 6;
/// The section of the per-behaviour item column (every id must name an item).
const ITEM_COLUMN: usize = 11;
/// The per-behaviour columns (user offsets through ratings): viewed in place in a mapped cache.
const IN_PLACE: std::ops::RangeInclusive<usize> = 9..=17;

/// The payload's sections, split at their length prefixes; `None` if they overrun, if
/// their padding is not zeros, or if they do not end exactly at the payload's end.
fn sections(mut p: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::with_capacity(LAYOUT.len());
    while !p.is_empty() {
        let n = usize::try_from(u64::from_le_bytes(p.get(..8)?.try_into().ok()?)).ok()?;
        let end = 8usize.checked_add(n)?;
        let padded = end.next_multiple_of(ALIGN);
        out.push(p.get(8..end)?);
        if p.get(end..padded)?.iter().any(|&b| b != 0) {
            return None;
        }
        p = &p[padded..];
    }
    Some(out)
}

/// The checksum of a payload from its sections and the xxh3 of each [`BLOCK`] of them, in order.
fn digest(sections: &[&[u8]], block_hashes: &[u64]) -> u64 {
    let mut h = Xxh3::new();
    let mut k = 0;
    for s in sections {
        h.update(&(s.len() as u64).to_le_bytes());
        let n = s.len().div_ceil(BLOCK);
        for x in block_hashes.get(k..k + n).unwrap_or(&[]) {
            h.update(&x.to_le_bytes());
        }
        k += n;
    }
    h.digest()
}

/// The payload's sections in [`LAYOUT`] order, borrowed from the dataset where they can be.
fn payload_sections<'a>(d: &'a Dataset, report: &LoadReport) -> Vec<Cow<'a, [u8]>> {
    let b = |x: &'a [u8]| Cow::Borrowed(x);
    let u32s = |x: &'a [u32]| Cow::Borrowed(bytemuck::cast_slice(x));
    let f32s = |x: &'a [f32]| Cow::Borrowed(bytemuck::cast_slice(x));
    let pool = |p: &'a StrPool| {
        let (buf, offs) = p.parts();
        [b(buf.as_bytes()), u32s(offs)]
    };
    let t = &d.item_table;
    let mut out = vec![
        Cow::Owned(serde_json::to_string(report).unwrap_or_default().into_bytes()),
        Cow::Owned(vec![d.format as u8]),
        Cow::Owned(d.base_ts.to_le_bytes().to_vec()),
    ];
    out.extend(pool(d.users.names()));
    out.extend(pool(d.items.names()));
    out.extend(pool(d.queries.names()));
    out.extend([u32s(&d.user_offsets), u32s(&d.ts), u32s(&d.item), b(&d.action), u32s(&d.query), b(&d.scenario), b(&d.position), b(bytemuck::cast_slice(&d.label)), f32s(&d.rating)]);
    out.extend(pool(&t.titles));
    out.extend(pool(t.categories.names()));
    out.extend(pool(t.brands.names()));
    out.extend([u32s(&t.category), u32s(&t.brand), f32s(&t.price), Cow::Owned(t.described.iter().map(|&x| x as u8).collect())]);
    debug_assert_eq!(out.len(), LAYOUT.len(), "payload_sections and LAYOUT disagree");
    out
}

/// Writes the cache file of a dataset and its load report to `out`, straight from the
/// dataset's columns (the blocks are hashed on all cores first; nothing is copied).
pub fn write_cache(out: &mut impl Write, key: u64, d: &Dataset, report: &LoadReport) -> std::io::Result<()> {
    let parts = payload_sections(d, report);
    let parts: Vec<&[u8]> = parts.iter().map(|p| &**p).collect();
    let hashes: Vec<u64> = parts.par_iter().flat_map(|s| s.par_chunks(BLOCK)).map(xxh3_64).collect();
    let checksum = digest(&parts, &hashes);
    let padded = |n: usize| (8 + n).next_multiple_of(ALIGN);
    let payload: usize = parts.iter().map(|s| padded(s.len())).sum();
    let mut header = Vec::with_capacity(HEADER);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&CACHE_VERSION.to_le_bytes());
    header.extend_from_slice(&key.to_le_bytes());
    header.extend_from_slice(&(payload as u64).to_le_bytes());
    header.extend_from_slice(&checksum.to_le_bytes());
    header.resize(HEADER, 0);
    out.write_all(&header)?;
    for s in parts {
        out.write_all(&(s.len() as u64).to_le_bytes())?;
        out.write_all(s)?;
        out.write_all(&[0; ALIGN][..padded(s.len()) - 8 - s.len()])?;
    }
    Ok(())
}

/// The cache file of a dataset and its load report, in memory.
pub fn encode(key: u64, d: &Dataset, report: &LoadReport) -> Vec<u8> {
    let mut out = Vec::with_capacity(d.column_bytes() + 1024);
    // Writing into a vector cannot fail.
    let _ = write_cache(&mut out, key, d, report);
    out
}

/// Why a cache file was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    Absent,
    Stale,
    Corrupt,
}

/// Decodes a cache file's bytes, copying every column out; any inconsistency is a
/// miss, never a panic. Nothing decoded is returned unless the whole payload matches
/// its checksum.
pub fn decode(bytes: &[u8], key: u64) -> Result<(Dataset, LoadReport), Miss> {
    decode_in(bytes, key, None)
}

/// [`decode`] for a mapped cache file: the per-behaviour columns view the mapping
/// (which they keep alive) instead of being copied.
pub fn decode_mapped(map: &SharedMap, key: u64) -> Result<(Dataset, LoadReport), Miss> {
    decode_in(map.bytes(), key, Some(map))
}

/// [`decode`], viewing the per-behaviour columns in `map` (whose bytes `bytes` are) when given.
fn decode_in(bytes: &[u8], key: u64, map: Option<&SharedMap>) -> Result<(Dataset, LoadReport), Miss> {
    if cfg!(target_endian = "big") {
        return Err(Miss::Stale);
    }
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(Miss::Corrupt);
    }
    let le64 = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
    if u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])) != CACHE_VERSION || le64(12) != key {
        return Err(Miss::Stale);
    }
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != le64(20) || bytes[36..HEADER] != [0; 4] {
        return Err(Miss::Corrupt);
    }
    let parts = sections(payload).filter(|p| p.len() == LAYOUT.len()).ok_or(Miss::Corrupt)?;
    let mut cols = verify_and_copy(&parts, le64(28), map.is_some()).ok_or(Miss::Corrupt)?;
    assemble(&parts, &mut cols, map.map(|m| (m, bytes.as_ptr() as usize))).ok_or(Miss::Corrupt)
}

/// A section's decoded column, filled in place by the copying threads.
enum Col {
    /// Read from the section's bytes (small sections, and columns viewed in a mapping).
    Raw,
    U8(Vec<u8>),
    I8(Vec<i8>),
    U32(Vec<u32>),
    F32(Vec<f32>),
}

/// The uninitialised room of a fresh vector for `bytes` bytes of elements.
fn room<T: bytemuck::Pod>(v: &mut Vec<T>, bytes: usize) -> &mut [MaybeUninit<u8>] {
    let spare = v.spare_capacity_mut();
    let len = std::mem::size_of_val(spare).min(bytes);
    // SAFETY: the spare capacity is at least `len` writable bytes owned by `v` and borrowed
    // for the view's lifetime; `MaybeUninit<u8>` has no alignment or validity requirement.
    unsafe { std::slice::from_raw_parts_mut(spare.as_mut_ptr().cast::<MaybeUninit<u8>>(), len) }
}

/// Marks the first `bytes` bytes of `v`'s capacity as its elements.
///
/// SAFETY: the caller wrote every one of those bytes through [`room`]; `T` is plain old data,
/// so any bytes are a valid value.
unsafe fn filled<T: bytemuck::Pod>(v: &mut Vec<T>, bytes: usize) {
    let n = bytes / std::mem::size_of::<T>();
    debug_assert!(n <= v.capacity());
    // SAFETY: see the function's contract.
    unsafe { v.set_len(n) }
}

impl Col {
    /// A column with room for a section of `bytes`; `None` if it is not a whole number of elements.
    fn new(kind: Kind, bytes: usize) -> Option<Col> {
        let whole = |size: usize| bytes.is_multiple_of(size).then_some(bytes / size);
        Some(match kind {
            Kind::Raw => Col::Raw,
            Kind::U8 => Col::U8(Vec::with_capacity(bytes)),
            Kind::I8 => Col::I8(Vec::with_capacity(bytes)),
            Kind::U32 => Col::U32(Vec::with_capacity(whole(4)?)),
            Kind::F32 => Col::F32(Vec::with_capacity(whole(4)?)),
        })
    }
    fn room(&mut self, bytes: usize) -> Option<&mut [MaybeUninit<u8>]> {
        match self {
            Col::Raw => None,
            Col::U8(v) => Some(room(v, bytes)),
            Col::I8(v) => Some(room(v, bytes)),
            Col::U32(v) => Some(room(v, bytes)),
            Col::F32(v) => Some(room(v, bytes)),
        }
    }
    /// SAFETY: as [`filled`]: all `bytes` of the room were written.
    unsafe fn filled(&mut self, bytes: usize) {
        // SAFETY: forwarded contract.
        unsafe {
            match self {
                Col::Raw => {}
                Col::U8(v) => filled(v, bytes),
                Col::I8(v) => filled(v, bytes),
                Col::U32(v) => filled(v, bytes),
                Col::F32(v) => filled(v, bytes),
            }
        }
    }
    fn take_u8(&mut self) -> Option<Vec<u8>> {
        match std::mem::replace(self, Col::Raw) {
            Col::U8(v) => Some(v),
            _ => None,
        }
    }
    fn take_u32(&mut self) -> Option<Vec<u32>> {
        match std::mem::replace(self, Col::Raw) {
            Col::U32(v) => Some(v),
            _ => None,
        }
    }
    fn take_f32(&mut self) -> Option<Vec<f32>> {
        match std::mem::replace(self, Col::Raw) {
            Col::F32(v) => Some(v),
            _ => None,
        }
    }
    fn take_i8(&mut self) -> Option<Vec<i8>> {
        match std::mem::replace(self, Col::Raw) {
            Col::I8(v) => Some(v),
            _ => None,
        }
    }
}

/// Up to [`PIECE_BLOCKS`] blocks of one section: hashed, bound-checked and copied by one thread.
struct Piece<'a> {
    src: &'a [u8],
    dst: Option<&'a mut [MaybeUninit<u8>]>,
    hashes: &'a mut [u64],
    /// Every little-endian u32 of `src` must be below this.
    bound: Option<u32>,
}

impl Piece<'_> {
    /// Does the work; false when a value is out of bounds.
    fn run(self) -> bool {
        let mut dst = self.dst;
        for (k, (block, h)) in self.src.chunks(BLOCK).zip(self.hashes.iter_mut()).enumerate() {
            *h = xxh3_64(block);
            let copy = dst.as_deref_mut().map(|d| &*d[k * BLOCK..k * BLOCK + block.len()].write_copy_of_slice(block));
            if let Some(b) = self.bound {
                // Checked on aligned bytes (the copy, or the section itself) while they are in
                // cache; an or-reduction (rather than an early-exit `any`) vectorises.
                let out_of_range = match bytemuck::try_cast_slice::<u8, u32>(copy.unwrap_or(block)) {
                    Ok(v) => v.iter().fold(false, |acc, &x| acc | (x >= b)),
                    Err(_) => block.chunks_exact(4).any(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) >= b),
                };
                if out_of_range {
                    return false;
                }
            }
        }
        true
    }
}

/// Hashes every block of the payload's sections and copies the columns into fresh vectors
/// (not the per-behaviour ones when `in_place`), on all cores; `None` unless the checksum
/// matches and every item id names an item.
fn verify_and_copy(parts: &[&[u8]], checksum: u64, in_place: bool) -> Option<Vec<Col>> {
    let kind = |i: usize, k: Kind| if in_place && IN_PLACE.contains(&i) { Kind::Raw } else { k };
    let mut cols = parts.iter().zip(LAYOUT).enumerate().map(|(i, (s, k))| Col::new(kind(i, k), s.len())).collect::<Option<Vec<Col>>>()?;
    let n_items = u32::try_from((parts[ITEMS_OFFSETS].len() / 4).saturating_sub(1)).ok()?;
    let mut hashes = vec![0u64; parts.iter().map(|s| s.len().div_ceil(BLOCK)).sum()];
    let mut pieces = Vec::new();
    let mut rest: &mut [u64] = &mut hashes;
    for (i, (col, src)) in cols.iter_mut().zip(parts).enumerate() {
        let (mine, tail) = rest.split_at_mut(src.len().div_ceil(BLOCK));
        rest = tail;
        let bound = (i == ITEM_COLUMN).then_some(n_items);
        let mut dst = col.room(src.len()).map(|r| r.chunks_mut(BLOCK * PIECE_BLOCKS));
        for (src, hashes) in src.chunks(BLOCK * PIECE_BLOCKS).zip(mine.chunks_mut(PIECE_BLOCKS)) {
            let dst = match dst.as_mut() {
                Some(it) => Some(it.next()?),
                None => None,
            };
            pieces.push(Piece { src, dst, hashes, bound });
        }
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(pieces.len()).max(1);
    let queue = std::sync::Mutex::new(pieces.into_iter());
    let failed = std::sync::atomic::AtomicBool::new(false);
    let work = || {
        use std::sync::atomic::Ordering::Relaxed;
        while !failed.load(Relaxed) {
            let next = match queue.lock() {
                Ok(mut q) => q.next(),
                Err(_) => None,
            };
            let Some(piece) = next else { return };
            if !piece.run() {
                failed.store(true, Relaxed);
            }
        }
    };
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
    // Every piece ran (none failed, none left) before the columns may be marked filled.
    let left = queue.into_inner().map(|mut q| q.next().is_some()).unwrap_or(true);
    if failed.into_inner() || left || digest(parts, &hashes) != checksum {
        return None;
    }
    for (col, src) in cols.iter_mut().zip(parts) {
        // SAFETY: every piece ran to completion, and the pieces of a section cover its room.
        unsafe { col.filled(src.len()) }
    }
    Some(cols)
}

fn pool(cols: &mut [Col], at: usize) -> Option<StrPool> {
    let buf = String::from_utf8(cols[at].take_u8()?).ok()?;
    StrPool::from_parts(buf, cols[at + 1].take_u32()?)
}

fn interner(cols: &mut [Col], at: usize) -> Option<Interner> {
    Some(Interner::from_pool(pool(cols, at)?))
}

/// Section `i` as a per-behaviour column: a view into `map` (given with the address its
/// bytes start at) when the section was left in place, else the copied vector.
fn column<T: bytemuck::Pod>(parts: &[&[u8]], c: &mut [Col], i: usize, map: Option<(&SharedMap, usize)>, take: fn(&mut Col) -> Option<Vec<T>>) -> Option<Column<T>> {
    match (&c[i], map) {
        (Col::Raw, Some((m, base))) => {
            let s = parts[i];
            let size = std::mem::size_of::<T>();
            if !s.len().is_multiple_of(size) {
                return None;
            }
            Column::mapped(m, (s.as_ptr() as usize).checked_sub(base)?, s.len() / size)
        }
        _ => take(&mut c[i]).map(Column::from),
    }
}

/// Builds the dataset from verified columns, with structural checks beyond the checksum;
/// with `map`, the per-behaviour columns view it (see [`column`]).
fn assemble(parts: &[&[u8]], c: &mut [Col], map: Option<(&SharedMap, usize)>) -> Option<(Dataset, LoadReport)> {
    let report: LoadReport = serde_json::from_slice(parts[0]).ok()?;
    let format = match parts[1].first()? {
        0 => Format::Native,
        1 => Format::Taobao,
        2 => Format::MovieLens,
        3 => Format::Sasrec,
        4 => Format::Alimama,
        _ => return None,
    };
    let base_ts = i64::from_le_bytes(parts[2].try_into().ok()?);
    let users = interner(c, 3)?;
    let items = interner(c, 5)?;
    let queries = interner(c, 7)?;
    let item_table = ItemTable {
        titles: pool(c, 18)?,
        categories: interner(c, 20)?,
        brands: interner(c, 22)?,
        category: c[24].take_u32()?,
        brand: c[25].take_u32()?,
        price: c[26].take_f32()?,
        described: c[27].take_u8()?.into_iter().map(|b| b != 0).collect(),
    };
    let d = Dataset {
        format,
        users,
        items,
        queries,
        user_offsets: column(parts, c, 9, map, Col::take_u32)?,
        base_ts,
        ts: column(parts, c, 10, map, Col::take_u32)?,
        item: column(parts, c, 11, map, Col::take_u32)?,
        action: column(parts, c, 12, map, Col::take_u8)?,
        query: column(parts, c, 13, map, Col::take_u32)?,
        scenario: column(parts, c, 14, map, Col::take_u8)?,
        position: column(parts, c, 15, map, Col::take_u8)?,
        label: column(parts, c, 16, map, Col::take_i8)?,
        rating: column(parts, c, 17, map, Col::take_f32)?,
        item_table,
    };
    // A cache from a buggy writer must not cause panics later (item ids were bounded while copying).
    let n = d.item.len();
    let ok = d.user_offsets.len() == d.users.len() + 1
        && d.user_offsets.first() == Some(&0)
        && d.user_offsets.last().map(|&x| x as usize) == Some(n)
        && d.user_offsets.windows(2).all(|w| w[0] <= w[1])
        && d.ts.len() == n
        && d.action.len() == n
        && [d.query.len(), d.rating.len()].iter().all(|&l| l == 0 || l == n)
        && [d.scenario.len(), d.position.len(), d.label.len()].iter().all(|&l| l == 0 || l == n)
        && d.item_table.category.len() == d.items.len();
    ok.then_some((d, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_hash_in_chunks_equals_the_one_shot_hash() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.bin");
        // Empty, shorter than a block, exactly one, and longer than two but not a multiple.
        for len in [0, 1, HASH_BLOCK - 1, HASH_BLOCK, HASH_BLOCK * 2 + 12_345] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            std::fs::write(&p, &bytes).unwrap();
            assert_eq!(file_hash(&p).unwrap(), bytes_hash(&bytes), "{len} bytes");
        }
        let bytes = std::fs::read(&p).unwrap();
        let mut changed = bytes.clone();
        changed[HASH_BLOCK + 7] ^= 1;
        assert_ne!(bytes_hash(&bytes), bytes_hash(&changed));
        let a = content_fingerprint(&p, None, None, "o").unwrap();
        assert_eq!(a, content_fingerprint(&p, Some(bytes_hash(&bytes)), None, "o").unwrap());
        assert_ne!(a, content_fingerprint(&p, None, None, "other options").unwrap());
        // Version 1 hashed the whole file in one go (what older runs recorded).
        let mut h = Xxh3::new();
        h.update(&1u32.to_le_bytes());
        h.update(&xxh3_64(&bytes).to_le_bytes());
        h.update(b"o");
        assert_eq!(legacy_fingerprint(&p, None, "o").unwrap(), h.digest());
        assert_ne!(legacy_fingerprint(&p, None, "o").unwrap(), a);
    }

    /// `bytes` written to `file` and decoded through a mapping (`None` where files cannot be mapped).
    fn decode_file(file: &Path, bytes: &[u8], key: u64) -> Option<Result<(Dataset, LoadReport), Miss>> {
        std::fs::write(file, bytes).unwrap();
        crate::util::mapped::Mapped::new(&std::fs::File::open(file).unwrap()).map(|m| decode_mapped(&SharedMap::new(m), key))
    }

    #[test]
    fn encode_decode_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, "user_id,timestamp,item_id,query,label\na,1,x,q,1\na,2,y,,\nb,3,x,q2,0\n").unwrap();
        let (d, rep) = crate::data::load(&p, &crate::data::LoadOptions::default()).unwrap();
        let bytes = encode(7, &d, &rep);
        let (d2, rep2) = decode(&bytes, 7).unwrap();
        assert_eq!(d2, d);
        assert_eq!(rep2, rep);
        assert_eq!(decode(&bytes, 8).unwrap_err(), Miss::Stale);
        assert_eq!(decode(&bytes[..bytes.len() - 1], 7).unwrap_err(), Miss::Corrupt);
    }

    #[test]
    fn multi_block_columns_round_trip_and_every_block_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("UserBehavior.csv");
        // 100k behaviours: the time and item columns span two blocks, so several pieces and threads.
        let rows = 100_000u32;
        let text: String = (0..rows).map(|r| format!("{},{},{},pv,{}\n", r / 7, r % 5_003, r % 13, 1_511_000_000 + r)).collect();
        std::fs::write(&p, text).unwrap();
        let opts = crate::data::LoadOptions { format: Some(Format::Taobao), ..Default::default() };
        let (d, rep) = crate::data::load(&p, &opts).unwrap();
        assert_eq!(d.n_behaviors(), rows as usize);
        assert!(d.ts.len() * 4 > BLOCK);
        let bytes = encode(3, &d, &rep);
        let (d2, rep2) = decode(&bytes, 3).unwrap();
        assert_eq!(d2, d);
        assert_eq!(rep2, rep);
        // One flipped bit anywhere (first and second block of a big column, a small one, a
        // length prefix, the header checksum) is a miss.
        let payload = HEADER;
        for at in [payload + 3, bytes.len() / 2, bytes.len() / 2 + BLOCK + 5, bytes.len() - 1, 30] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert_eq!(decode(&bad, 3).unwrap_err(), Miss::Corrupt, "flip at {at}");
        }
        for cut in [HEADER + 1, bytes.len() / 3, bytes.len() - 8] {
            assert_eq!(decode(&bytes[..cut], 3).unwrap_err(), Miss::Corrupt, "cut {cut}");
        }
        // The same through a mapped file, whose per-behaviour columns are then views.
        let file = dir.path().join("log.lumcache");
        let mapped = |bytes: &[u8]| decode_file(&file, bytes, 3);
        let Some(Ok((d3, rep3))) = mapped(&bytes) else {
            assert!(cfg!(not(unix)), "a cache file maps and decodes on Unix");
            return;
        };
        assert!(d3.item.is_mapped() && d3.ts.is_mapped() && d3.user_offsets.is_mapped() && d3.action.is_mapped());
        assert_eq!((d3, rep3), (d, rep));
        for at in [payload + 3, bytes.len() / 2, bytes.len() / 2 + BLOCK + 5, bytes.len() - 1, 30, 37] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            assert_eq!(mapped(&bad).unwrap().unwrap_err(), Miss::Corrupt, "mapped flip at {at}");
        }
        assert_eq!(mapped(&bytes[..bytes.len() - 8]).unwrap().unwrap_err(), Miss::Corrupt);
    }

    #[test]
    fn every_section_starts_aligned_and_nonzero_padding_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        // Three behaviours: the one-byte action column needs padding after it.
        std::fs::write(&p, "user_id,timestamp,item_id,action\na,1,x,click\na,2,y,buy\nb,3,x,click\n").unwrap();
        let (d, rep) = crate::data::load(&p, &crate::data::LoadOptions::default()).unwrap();
        let bytes = encode(5, &d, &rep);
        let parts = sections(&bytes[HEADER..]).unwrap();
        assert_eq!(parts.len(), LAYOUT.len());
        for (i, s) in parts.iter().enumerate() {
            assert_eq!((s.as_ptr() as usize - bytes.as_ptr() as usize) % ALIGN, 0, "section {i}");
        }
        let action = parts[12];
        assert_eq!(action.len(), 3);
        let pad = action.as_ptr() as usize - bytes.as_ptr() as usize + action.len();
        let mut bad = bytes.clone();
        bad[pad] = 1;
        assert_eq!(decode(&bad, 5).unwrap_err(), Miss::Corrupt);
        assert!(decode(&bytes, 5).is_ok());
    }

    #[test]
    fn a_checksummed_cache_with_an_unknown_item_id_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, "user_id,timestamp,item_id\na,1,x\na,2,y\nb,3,x\n").unwrap();
        let (mut d, rep) = crate::data::load(&p, &crate::data::LoadOptions::default()).unwrap();
        // Copied, and viewed in a mapped file (the bound is checked on the file's bytes then).
        let file = dir.path().join("log.lumcache");
        let mapped = |bytes: &[u8]| decode_file(&file, bytes, 1).map(|r| r.is_ok());
        d.item[1] = d.items.len() as u32;
        assert_eq!(decode(&encode(1, &d, &rep), 1).unwrap_err(), Miss::Corrupt);
        assert_ne!(mapped(&encode(1, &d, &rep)), Some(true));
        d.item[1] = 0;
        assert!(decode(&encode(1, &d, &rep), 1).is_ok());
        assert_ne!(mapped(&encode(1, &d, &rep)), Some(false));
    }
}
