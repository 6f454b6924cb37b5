//! The binary cache of a parsed log, so reopening skips parsing.
//!
//! Layout (little-endian): magic, format version, key (source size, mtime and a
//! sampled content hash, plus the load options), payload length, xxh3 checksum
//! of the payload, payload. A wrong magic, version, key or checksum, or a short
//! file, means "rebuild": a cache is never trusted blindly. Written to a temp
//! file and renamed, so a killed process never leaves a half-written cache.

use super::{Dataset, Format, Interner, ItemTable, LoadReport, StrPool};
use std::io::Read;
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::{Xxh3, xxh3_64};

const MAGIC: &[u8; 8] = b"LUMCACHE";
/// Bump when the payload layout or parsing semantics change.
pub const CACHE_VERSION: u32 = 1;
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
        let n = f.by_ref().take(SAMPLE_BYTES).read(&mut buf)?;
        h.update(&buf[..n]);
    }
    Ok(h.digest())
}

/// Version of [`content_fingerprint`]'s recipe.
const FINGERPRINT_VERSION: u32 = 1;
/// Bytes read at a time while hashing a whole file.
const HASH_CHUNK: usize = 1 << 20;

/// Hash of every byte of `source` (and of `items` when given) plus `options`: the
/// identity of a parsed input that survives copying, cloning and touching the files.
/// `source_hash` is [`file_hash`] of the source when the caller has already read it.
pub fn content_fingerprint(source: &Path, source_hash: Option<u64>, items: Option<&Path>, options: &str) -> std::io::Result<u64> {
    let mut h = Xxh3::new();
    h.update(&FINGERPRINT_VERSION.to_le_bytes());
    let first = match source_hash {
        Some(x) => x,
        None => file_hash(source)?,
    };
    h.update(&first.to_le_bytes());
    if let Some(items) = items {
        h.update(&file_hash(items)?.to_le_bytes());
    }
    h.update(options.as_bytes());
    Ok(h.digest())
}

/// xxh3 of a whole file, read in chunks (equal to [`xxh3_64`] of its bytes).
pub fn file_hash(path: &Path) -> std::io::Result<u64> {
    let mut h = Xxh3::new();
    let mut buf = vec![0u8; HASH_CHUNK];
    let mut f = std::fs::File::open(path)?;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.digest());
        }
        h.update(&buf[..n]);
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

struct W(Vec<u8>);

impl W {
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(&(b.len() as u64).to_le_bytes());
        self.0.extend_from_slice(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.bytes(bytemuck::cast_slice(v));
    }
    fn f32s(&mut self, v: &[f32]) {
        self.bytes(bytemuck::cast_slice(v));
    }
    fn pool(&mut self, p: &StrPool) {
        let (buf, offs) = p.parts();
        self.bytes(buf.as_bytes());
        self.u32s(offs);
    }
}

struct R<'a>(&'a [u8]);

impl<'a> R<'a> {
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = u64::from_le_bytes(self.0.get(..8)?.try_into().ok()?) as usize;
        let out = self.0.get(8..8usize.checked_add(n)?)?;
        self.0 = &self.0[8 + n..];
        Some(out)
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let b = self.bytes()?;
        if b.len() % 4 != 0 {
            return None;
        }
        let mut v = vec![0u32; b.len() / 4];
        bytemuck::cast_slice_mut::<u32, u8>(&mut v).copy_from_slice(b);
        Some(v)
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        let b = self.bytes()?;
        if b.len() % 4 != 0 {
            return None;
        }
        let mut v = vec![0f32; b.len() / 4];
        bytemuck::cast_slice_mut::<f32, u8>(&mut v).copy_from_slice(b);
        Some(v)
    }
    fn pool(&mut self) -> Option<StrPool> {
        let buf = String::from_utf8(self.bytes()?.to_vec()).ok()?;
        StrPool::from_parts(buf, self.u32s()?)
    }
    fn interner(&mut self) -> Option<Interner> {
        Some(Interner::from_pool(self.pool()?))
    }
}

/// Serialises a dataset and its load report.
pub fn encode(key: u64, d: &Dataset, report: &LoadReport) -> Vec<u8> {
    let mut w = W(Vec::with_capacity(d.column_bytes() + 1024));
    w.bytes(serde_json::to_string(report).unwrap_or_default().as_bytes());
    w.bytes(&[d.format as u8]);
    w.bytes(&d.base_ts.to_le_bytes());
    w.pool(d.users.names());
    w.pool(d.items.names());
    w.pool(d.queries.names());
    w.u32s(&d.user_offsets);
    w.u32s(&d.ts);
    w.u32s(&d.item);
    w.bytes(&d.action);
    w.u32s(&d.query);
    w.bytes(&d.scenario);
    w.bytes(&d.position);
    w.bytes(bytemuck::cast_slice(&d.label));
    w.f32s(&d.rating);
    let t = &d.item_table;
    w.pool(&t.titles);
    w.pool(t.categories.names());
    w.pool(t.brands.names());
    w.u32s(&t.category);
    w.u32s(&t.brand);
    w.f32s(&t.price);
    w.bytes(&t.described.iter().map(|&b| b as u8).collect::<Vec<u8>>());
    let payload = w.0;
    let mut out = Vec::with_capacity(payload.len() + 36);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&CACHE_VERSION.to_le_bytes());
    out.extend_from_slice(&key.to_le_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxh3_64(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// Why a cache file was not used.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    Absent,
    Stale,
    Corrupt,
}

/// Decodes a cache file; any inconsistency is a miss, never a panic.
pub fn decode(bytes: &[u8], key: u64) -> Result<(Dataset, LoadReport), Miss> {
    if cfg!(target_endian = "big") {
        return Err(Miss::Stale);
    }
    if bytes.len() < 36 || &bytes[..8] != MAGIC {
        return Err(Miss::Corrupt);
    }
    let le64 = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
    if u32::from_le_bytes(bytes[8..12].try_into().unwrap_or([0; 4])) != CACHE_VERSION || le64(12) != key {
        return Err(Miss::Stale);
    }
    let len = le64(20) as usize;
    let payload = &bytes[36..];
    if payload.len() != len || xxh3_64(payload) != le64(28) {
        return Err(Miss::Corrupt);
    }
    decode_payload(payload).ok_or(Miss::Corrupt)
}

fn decode_payload(p: &[u8]) -> Option<(Dataset, LoadReport)> {
    let mut r = R(p);
    let report: LoadReport = serde_json::from_slice(r.bytes()?).ok()?;
    let format = match r.bytes()?.first()? {
        0 => Format::Native,
        1 => Format::Taobao,
        2 => Format::MovieLens,
        3 => Format::Sasrec,
        4 => Format::Alimama,
        _ => return None,
    };
    let base_ts = i64::from_le_bytes(r.bytes()?.try_into().ok()?);
    let users = r.interner()?;
    let items = r.interner()?;
    let queries = r.interner()?;
    let user_offsets = r.u32s()?;
    let ts = r.u32s()?;
    let item = r.u32s()?;
    let action = r.bytes()?.to_vec();
    let query = r.u32s()?;
    let scenario = r.bytes()?.to_vec();
    let position = r.bytes()?.to_vec();
    let label: Vec<i8> = r.bytes()?.iter().map(|&b| b as i8).collect();
    let rating = r.f32s()?;
    let item_table = ItemTable {
        titles: r.pool()?,
        categories: r.interner()?,
        brands: r.interner()?,
        category: r.u32s()?,
        brand: r.u32s()?,
        price: r.f32s()?,
        described: r.bytes()?.iter().map(|&b| b != 0).collect(),
    };
    let d = Dataset { format, users, items, queries, user_offsets, base_ts, ts, item, action, query, scenario, position, label, rating, item_table };
    // Structural checks beyond the checksum: a cache from a buggy writer must not cause panics later.
    let n = d.item.len();
    let ok = d.user_offsets.len() == d.users.len() + 1
        && d.user_offsets.first() == Some(&0)
        && d.user_offsets.last().map(|&x| x as usize) == Some(n)
        && d.user_offsets.windows(2).all(|w| w[0] <= w[1])
        && d.ts.len() == n
        && d.action.len() == n
        && [d.query.len(), d.rating.len()].iter().all(|&l| l == 0 || l == n)
        && [d.scenario.len(), d.position.len(), d.label.len()].iter().all(|&l| l == 0 || l == n)
        && d.item.iter().all(|&i| (i as usize) < d.items.len())
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
        // Longer than one read chunk, not a multiple of it.
        let bytes: Vec<u8> = (0..HASH_CHUNK * 2 + 12_345).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&p, &bytes).unwrap();
        assert_eq!(file_hash(&p).unwrap(), xxh3_64(&bytes));
        let a = content_fingerprint(&p, None, None, "o").unwrap();
        assert_eq!(a, content_fingerprint(&p, Some(xxh3_64(&bytes)), None, "o").unwrap());
        assert_ne!(a, content_fingerprint(&p, None, None, "other options").unwrap());
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
}
