//! Column mapping for behaviour logs whose header the engine does not
//! recognise: a preview of the first rows, a guessed [`Role`] per column,
//! validation, and loading with the chosen mapping.
//!
//! Logs with a header row and a comma or tab go through the engine's loader
//! (`LoadOptions::roles`); logs without a header row, or with `;` / `|`, are
//! read here row by row into the engine's own `Builder`. egui-free.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::builder::{BadRows, Builder, MAX_EXAMPLES, Row};
use crate::data::formats::Role;
use crate::data::time::parse_timestamp;
use crate::data::{Action, DataError, Dataset, Format, LoadReport, NONE, Scenario, parse};

/// Rows shown in the mapping preview.
pub const PREVIEW_ROWS: usize = 8;
/// Rows between progress reports / cancellation checks.
const PROGRESS_EVERY_ROWS: u64 = 16_384;
/// Delimiters tried when sniffing a file, in order of preference on ties.
const DELIMITERS: [u8; 4] = [b',', b'\t', b';', b'|'];

/// One sentence per role for the picker's tooltips.
pub fn role_help(role: Role) -> &'static str {
    match role {
        Role::User => "Who acted: any string id (required).",
        Role::Time => {
            "When: Unix seconds or milliseconds, or an ISO 8601 date and time (required)."
        }
        Role::Item => "What was acted on: any string id (required).",
        Role::Action => "impression / click / cart / fav / buy (Taobao's pv works too).",
        Role::Query => "The search query of the behaviour, if any.",
        Role::Scenario => "Where it happened: search or feed.",
        Role::Position => "Ad position 1..255 for impressions.",
        Role::Label => "Click label 0/1 for impressions.",
        Role::Rating => "A rating value (MovieLens-style logs).",
        Role::Ignore => "Not used.",
    }
}

/// Whether a valid mapping must contain `role`.
pub fn role_required(role: Role) -> bool {
    matches!(role, Role::User | Role::Time | Role::Item)
}

/// How to read a delimited log: its delimiter, whether row 1 is a header, a role per column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMapping {
    pub delimiter: u8,
    pub has_header: bool,
    pub roles: Vec<Role>,
}

impl ColumnMapping {
    /// The column holding `role`, if mapped.
    pub fn column_of(&self, role: Role) -> Option<usize> {
        self.roles.iter().position(|r| *r == role)
    }

    /// `Ok` when user, time and item are mapped and no role other than `ignore` repeats.
    pub fn validate(&self) -> Result<(), String> {
        let missing: Vec<&str> = Role::ALL
            .iter()
            .filter(|r| role_required(**r) && self.column_of(**r).is_none())
            .map(|r| r.name())
            .collect();
        if !missing.is_empty() {
            return Err(format!("map a column to: {}", missing.join(", ")));
        }
        for role in Role::ALL.iter().filter(|r| **r != Role::Ignore) {
            let n = self.roles.iter().filter(|r| *r == role).count();
            if n > 1 {
                return Err(format!(
                    "{} columns are mapped to {}; keep one",
                    n,
                    role.name()
                ));
            }
        }
        Ok(())
    }

    /// The roles as the engine's `LoadOptions::roles` takes them.
    pub fn engine_roles(&self) -> Vec<Option<Role>> {
        self.roles
            .iter()
            .map(|r| (*r != Role::Ignore).then_some(*r))
            .collect()
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
    /// The guess; loadable as is when [`HeaderPreview::recognised`].
    pub guess: ColumnMapping,
    /// Why the engine did not take the file by itself.
    pub reason: String,
}

impl HeaderPreview {
    /// Whether the guessed mapping can be used as is.
    pub fn recognised(&self) -> bool {
        self.guess.validate().is_ok()
    }
}

/// Errors of the mapping step.
#[derive(Debug, thiserror::Error)]
pub enum MapError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Csv { path: PathBuf, source: csv::Error },
    #[error("{}: the file is empty", .0.display())]
    Empty(PathBuf),
    #[error("{}: invalid column mapping: {reason}", path.display())]
    Mapping { path: PathBuf, reason: String },
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("cancelled")]
    Cancelled,
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

/// Reads the first rows of `path` and guesses a mapping; `reason` says why the step is needed.
pub fn preview(path: &Path, reason: &str) -> Result<HeaderPreview, MapError> {
    let io = |source| MapError::Io {
        path: path.to_path_buf(),
        source,
    };
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
        .map_err(|source| MapError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
    let mut rows: Vec<Vec<String>> = Vec::new();
    for rec in csv.records().take(PREVIEW_ROWS + 1) {
        let rec = rec.map_err(|source| MapError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        rows.push(
            rec.iter()
                .map(|f| f.trim_start_matches('\u{feff}').to_string())
                .collect(),
        );
    }
    let Some(first_row) = rows.first().cloned() else {
        return Err(MapError::Empty(path.to_path_buf()));
    };
    let guessed: Vec<Role> = first_row
        .iter()
        .map(|h| Role::from_header(h).unwrap_or(Role::Ignore))
        .collect();
    // A header names at least one known role, or is all non-numeric text.
    let has_header = guessed.iter().any(|r| *r != Role::Ignore)
        || first_row.iter().all(|f| f.trim().parse::<f64>().is_err());
    let (headers, data_rows) = if has_header {
        (first_row, rows[1..].to_vec())
    } else {
        rows.truncate(PREVIEW_ROWS);
        (
            (1..=first_row.len())
                .map(|i| format!("column {i}"))
                .collect(),
            rows,
        )
    };
    let roles = if has_header {
        guessed
    } else {
        vec![Role::Ignore; headers.len()]
    };
    Ok(HeaderPreview {
        path: path.to_path_buf(),
        headers,
        rows: data_rows,
        guess: ColumnMapping {
            delimiter,
            has_header,
            roles,
        },
        reason: reason.to_string(),
    })
}

/// Whether the engine's loader can read `mapping` itself (a header row and a comma or tab
/// delimiter); other mappings go through [`load_mapped`].
pub fn engine_can_load(mapping: &ColumnMapping) -> bool {
    mapping.has_header && matches!(mapping.delimiter, b',' | b'\t')
}

/// Loads `path` with `mapping` through the engine's row builder (so sorting, ids and the
/// item table follow the engine's rules), for files the engine's loader cannot take
/// directly: no header row, or a `;` / `|` delimiter. `progress(fraction)` returns
/// `false` to cancel. Reads `items.csv` beside the log when it exists.
pub fn load_mapped(
    path: &Path,
    mapping: &ColumnMapping,
    progress: &mut dyn FnMut(f32) -> bool,
) -> Result<(Dataset, LoadReport), MapError> {
    mapping.validate().map_err(|reason| MapError::Mapping {
        path: path.to_path_buf(),
        reason,
    })?;
    let col = |r| mapping.column_of(r);
    let (Some(c_user), Some(c_time), Some(c_item)) =
        (col(Role::User), col(Role::Time), col(Role::Item))
    else {
        return Err(MapError::Mapping {
            path: path.to_path_buf(),
            reason: "user, time and item are required".into(),
        });
    };
    let file_len = std::fs::metadata(path)
        .map_err(|source| MapError::Io {
            path: path.to_path_buf(),
            source,
        })?
        .len();
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .has_headers(mapping.has_header)
        .flexible(true)
        .from_path(path)
        .map_err(|source| MapError::Csv {
            path: path.to_path_buf(),
            source,
        })?;
    let mut b = Builder::new();
    b.has_query = col(Role::Query).is_some();
    b.has_scenario = col(Role::Scenario).is_some();
    b.has_position = col(Role::Position).is_some();
    b.has_label = col(Role::Label).is_some();
    b.has_rating = col(Role::Rating).is_some();
    let mut bad = BadRows::new(path, false);
    let mut record = csv::StringRecord::new();
    let mut rows_read = 0_u64;
    loop {
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                if e.is_io_error() {
                    return Err(MapError::Csv {
                        path: path.to_path_buf(),
                        source: e,
                    });
                }
                bad.bad(line, format!("malformed CSV: {e}"))?;
                continue;
            }
        }
        rows_read += 1;
        let line = record.position().map_or(0, |p| p.line());
        if rows_read.is_multiple_of(PROGRESS_EVERY_ROWS) {
            let byte = record.position().map_or(0, |p| p.byte());
            if !progress(byte as f32 / file_len.max(1) as f32) {
                return Err(MapError::Cancelled);
            }
        }
        let field = |r: Role| col(r).map(|c| record.get(c).unwrap_or("").trim());
        let parsed = (|| -> Result<Row, String> {
            let (user, item, ts) = (
                record.get(c_user).unwrap_or("").trim(),
                record.get(c_item).unwrap_or("").trim(),
                record.get(c_time).unwrap_or("").trim(),
            );
            if user.is_empty() {
                return Err("empty user_id".into());
            }
            if item.is_empty() {
                return Err("empty item_id".into());
            }
            let millis = parse_timestamp(ts).map_err(|e| format!("timestamp `{ts}` {e}"))?;
            let mut row = Row::new(0, millis, 0, Action::Click as u8);
            if let Some(a) = field(Role::Action) {
                row.action = Action::parse(a).ok_or_else(|| format!("unknown action `{a}`"))? as u8;
            }
            if let Some(s) = field(Role::Scenario) {
                row.scenario =
                    Scenario::parse(s).ok_or_else(|| format!("unknown scenario `{s}`"))? as u8;
            }
            if let Some(p) = field(Role::Position).filter(|p| !p.is_empty()) {
                row.position = p
                    .parse::<u8>()
                    .map_err(|_| format!("position `{p}` is not an integer 0..255"))?;
            }
            if let Some(l) = field(Role::Label) {
                row.label = match l.to_ascii_lowercase().as_str() {
                    "" => -1,
                    "0" | "false" => 0,
                    "1" | "true" => 1,
                    _ => return Err(format!("label `{l}` is not 0 or 1")),
                };
            }
            if let Some(r) = field(Role::Rating).filter(|r| !r.is_empty()) {
                row.rating = r
                    .parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| format!("rating `{r}` is not a number"))?;
            }
            row.user = b.users.intern(user);
            row.item = b.items.intern(item);
            if let Some(q) = field(Role::Query) {
                row.query = if q.is_empty() {
                    NONE
                } else {
                    b.queries.intern(q)
                };
            }
            Ok(row)
        })();
        match parsed {
            Ok(row) => b.push(row),
            Err(reason) => bad.bad(line, reason)?,
        }
    }
    if b.is_empty() {
        return Err(MapError::Data(DataError::NoBehaviours {
            path: path.to_path_buf(),
            skipped: bad.skipped,
            first: bad
                .examples
                .first()
                .cloned()
                .unwrap_or_else(|| "file has no data rows".into()),
        }));
    }
    let mut notes = Vec::new();
    if col(Role::Action).is_none() {
        notes.push("no action column: every row counts as a click".to_string());
    }
    let items_path = path.with_file_name("items.csv");
    let items_file = (items_path.is_file() && items_path != path).then_some(items_path);
    let mut first_errors = std::mem::take(&mut bad.examples);
    let mut rows_skipped = bad.skipped;
    if let Some(ip) = &items_file {
        let mut ib = BadRows::new(ip, false);
        let file = File::open(ip).map_err(|source| MapError::Io {
            path: ip.clone(),
            source,
        })?;
        let n = parse::items_table(ip, BufReader::new(file), &mut b, &mut ib)?;
        notes.push(format!("items table {}: {n} items described", ip.display()));
        rows_skipped += ib.skipped;
        first_errors.extend(ib.examples);
        first_errors.truncate(MAX_EXAMPLES);
    }
    let dataset = b.finish(Format::Native, path)?;
    progress(1.0);
    let delimiter = match mapping.delimiter {
        b'\t' => "tab".to_string(),
        d => format!("`{}`", d as char),
    };
    let report = LoadReport {
        source: path.to_path_buf(),
        format: Format::Native,
        detection: format!(
            "column mapping chosen by the user ({delimiter} delimiter, {})",
            if mapping.has_header {
                "header row"
            } else {
                "no header row"
            }
        ),
        items_file,
        rows_read,
        rows_skipped,
        first_errors,
        notes,
        from_cache: false,
        single_behavior_users: 0,
        fingerprint: String::new(),
    };
    Ok((dataset, report))
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
    fn mapped_load_sorts_per_user_and_reports_bad_rows() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "log.csv",
            "uid;when;what;act;q;where;pos;clk\n\
             u2;200;a;click;shoes;search;;\n\
             u1;300;b;impression;shoes;search;2;1\n\
             u1;100;a;buy;;feed;;\n\
             u2;100;c;cart;;feed;;\n\
             u1;100;c;fav;;feed;;\n\
             u3;oops;a;click;;feed;;\n",
        );
        let pre = preview(&p, "test").unwrap();
        assert_eq!(pre.guess.delimiter, b';');
        assert!(pre.guess.has_header);
        assert_eq!(pre.rows.len(), 6);
        assert_eq!(pre.guess.roles[0], Role::User);
        assert!(!pre.recognised(), "`when` and `what` are not known names");
        let mut m = pre.guess.clone();
        m.roles = vec![
            Role::User,
            Role::Time,
            Role::Item,
            Role::Action,
            Role::Query,
            Role::Scenario,
            Role::Position,
            Role::Label,
        ];
        assert!(!engine_can_load(&m));
        let (ds, report) = load_mapped(&p, &m, &mut |_| true).unwrap();
        assert_eq!(report.rows_read, 6);
        assert_eq!(report.rows_skipped, 1);
        assert_eq!(report.first_errors.len(), 1);
        assert!(
            report.first_errors[0]
                .ends_with("log.csv:7: timestamp `oops` is not a number or ISO 8601 date"),
            "{:?}",
            report.first_errors
        );
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
    }

    #[test]
    fn headerless_file_needs_a_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "log.csv",
            "1,2268318,2520377,view,1511544070\n1,2333346,2520771,view,1511561733\n",
        );
        let pre = preview(&p, "test").unwrap();
        assert!(!pre.guess.has_header);
        assert!(!pre.recognised());
        assert_eq!(pre.headers[0], "column 1");
        assert_eq!(pre.rows.len(), 2);
        let mut m = pre.guess.clone();
        m.roles = vec![
            Role::User,
            Role::Item,
            Role::Ignore,
            Role::Action,
            Role::Time,
        ];
        assert!(!engine_can_load(&m));
        let (ds, report) = load_mapped(&p, &m, &mut |_| true).unwrap();
        assert_eq!((ds.n_users(), ds.n_items(), ds.n_behaviors()), (1, 2, 2));
        assert_eq!(report.rows_skipped, 0);
        assert_eq!(ds.time(1), 1_511_561_733);
    }

    #[test]
    fn mapping_validation_names_the_problem() {
        let m = ColumnMapping {
            delimiter: b',',
            has_header: true,
            roles: vec![Role::User, Role::Item],
        };
        assert_eq!(m.validate(), Err("map a column to: timestamp".to_string()));
        let m = ColumnMapping {
            delimiter: b',',
            has_header: true,
            roles: vec![Role::User, Role::Item, Role::Time, Role::Time],
        };
        assert!(
            m.validate()
                .unwrap_err()
                .contains("2 columns are mapped to timestamp")
        );
        let m = ColumnMapping {
            delimiter: b',',
            has_header: true,
            roles: vec![Role::User, Role::Ignore, Role::Time, Role::Item],
        };
        assert_eq!(
            m.engine_roles(),
            vec![Some(Role::User), None, Some(Role::Time), Some(Role::Item)]
        );
        assert!(engine_can_load(&m));
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(sniff_delimiter("a\tb\tc"), b'\t');
        assert_eq!(sniff_delimiter("a,b;c,d"), b',');
        assert_eq!(sniff_delimiter("abc"), b',');
    }
}
