//! On-disk cache of tokenizer output, so reopening a tokenized log is instant.
//!
//! Key: the data fingerprint (`LoadReport::fingerprint`) + an xxh3 hash of the
//! [`TokenizerConfig`] (thread count excluded: it does not change the result;
//! the vector file's size and modification time included: its content does).
//! File: `MAGIC | body length u64 | body | xxh3-64(body)`, little-endian,
//! written atomically (temp file + rename). A file that is truncated, fails its
//! checksum, or does not fit the dataset is ignored and rebuilt, never trusted.

use super::condition::Condition;
use super::semantic::SemanticCodes;
use super::vocab::{SubKind, SubTokens, SubVocab};
use super::{ConditionSource, TokenizeError, Tokenized, TokenizerConfig, tokenize};
use crate::data::intern::StrPool;
use crate::data::{Action, Dataset, Scenario};
use std::path::{Path, PathBuf};
use xxhash_rust::xxh3::xxh3_64;

/// File magic; the last byte is the format version (bump it when the layout changes).
const MAGIC: &[u8; 8] = b"LUMTOK\x00\x01";
/// Mixed into the config hash so a changed tokenizer algorithm invalidates old caches.
const ALGORITHM_VERSION: u32 = 1;
/// Longest fingerprint text kept in a file name.
const MAX_FINGERPRINT_CHARS: usize = 32;

/// Hash of everything in the config that changes the output.
pub fn config_hash(cfg: &TokenizerConfig) -> u64 {
    let keyed = TokenizerConfig {
        threads: 0,
        ..cfg.clone()
    };
    let mut text = serde_json::to_string(&keyed).unwrap_or_default();
    text.push_str(&format!("|v{ALGORITHM_VERSION}"));
    if let Some(meta) = cfg
        .vector_file
        .as_ref()
        .and_then(|p| std::fs::metadata(p).ok())
    {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        text.push_str(&format!("|{}|{mtime}", meta.len()));
    }
    xxh3_64(text.as_bytes())
}

/// Cache file for a (fingerprint, config) pair inside `cache_dir`.
pub fn cache_path(cache_dir: &Path, fingerprint: &str, cfg: &TokenizerConfig) -> PathBuf {
    let fp: String = fingerprint
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(MAX_FINGERPRINT_CHARS)
        .collect();
    cache_dir.join(format!("tok-{fp}-{:016x}.lumcache", config_hash(cfg)))
}

/// Tokenizes with an on-disk cache: returns the result and whether it came from the cache.
/// A cache that cannot be written is reported in `stats.notes`, not as an error.
pub fn tokenize_cached(
    data: &Dataset,
    cfg: &TokenizerConfig,
    fingerprint: &str,
    cache_dir: &Path,
) -> Result<(Tokenized, bool), TokenizeError> {
    cfg.validate()?;
    let path = cache_path(cache_dir, fingerprint, cfg);
    if let Some(tok) = std::fs::read(&path).ok().and_then(|b| decode(&b))
        && tok.config == *cfg
        && tok.is_consistent_with(data)
    {
        return Ok((tok, true));
    }
    let mut tok = tokenize(data, cfg)?;
    let written = std::fs::create_dir_all(cache_dir)
        .and_then(|_| crate::util::atomic_write(&path, &encode(&tok)));
    if let Err(e) = written {
        tok.stats.notes.push(format!(
            "tokenizer cache not written to {}: {e}",
            path.display()
        ));
    }
    Ok((tok, false))
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend(v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend(v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.u64(v.len() as u64);
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend(x.to_le_bytes());
        }
    }
    fn f32s(&mut self, v: &[f32]) {
        self.u64(v.len() as u64);
        for x in v {
            self.0.extend(x.to_le_bytes());
        }
    }
    fn sub(&mut self, s: &SubTokens) {
        self.u32s(&s.offsets);
        self.u32s(&s.ids);
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.len()?;
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
    fn f32s(&mut self) -> Option<Vec<f32>> {
        Some(self.u32s()?.into_iter().map(f32::from_bits).collect())
    }
    fn sub(&mut self) -> Option<SubTokens> {
        Some(SubTokens {
            offsets: self.u32s()?,
            ids: self.u32s()?,
        })
    }
}

/// Serialises a tokenizer result (magic, length, body, checksum).
pub fn encode(t: &Tokenized) -> Vec<u8> {
    let mut w = Writer(Vec::new());
    w.bytes(
        serde_json::to_string(&t.config)
            .unwrap_or_default()
            .as_bytes(),
    );
    w.bytes(
        serde_json::to_string(&t.stats)
            .unwrap_or_default()
            .as_bytes(),
    );
    let (buf, offsets) = t.vocab.names.parts();
    w.bytes(buf.as_bytes());
    w.u32s(offsets);
    w.u32(t.vocab.ranges.len() as u32);
    for (k, a, b) in &t.vocab.ranges {
        w.u32(k.to_code() as u32);
        w.u32(*a);
        w.u32(*b);
    }
    w.sub(&t.item_sub);
    w.sub(&t.cond_sub);
    w.u32s(&t.cond_of_row);
    w.u64(t.conditions.len() as u64);
    for c in &t.conditions {
        w.u32(c.query);
        w.u8(c.scenario as u8);
        w.u8(c.action as u8);
        w.u8(c.kind.to_u8());
    }
    w.u32s(&t.query_cond);
    w.u8(t.condition_source.to_u8());
    match &t.semantic {
        None => w.u8(0),
        Some(s) => {
            w.u8(1);
            w.u32s(&s.levels.iter().map(|k| *k as u32).collect::<Vec<_>>());
            w.u32(s.dim as u32);
            w.u32s(&s.codes);
            w.u32s(&s.suffix);
            for cb in &s.codebooks {
                w.f32s(cb);
            }
        }
    }
    let body = w.0;
    let mut out = Vec::with_capacity(body.len() + 24);
    out.extend_from_slice(MAGIC);
    out.extend((body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    out.extend(xxh3_64(&body).to_le_bytes());
    out
}

/// Parses [`encode`]'s output; None for anything truncated, corrupt or inconsistent.
pub fn decode(bytes: &[u8]) -> Option<Tokenized> {
    let mut head = Reader { b: bytes, pos: 0 };
    if head.take(8)? != MAGIC {
        return None;
    }
    let body = head.bytes()?;
    if head.u64()? != xxh3_64(body) || head.pos != bytes.len() {
        return None;
    }
    let mut r = Reader { b: body, pos: 0 };
    let config: TokenizerConfig = serde_json::from_slice(r.bytes()?).ok()?;
    let stats = serde_json::from_slice(r.bytes()?).ok()?;
    let buf = String::from_utf8(r.bytes()?.to_vec()).ok()?;
    let names = StrPool::from_parts(buf, r.u32s()?)?;
    let n_ranges = r.u32()?;
    let mut ranges = Vec::new();
    for _ in 0..n_ranges {
        let kind = SubKind::from_code(u16::try_from(r.u32()?).ok()?)?;
        ranges.push((kind, r.u32()?, r.u32()?));
    }
    let vocab = SubVocab { names, ranges };
    let item_sub = r.sub()?;
    let cond_sub = r.sub()?;
    let cond_of_row = r.u32s()?;
    let n_cond = r.len()?;
    let mut conditions = Vec::with_capacity(n_cond.min(body.len()));
    for _ in 0..n_cond {
        let query = r.u32()?;
        let scenario = Scenario::ALL.get(r.u8()? as usize).copied()?;
        let action = Action::ALL.get(r.u8()? as usize).copied()?;
        let kind = ConditionSource::from_u8(r.u8()?)?;
        conditions.push(Condition {
            query,
            scenario,
            action,
            kind,
        });
    }
    let query_cond = r.u32s()?;
    let condition_source = ConditionSource::from_u8(r.u8()?)?;
    let semantic = match r.u8()? {
        0 => None,
        1 => {
            let levels: Vec<usize> = r.u32s()?.into_iter().map(|k| k as usize).collect();
            let dim = r.u32()? as usize;
            let codes = r.u32s()?;
            let suffix = r.u32s()?;
            let codebooks = (0..levels.len())
                .map(|_| r.f32s())
                .collect::<Option<Vec<_>>>()?;
            if codes.len() != suffix.len() * levels.len()
                || codebooks
                    .iter()
                    .zip(&levels)
                    .any(|(cb, k)| cb.len() != k * dim)
            {
                return None;
            }
            Some(SemanticCodes {
                levels,
                dim,
                codes,
                suffix,
                codebooks,
            })
        }
        _ => return None,
    };
    if r.pos != body.len() {
        return None;
    }
    Some(Tokenized {
        config,
        vocab,
        item_sub,
        n_conditions: cond_sub.len(),
        cond_sub,
        cond_of_row,
        condition_source,
        stats,
        conditions,
        query_cond,
        semantic,
    })
}
