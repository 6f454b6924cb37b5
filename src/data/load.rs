//! Loading a behaviour log: cache lookup, format detection, parsing, items
//! table, sort and compaction, cache write.

use super::builder::{BadRows, Builder};
use super::formats::{Delim, Role, detect, preset_delim};
use super::{DataError, Dataset, Format, cache, parse};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How to load a log.
#[derive(Clone, Default)]
pub struct LoadOptions {
    /// Overrides format detection.
    pub format: Option<Format>,
    /// Items table (`item_id,title,category,brand,price`); by default `items.csv`
    /// (native), `movies.dat|csv` (MovieLens) or `ad_feature.csv` (Alimama) beside the log.
    pub items: Option<PathBuf>,
    /// Fail on the first bad row instead of skipping it.
    pub strict: bool,
    /// Read and write the binary cache beside the source.
    pub use_cache: bool,
    /// Explicit column roles for a native log whose header is not recognised (GUI mapping step).
    pub roles: Option<Vec<Option<Role>>>,
    /// Called with the fraction done, 0..=1.
    pub progress: Option<Arc<dyn Fn(f32) + Send + Sync>>,
}

impl LoadOptions {
    /// Default options with the cache on.
    pub fn cached() -> Self {
        Self { use_cache: true, ..Default::default() }
    }
    /// What changes the parsed result besides the files' bytes (for the fingerprint).
    fn content_tag(&self) -> String {
        format!("format={:?};roles={:?}", self.format, self.roles)
    }
    fn cache_tag(&self, items: Option<&Path>) -> String {
        let items_key = items.and_then(|p| cache::source_key(p, "").ok()).unwrap_or(0);
        format!("format={:?};items={:?}:{items_key};roles={:?}", self.format, items, self.roles)
    }
}

/// What happened while loading: shown by `inspect`, the Data panel and stored with runs.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadReport {
    pub source: PathBuf,
    pub format: Format,
    /// Why this format was chosen ("header names user_id, ..." or "--format").
    pub detection: String,
    pub items_file: Option<PathBuf>,
    pub rows_read: u64,
    pub rows_skipped: u64,
    /// The first few bad rows as `file:line: reason`.
    pub first_errors: Vec<String>,
    pub notes: Vec<String>,
    pub from_cache: bool,
    /// Users with exactly one (non-impression) behaviour: they cannot be evaluated leave-one-out.
    pub single_behavior_users: u64,
    /// Hash of the log's and items table's bytes and the parse options (hex): identifies
    /// this exact input for run folders and tokenizer caches, wherever the files live
    /// (paths and modification times do not count).
    pub fingerprint: String,
}

impl LoadReport {
    /// Whether `recorded` (a fingerprint stored with a run, perhaps by an older recipe of
    /// [`cache::content_fingerprint`]) names the input this report describes, loaded with `opts`.
    /// Only a mismatch costs anything: the older recipe rereads the files.
    pub fn has_fingerprint(&self, recorded: &str, opts: &LoadOptions) -> bool {
        recorded == self.fingerprint || cache::legacy_fingerprint(&self.source, self.items_file.as_deref(), &opts.content_tag()).is_ok_and(|f| format!("{f:016x}") == recorded)
    }
}

fn read_all(path: &Path) -> Result<Vec<u8>, DataError> {
    std::fs::read(path).map_err(|e| DataError::io(path, e))
}

fn first_line(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let rest = &bytes[start..];
    &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())]
}

fn sibling(path: &Path, names: &[&str]) -> Option<PathBuf> {
    let dir = path.parent()?;
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file() && p != path)
}

/// Loads a behaviour log (from the cache when valid).
pub fn load(path: &Path, opts: &LoadOptions) -> Result<(Dataset, LoadReport), DataError> {
    let meta = std::fs::metadata(path).map_err(|e| DataError::io(path, e))?;
    if meta.is_dir() {
        return Err(DataError::IsDirectory { path: path.to_path_buf() });
    }
    if meta.len() == 0 {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    let progress = opts.progress.as_deref();
    // The items table is resolved before the cache key so that editing it invalidates the cache.
    let head = {
        let mut f = std::fs::File::open(path).map_err(|e| DataError::io(path, e))?;
        let mut buf = vec![0u8; 1 << 16];
        let n = f.read(&mut buf).map_err(|e| DataError::io(path, e))?;
        buf.truncate(n);
        buf
    };
    let line = first_line(&head);
    if line.is_empty() {
        return Err(DataError::Empty { path: path.to_path_buf() });
    }
    // A lone CR ends lines in old Mac exports; without a LF the whole file reads as one line.
    if !head.contains(&b'\n') && line.trim_ascii_end().contains(&b'\r') {
        return Err(DataError::Invalid { path: path.to_path_buf(), reason: "lines end with a lone carriage return (CR); save the file with LF or CRLF line ends".into() });
    }
    let line = std::str::from_utf8(line).map_err(|_| {
        let utf16 = head.starts_with(&[0xFF, 0xFE]) || head.starts_with(&[0xFE, 0xFF]);
        let reason = if utf16 { "invalid UTF-8: the file is UTF-16 text; save it as UTF-8" } else { "invalid UTF-8" };
        DataError::Row { path: path.to_path_buf(), line: 1, reason: reason.into() }
    })?;
    let (format, delim, detection) = match (opts.format, opts.roles.is_some()) {
        (Some(f), _) => (f, preset_delim(f, line), format!("--format {f}")),
        (None, true) => (Format::Native, preset_delim(Format::Native, line), "column mapping chosen by the user".into()),
        (None, false) => {
            let d = detect(path, line).map_err(|reason| DataError::UnknownFormat { path: path.to_path_buf(), reason })?;
            (d.format, d.delim, d.reason)
        }
    };
    let items_path = opts.items.clone().or_else(|| match format {
        Format::Native => sibling(path, &["items.csv", "items.tsv"]),
        Format::MovieLens => sibling(path, &["movies.dat", "movies.csv"]),
        Format::Alimama => sibling(path, &["ad_feature.csv"]),
        _ => None,
    });
    if let Some(p) = &items_path {
        if !p.is_file() {
            return Err(DataError::Invalid { path: p.clone(), reason: "items table not found or not a file".into() });
        }
    }
    let tag = opts.cache_tag(items_path.as_deref());
    let key = cache::source_key(path, &tag).map_err(|e| DataError::io(path, e))?;
    let (beside, fallback) = cache::cache_paths(path);
    if opts.use_cache {
        for p in [&beside, &fallback] {
            // Mapped when possible: the per-behaviour columns are then read in place, not
            // copied (the dataset keeps the mapping).
            let Ok(f) = std::fs::File::open(p) else { continue };
            let decoded = match crate::util::mapped::Mapped::new(&f) {
                Some(m) => cache::decode_mapped(&super::column::SharedMap::new(m), key),
                None => match std::fs::read(p) {
                    Ok(b) => cache::decode(&b, key),
                    Err(_) => continue,
                },
            };
            if let Ok((d, mut report)) = decoded {
                // The cache remembers skipped rows, not where: a strict load parses again
                // and stops at the first of them.
                if opts.strict && report.rows_skipped > 0 {
                    break;
                }
                report.from_cache = true;
                // Name the file as this call did (the cache may come from another working
                // directory or a copied folder).
                if report.source.as_os_str() != path.as_os_str() {
                    let (old, now) = (report.source.display().to_string(), path.display().to_string());
                    for e in &mut report.first_errors {
                        if let Some(rest) = e.strip_prefix(old.as_str()) {
                            *e = format!("{now}{rest}");
                        }
                    }
                    report.source = path.to_path_buf();
                }
                if let Some(cb) = progress {
                    cb(1.0);
                }
                return Ok((d, report));
            }
        }
    }

    crate::util::phases::mark("open");
    let mut b = Builder::new();
    // Hash of the source's bytes when a parser read it whole (saves reading it again).
    let mut source_hash = None;
    let mut bad = BadRows::new(path, opts.strict);
    let mut notes = Vec::new();
    let file = || std::fs::File::open(path).map_err(|e| DataError::io(path, e));
    let text = |bytes: Vec<u8>| -> Result<String, DataError> {
        // A byte-order mark is not part of the first field.
        let mut bytes = bytes;
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        String::from_utf8(bytes).map_err(|e| {
            let upto = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = upto.iter().filter(|&&c| c == b'\n').count() as u64 + 1;
            DataError::Row { path: path.to_path_buf(), line, reason: "invalid UTF-8".into() }
        })
    };
    match (format, delim) {
        (Format::Native, Delim::JsonLines) => parse::native_jsonl(path, &text(read_all(path)?)?, &mut b, &mut bad, &mut notes)?,
        (Format::Native, _) => parse::native_delimited(path, std::io::BufReader::new(file()?), meta.len(), delim, opts.roles.as_deref(), &mut b, &mut bad, &mut notes, progress)?,
        (Format::Taobao, _) => source_hash = Some(super::taobao::parse(path, &mut b, &mut bad, progress)?),
        (Format::Sasrec, _) => parse::sasrec(&text(read_all(path)?)?, &mut b, &mut bad)?,
        (Format::MovieLens, d) => parse::movielens(path, &text(read_all(path)?)?, d, &mut b, &mut bad)?,
        (Format::Alimama, _) => {
            parse::alimama(path, std::io::BufReader::new(file()?), meta.len(), &mut b, &mut bad, &mut notes, progress)?;
            if let Some(profiles) = sibling(path, &["user_profile.csv"]) {
                notes.push(format!("{} found; user profiles are not used by the models", profiles.display()));
            }
        }
    }
    crate::util::phases::mark("parse");
    let rows_read = b.len() as u64;
    if b.is_empty() {
        return Err(DataError::NoBehaviours {
            path: path.to_path_buf(),
            skipped: bad.skipped,
            first: bad.examples.first().cloned().unwrap_or_else(|| "file has no data rows".into()),
        });
    }
    let mut item_bad = None;
    if let Some(ip) = &items_path {
        let mut ib = BadRows::new(ip, opts.strict);
        let bytes = read_all(ip)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(DataError::Empty { path: ip.clone() });
        }
        let before = b.items.len();
        let n = match format {
            Format::MovieLens => parse::movielens_items(ip, &bytes, &mut b, &mut ib)?,
            Format::Alimama => parse::alimama_ads(ip, bytes.as_slice(), &mut b, &mut ib)?,
            _ => parse::items_table(ip, bytes.as_slice(), &mut b, &mut ib)?,
        };
        let added = b.items.len() - before;
        notes.push(format!("items table {}: {n} items described{}", ip.display(), if added > 0 { format!(", {added} never appear in the log") } else { String::new() }));
        item_bad = Some(ib);
    }
    let described = b.item_table.described.iter().filter(|&&x| x).count();
    if items_path.is_some() && described < b.items.len() {
        notes.push(format!("{} items in the log are missing from the items table", b.items.len() - described));
    }
    let d = b.finish(format, path)?;
    let mut first_errors = bad.examples;
    let mut rows_skipped = bad.skipped;
    if let Some(ib) = item_bad {
        rows_skipped += ib.skipped;
        first_errors.extend(ib.examples);
        first_errors.truncate(super::builder::MAX_EXAMPLES);
    }
    // Stops at a user's second chosen behaviour: one look per user on logs without impressions.
    let single = (0..d.n_users() as u32)
        .filter(|&u| {
            let mut chosen = d.user_range(u).filter(|&r| !d.is_impression(r));
            chosen.next().is_some() && chosen.next().is_none()
        })
        .count() as u64;
    if single > 0 {
        notes.push(format!("{single} users have a single behaviour and cannot be evaluated leave-one-out"));
    }
    let fingerprint = cache::content_fingerprint(path, source_hash, items_path.as_deref(), &opts.content_tag()).map_err(|e| DataError::io(path, e))?;
    let report = LoadReport {
        source: path.to_path_buf(),
        format,
        detection,
        items_file: items_path,
        rows_read,
        rows_skipped,
        first_errors,
        notes,
        from_cache: false,
        single_behavior_users: single,
        fingerprint: format!("{fingerprint:016x}"),
    };
    crate::util::phases::mark("finish");
    if opts.use_cache {
        let write = |p: &Path| crate::util::checked_write_with(p, |w| cache::write_cache(w, key, &d, &report));
        let written = write(&beside).or_else(|_| {
            if let Some(dir) = fallback.parent() {
                std::fs::create_dir_all(dir)?;
            }
            write(&fallback)
        });
        if written.is_err() {
            let mut report = report;
            report.notes.push("could not write the binary cache (read-only folder or disk full); the next open will parse again".into());
            return Ok((d, report));
        }
    }
    if let Some(cb) = progress {
        cb(1.0);
    }
    Ok((d, report))
}
