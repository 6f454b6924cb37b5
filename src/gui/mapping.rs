//! Column mapping for behaviour logs whose header LumLab does not recognise:
//! a preview of the first rows, a guessed role per column, validation, and a
//! loader that builds a [`Dataset`] from any delimited file plus a mapping.
//!
//! egui-free on purpose: the Data panel draws it, but the mapping and the
//! loader are plain data and functions (and could move under `data::` once
//! the engine's loader takes a mapping).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{Action, Dataset, Interner, NONE, Scenario, StrPool};
use crate::gui::format::days_from_civil;

/// Rows shown in the mapping preview.
pub const PREVIEW_ROWS: usize = 8;
/// Bad-row messages kept for the user (the rest are only counted).
pub const MAX_ERRORS_KEPT: usize = 5;
/// Rows between progress reports / cancellation checks.
const PROGRESS_EVERY_ROWS: u64 = 16_384;
/// Integer timestamps above this are milliseconds (1e11 s is the year 5138).
const MILLIS_THRESHOLD: i64 = 100_000_000_000;
/// Delimiters tried when sniffing a file, in order of preference on ties.
const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// What a column of a behaviour log means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnRole {
    User,
    Time,
    Item,
    Action,
    Query,
    Scenario,
    Position,
    Label,
    Ignore,
}

impl ColumnRole {
    /// Every role, in the order the picker lists them.
    pub const ALL: [ColumnRole; 9] = [
        ColumnRole::User,
        ColumnRole::Time,
        ColumnRole::Item,
        ColumnRole::Action,
        ColumnRole::Query,
        ColumnRole::Scenario,
        ColumnRole::Position,
        ColumnRole::Label,
        ColumnRole::Ignore,
    ];

    /// Lower-case name shown in the picker.
    pub fn name(self) -> &'static str {
        match self {
            ColumnRole::User => "user",
            ColumnRole::Time => "time",
            ColumnRole::Item => "item",
            ColumnRole::Action => "action",
            ColumnRole::Query => "query",
            ColumnRole::Scenario => "scenario",
            ColumnRole::Position => "position",
            ColumnRole::Label => "label",
            ColumnRole::Ignore => "ignore",
        }
    }

    /// One sentence for the picker's tooltip.
    pub fn help(self) -> &'static str {
        match self {
            ColumnRole::User => "Who acted: any string id (required).",
            ColumnRole::Time => "When: Unix seconds or milliseconds, or YYYY-MM-DD[ HH:MM[:SS]] (required).",
            ColumnRole::Item => "What was acted on: any string id (required).",
            ColumnRole::Action => "impression / click / cart / fav / buy (Taobao's pv works too).",
            ColumnRole::Query => "The search query of the behaviour, if any.",
            ColumnRole::Scenario => "Where it happened: search or feed.",
            ColumnRole::Position => "Ad position 1..255 for impressions.",
            ColumnRole::Label => "Click label 0/1 for impressions.",
            ColumnRole::Ignore => "Not used.",
        }
    }

    /// Whether a valid mapping must contain this role.
    pub fn required(self) -> bool {
        matches!(self, ColumnRole::User | ColumnRole::Time | ColumnRole::Item)
    }

    /// The role a header name suggests (`Ignore` when none).
    pub fn guess(header: &str) -> ColumnRole {
        let h = header.trim().trim_matches('"').to_ascii_lowercase().replace([' ', '-'], "_");
        match h.as_str() {
            "user_id" | "user" | "uid" | "userid" | "customer_id" | "visitor_id" | "visitorid" => ColumnRole::User,
            "timestamp" | "time" | "ts" | "time_stamp" | "unix_time" | "datetime" | "date" | "event_time" => {
                ColumnRole::Time
            }
            "item_id" | "item" | "iid" | "itemid" | "ad_id" | "adgroup_id" | "movie_id" | "product_id" => {
                ColumnRole::Item
            }
            "action" | "behavior" | "behaviour" | "behavior_type" | "btag" | "event" | "event_type" => {
                ColumnRole::Action
            }
            "query" | "query_id" | "search_query" | "keyword" | "search_term" => ColumnRole::Query,
            "scenario" | "scene" | "channel" | "surface" => ColumnRole::Scenario,
            "position" | "pos" | "rank" | "slot" => ColumnRole::Position,
            "label" | "clk" | "clicked" | "is_click" => ColumnRole::Label,
            _ => ColumnRole::Ignore,
        }
    }
}

/// How to read a delimited log: its delimiter, whether row 1 is a header, a role per column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    pub delimiter: u8,
    pub has_header: bool,
    pub roles: Vec<ColumnRole>,
}

impl ColumnMapping {
    /// The column holding `role`, if mapped.
    pub fn column_of(&self, role: ColumnRole) -> Option<usize> {
        self.roles.iter().position(|r| *r == role)
    }

    /// `Ok` when user, time and item are mapped and no role other than `ignore` repeats.
    pub fn validate(&self) -> Result<(), String> {
        let missing: Vec<&str> =
            ColumnRole::ALL.iter().filter(|r| r.required() && self.column_of(**r).is_none()).map(|r| r.name()).collect();
        if !missing.is_empty() {
            return Err(format!("map a column to: {}", missing.join(", ")));
        }
        for role in ColumnRole::ALL.iter().filter(|r| **r != ColumnRole::Ignore) {
            let n = self.roles.iter().filter(|r| *r == role).count();
            if n > 1 {
                return Err(format!("{} columns are mapped to {}; keep one", n, role.name()));
            }
        }
        Ok(())
    }
}

/// The first rows of a file with a guessed mapping, for the mapping step.
#[derive(Clone, Debug, PartialEq)]
pub struct HeaderPreview {
    pub path: PathBuf,
    /// Column names (`column 1`, ... when the file has no header).
    pub headers: Vec<String>,
    /// Up to [`PREVIEW_ROWS`] data rows, as text.
    pub rows: Vec<Vec<String>>,
    /// The guess; valid when [`HeaderPreview::recognised`].
    pub guess: ColumnMapping,
}

impl HeaderPreview {
    /// Whether the guessed mapping can be used as is (no mapping step needed).
    pub fn recognised(&self) -> bool {
        self.guess.validate().is_ok()
    }
}

/// Errors of the mapping loader.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{0}: the file is empty")]
    Empty(PathBuf),
    #[error("{path}: invalid column mapping: {reason}")]
    Mapping { path: PathBuf, reason: String },
    #[error("{path}: no valid rows ({skipped} skipped); first problem: {first}")]
    NoRows { path: PathBuf, skipped: u64, first: String },
    #[error("{path}: timestamps span more than 136 years; check the time column")]
    TimeRange { path: PathBuf },
    #[error("cancelled")]
    Cancelled,
}

/// What a load did, for the Data panel's left column (the engine's `LoadReport` maps onto it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadInfo {
    pub source: PathBuf,
    /// Format name, e.g. "mapped CSV".
    pub format: String,
    /// Why this format was chosen.
    pub detection: String,
    pub rows_read: u64,
    pub rows_skipped: u64,
    /// The first bad rows as `file:line: reason`.
    pub first_errors: Vec<String>,
    pub notes: Vec<String>,
    pub from_cache: bool,
    /// Items table read beside the log, if any.
    pub items_table: Option<PathBuf>,
}

/// Picks the delimiter that splits the first line into the most fields.
pub fn sniff_delimiter(first_line: &str) -> u8 {
    let mut best = (b',', 0);
    for d in DELIMITERS {
        let n = first_line.bytes().filter(|b| *b == d).count();
        if n > best.1 {
            best = (d, n);
        }
    }
    best.0
}

/// Reads the first rows of `path` and guesses a mapping.
pub fn preview(path: &Path) -> Result<HeaderPreview, MapError> {
    let io = |source| MapError::Io { path: path.to_path_buf(), source };
    let mut reader = BufReader::new(File::open(path).map_err(io)?);
    let mut first = String::new();
    reader.read_line(&mut first).map_err(io)?;
    let first = first.trim_start_matches('\u{feff}');
    if first.trim().is_empty() {
        return Err(MapError::Empty(path.to_path_buf()));
    }
    let delimiter = sniff_delimiter(first);
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|source| MapError::Csv { path: path.to_path_buf(), source })?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for rec in csv.records().take(PREVIEW_ROWS + 1) {
        let rec = rec.map_err(|source| MapError::Csv { path: path.to_path_buf(), source })?;
        rows.push(rec.iter().map(|f| f.trim_start_matches('\u{feff}').to_string()).collect());
    }
    let Some(first_row) = rows.first().cloned() else {
        return Err(MapError::Empty(path.to_path_buf()));
    };
    let guessed: Vec<ColumnRole> = first_row.iter().map(|h| ColumnRole::guess(h)).collect();
    // A header names at least one known role, or is all non-numeric text.
    let has_header = guessed.iter().any(|r| *r != ColumnRole::Ignore)
        || first_row.iter().all(|f| f.trim().parse::<f64>().is_err());
    let (headers, data_rows) = if has_header {
        (first_row, rows[1..].to_vec())
    } else {
        rows.truncate(PREVIEW_ROWS);
        ((1..=first_row.len()).map(|i| format!("column {i}")).collect(), rows)
    };
    let roles = if has_header { guessed } else { vec![ColumnRole::Ignore; headers.len()] };
    Ok(HeaderPreview {
        path: path.to_path_buf(),
        headers,
        rows: data_rows,
        guess: ColumnMapping { delimiter, has_header, roles },
    })
}

/// Parses a time field to Unix seconds: integer seconds or milliseconds,
/// decimal seconds, or `YYYY-MM-DD[ T]HH:MM[:SS]` (UTC).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(n) = s.parse::<i64>() {
        return Some(if n.abs() > MILLIS_THRESHOLD { n.div_euclid(1000) } else { n });
    }
    if let Ok(x) = s.parse::<f64>() {
        return x.is_finite().then(|| x.floor() as i64);
    }
    let (date, time) = s.split_once([' ', 'T']).unwrap_or((s, ""));
    let mut d = date.split('-');
    let y: i64 = d.next()?.parse().ok()?;
    let m: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let time = time.trim_end_matches('Z');
    let mut secs = 0_i64;
    if !time.is_empty() {
        let mut parts = time.split(':');
        let h: i64 = parts.next()?.parse().ok()?;
        let mi: i64 = parts.next()?.parse().ok()?;
        let se: f64 = parts.next().map(|p| p.parse().ok()).unwrap_or(Some(0.0))?;
        secs = h * 3600 + mi * 60 + se.floor() as i64;
    }
    Some(days_from_civil(y, m, day) * 86_400 + secs)
}

/// One parsed row before sorting.
struct Row {
    user: u32,
    ts: i64,
    item: u32,
    action: u8,
    query: u32,
    scenario: u8,
    position: u8,
    label: i8,
}

/// Loads `path` with `mapping`; `progress(fraction)` is called now and then and
/// returns `false` to cancel. Reads `items.csv` beside the log when it exists.
pub fn load_mapped(
    path: &Path,
    mapping: &ColumnMapping,
    progress: &mut dyn FnMut(f32) -> bool,
) -> Result<(Dataset, LoadInfo), MapError> {
    mapping.validate().map_err(|reason| MapError::Mapping { path: path.to_path_buf(), reason })?;
    let col = |r| mapping.column_of(r);
    let (c_user, c_time, c_item) = match (col(ColumnRole::User), col(ColumnRole::Time), col(ColumnRole::Item)) {
        (Some(u), Some(t), Some(i)) => (u, t, i),
        _ => return Err(MapError::Mapping { path: path.to_path_buf(), reason: "user, time and item are required".into() }),
    };
    let (c_action, c_query, c_scenario, c_position, c_label) = (
        col(ColumnRole::Action),
        col(ColumnRole::Query),
        col(ColumnRole::Scenario),
        col(ColumnRole::Position),
        col(ColumnRole::Label),
    );
    let file_len = std::fs::metadata(path).map_err(|source| MapError::Io { path: path.to_path_buf(), source })?.len();
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(mapping.has_header)
        .flexible(true)
        .from_path(path)
        .map_err(|source| MapError::Csv { path: path.to_path_buf(), source })?;

    let mut ds = Dataset::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut info = LoadInfo {
        source: path.to_path_buf(),
        format: "mapped CSV".into(),
        detection: format!(
            "column mapping ({} delimiter, {})",
            match mapping.delimiter {
                b'\t' => "tab".to_string(),
                d => format!("'{}'", d as char),
            },
            if mapping.has_header { "header row" } else { "no header" }
        ),
        ..LoadInfo::default()
    };
    let file_name = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let mut record = csv::StringRecord::new();
    let mut unknown_scenarios = 0_u64;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                info.rows_skipped += 1;
                keep_error(&mut info, format!("{file_name}: {e}"));
                if e.is_io_error() {
                    break;
                }
                continue;
            }
        }
        info.rows_read += 1;
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if info.rows_read % PROGRESS_EVERY_ROWS == 0 {
            let byte = record.position().map(|p| p.byte()).unwrap_or(0);
            if !progress(byte as f32 / file_len.max(1) as f32) {
                return Err(MapError::Cancelled);
            }
        }
        let field = |c: usize| record.get(c).unwrap_or("").trim();
        let parsed = (|| -> Result<Row, String> {
            let user = field(c_user);
            let item = field(c_item);
            if user.is_empty() {
                return Err("empty user id".into());
            }
            if item.is_empty() {
                return Err("empty item id".into());
            }
            let ts = parse_time(field(c_time)).ok_or_else(|| format!("bad time '{}'", field(c_time)))?;
            let action = match c_action {
                Some(c) => Action::parse(field(c)).ok_or_else(|| format!("unknown action '{}'", field(c)))?,
                None => Action::Click,
            };
            let scenario = match c_scenario {
                Some(c) => Scenario::parse(field(c)).unwrap_or_else(|| {
                    unknown_scenarios += 1;
                    Scenario::Unknown
                }),
                None => Scenario::Unknown,
            };
            let position = match c_position.map(field) {
                None | Some("") => 0,
                Some(p) => p.parse::<u8>().map_err(|_| format!("bad position '{p}' (1..255)"))?,
            };
            let label = match c_label.map(field) {
                None | Some("") => -1,
                Some("0") | Some("false") => 0,
                Some("1") | Some("true") => 1,
                Some(l) => return Err(format!("bad label '{l}' (0 or 1)")),
            };
            let query = match c_query.map(field) {
                None | Some("") => NONE,
                Some(q) => ds.queries.intern(q),
            };
            Ok(Row {
                user: ds.users.intern(user),
                ts,
                item: ds.items.intern(item),
                action: action as u8,
                query,
                scenario: scenario as u8,
                position,
                label,
            })
        })();
        match parsed {
            Ok(row) => rows.push(row),
            Err(reason) => {
                info.rows_skipped += 1;
                keep_error(&mut info, format!("{file_name}:{line}: {reason}"));
            }
        }
    }
    if rows.is_empty() {
        return Err(MapError::NoRows {
            path: path.to_path_buf(),
            skipped: info.rows_skipped,
            first: info.first_errors.first().cloned().unwrap_or_else(|| "no data rows".into()),
        });
    }
    if unknown_scenarios > 0 {
        info.notes.push(format!("{unknown_scenarios} rows had an unknown scenario (kept as 'unknown')"));
    }
    if c_action.is_none() {
        info.notes.push("no action column: every row counts as a click".into());
    }
    // Users contiguous, each in time order; the sort is stable so ties keep file order.
    rows.sort_by_key(|r| (r.user, r.ts));
    let base_ts = rows.iter().map(|r| r.ts).min().unwrap_or(0);
    let max_ts = rows.iter().map(|r| r.ts).max().unwrap_or(0);
    if max_ts - base_ts > i64::from(u32::MAX) {
        return Err(MapError::TimeRange { path: path.to_path_buf() });
    }
    ds.base_ts = base_ts;
    let mut counts = vec![0_u32; ds.users.len()];
    for r in &rows {
        counts[r.user as usize] += 1;
    }
    ds.user_offsets = std::iter::once(0)
        .chain(counts.iter().scan(0_u32, |end, c| {
            *end += c;
            Some(*end)
        }))
        .collect();
    ds.ts = rows.iter().map(|r| (r.ts - base_ts) as u32).collect();
    ds.item = rows.iter().map(|r| r.item).collect();
    ds.action = rows.iter().map(|r| r.action).collect();
    if c_query.is_some() {
        ds.query = rows.iter().map(|r| r.query).collect();
    }
    if c_scenario.is_some() {
        ds.scenario = rows.iter().map(|r| r.scenario).collect();
    }
    if c_position.is_some() {
        ds.position = rows.iter().map(|r| r.position).collect();
    }
    if c_label.is_some() {
        ds.label = rows.iter().map(|r| r.label).collect();
    }
    let items_path = path.with_file_name("items.csv");
    if items_path.is_file() && items_path != path {
        match read_items_table(&items_path, &mut ds) {
            Ok(n) => {
                info.notes.push(format!("items table: {n} items described"));
                info.items_table = Some(items_path);
            }
            Err(e) => info.notes.push(format!("items table not read: {e}")),
        }
    } else {
        empty_item_table(&mut ds);
    }
    progress(1.0);
    Ok((ds, info))
}

fn keep_error(info: &mut LoadInfo, message: String) {
    if info.first_errors.len() < MAX_ERRORS_KEPT {
        info.first_errors.push(message);
    }
}

/// An item table with no descriptions, sized to the catalogue.
fn empty_item_table(ds: &mut Dataset) {
    let n = ds.items.len();
    let mut titles = StrPool::new();
    titles.resize(n);
    ds.item_table.titles = titles;
    ds.item_table.category = vec![NONE; n];
    ds.item_table.brand = vec![NONE; n];
    ds.item_table.price = vec![f32::NAN; n];
    ds.item_table.described = vec![false; n];
}

/// Reads `item_id,title,category,brand,price` (any order, by header name); items
/// only in the table join the catalogue. Returns how many items it described.
fn read_items_table(path: &Path, ds: &mut Dataset) -> Result<usize, MapError> {
    let csv_err = |source| MapError::Csv { path: path.to_path_buf(), source };
    let mut rdr = csv::ReaderBuilder::new().flexible(true).from_path(path).map_err(csv_err)?;
    let headers: Vec<String> = rdr.headers().map_err(csv_err)?.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let find = |names: &[&str]| headers.iter().position(|h| names.contains(&h.as_str()));
    let Some(c_id) = find(&["item_id", "item", "id"]) else {
        return Err(MapError::Mapping { path: path.to_path_buf(), reason: "no item_id column".into() });
    };
    let (c_title, c_cat, c_brand, c_price) =
        (find(&["title", "name"]), find(&["category", "cat"]), find(&["brand"]), find(&["price"]));
    let mut titles: HashMap<u32, String> = HashMap::new();
    let mut cats = Interner::new();
    let mut brands = Interner::new();
    let mut attrs: HashMap<u32, (u32, u32, f32)> = HashMap::new();
    for rec in rdr.records() {
        let Ok(rec) = rec else { continue };
        let get = |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty());
        let Some(id) = get(Some(c_id)) else { continue };
        let item = ds.items.intern(id);
        if let Some(t) = get(c_title) {
            titles.insert(item, t.to_string());
        }
        let cat = get(c_cat).map(|c| cats.intern(c)).unwrap_or(NONE);
        let brand = get(c_brand).map(|b| brands.intern(b)).unwrap_or(NONE);
        let price = get(c_price).and_then(|p| p.parse().ok()).unwrap_or(f32::NAN);
        attrs.insert(item, (cat, brand, price));
    }
    empty_item_table(ds);
    let mut pool = StrPool::new();
    for i in 0..ds.items.len() as u32 {
        pool.push(titles.get(&i).map(String::as_str).unwrap_or(""));
    }
    ds.item_table.titles = pool;
    for (item, (cat, brand, price)) in &attrs {
        let i = *item as usize;
        ds.item_table.category[i] = *cat;
        ds.item_table.brand[i] = *brand;
        ds.item_table.price[i] = *price;
        ds.item_table.described[i] = true;
    }
    ds.item_table.categories = cats;
    ds.item_table.brands = brands;
    Ok(attrs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn guesses_native_header_and_loads_sorted_per_user() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "log.csv",
            "user_id,timestamp,item_id,action,query,scenario,position,label\n\
             u2,200,a,click,shoes,search,,\n\
             u1,300,b,impression,shoes,search,2,1\n\
             u1,100,a,buy,,feed,,\n\
             u2,100,c,cart,,feed,,\n\
             u1,100,c,fav,,feed,,\n\
             u3,oops,a,click,,feed,,\n",
        );
        let pre = preview(&p).unwrap();
        assert!(pre.recognised(), "{:?}", pre.guess.validate());
        assert!(pre.guess.has_header);
        assert_eq!(pre.rows.len(), 6);
        let (ds, info) = load_mapped(&p, &pre.guess, &mut |_| true).unwrap();
        assert_eq!(info.rows_read, 6);
        assert_eq!(info.rows_skipped, 1);
        assert_eq!(info.first_errors, vec!["log.csv:7: bad time 'oops'".to_string()]);
        assert_eq!(ds.n_users(), 2); // u3's only row was bad, so u3 was never interned
        assert_eq!(ds.user_offsets, vec![0, 2, 5]);
        // u2 (id 0): c@100 then a@200; u1 (id 1): a@100, c@100 (file order on the tie), b@300.
        let items: Vec<&str> = ds.item.iter().map(|i| ds.items.name(*i)).collect();
        assert_eq!(items, ["c", "a", "a", "c", "b"]);
        assert_eq!(ds.base_ts, 100);
        assert_eq!(ds.ts, vec![0, 100, 0, 0, 200]);
        assert_eq!(ds.action_at(4), Action::Impression);
        assert_eq!(ds.position_at(4), 2);
        assert_eq!(ds.label_at(4), Some(1));
        assert_eq!(ds.queries.name(ds.query_at(4)), "shoes");
        assert_eq!(ds.scenario_at(0), Scenario::Feed);
        assert_eq!(ds.item_table.titles.len(), ds.n_items());
    }

    #[test]
    fn headerless_file_needs_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "taobao.csv", "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,pv,1511561733\n");
        let pre = preview(&p).unwrap();
        assert!(!pre.guess.has_header);
        assert!(!pre.recognised());
        assert_eq!(pre.headers[0], "column 1");
        assert_eq!(pre.rows.len(), 2);
        let mut m = pre.guess.clone();
        m.roles = vec![ColumnRole::User, ColumnRole::Item, ColumnRole::Ignore, ColumnRole::Action, ColumnRole::Time];
        let (ds, info) = load_mapped(&p, &m, &mut |_| true).unwrap();
        assert_eq!((ds.n_users(), ds.n_items(), ds.n_behaviors()), (1, 2, 2));
        assert_eq!(info.rows_skipped, 0);
        assert_eq!(ds.time(1), 1_511_561_733);
    }

    #[test]
    fn mapping_validation_names_the_problem() {
        let m = ColumnMapping { delimiter: b',', has_header: true, roles: vec![ColumnRole::User, ColumnRole::Item] };
        assert_eq!(m.validate(), Err("map a column to: time".to_string()));
        let m = ColumnMapping {
            delimiter: b',',
            has_header: true,
            roles: vec![ColumnRole::User, ColumnRole::Item, ColumnRole::Time, ColumnRole::Time],
        };
        assert!(m.validate().unwrap_err().contains("2 columns are mapped to time"));
    }

    #[test]
    fn times_parse_in_every_supported_form() {
        assert_eq!(parse_time("1511544070"), Some(1_511_544_070));
        assert_eq!(parse_time("1511544070123"), Some(1_511_544_070));
        assert_eq!(parse_time("12.9"), Some(12));
        assert_eq!(parse_time("1970-01-02"), Some(86_400));
        assert_eq!(parse_time("1970-01-02 01:00:30"), Some(86_400 + 3_630));
        assert_eq!(parse_time("1970-01-02T00:01Z"), Some(86_460));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2024-13-01"), None);
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a,b;c,d"), b',');
        assert_eq!(sniff_delimiter("abc"), b',');
    }
}
