//! Parsers for each format. They feed a [`Builder`] row by row and report bad
//! rows through [`BadRows`]; only whole-file problems are returned as errors.

use super::builder::{BadRows, Builder, Row, RowAt};
use super::formats::{ColumnMap, Delim, Role, truncate};
use super::time::parse_timestamp;
use super::{Action, DataError, NONE, Scenario};
use std::io::Read;
use std::path::Path;

/// Progress callback: fraction of the input consumed, 0..=1.
pub type Progress<'a> = Option<&'a (dyn Fn(f32) + Send + Sync)>;

/// Rows between progress callbacks.
const PROGRESS_EVERY: u64 = 1 << 16;

fn field_str<'a>(rec: &'a csv::ByteRecord, i: usize) -> Result<&'a str, String> {
    let b = rec.get(i).unwrap_or(b"");
    std::str::from_utf8(b).map(str::trim).map_err(|_| format!("column {} is not valid UTF-8", i + 1))
}

fn csv_reader<R: Read>(r: R, delim: u8, headers: bool) -> csv::Reader<R> {
    csv::ReaderBuilder::new().delimiter(delim).has_headers(headers).flexible(true).buffer_capacity(1 << 20).from_reader(r)
}

fn csv_err(path: &Path, e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => DataError::io(path, io),
        other => DataError::Row { path: path.to_path_buf(), line, reason: format!("{other:?}") },
    }
}

/// Reads the next record into `rec`; malformed records are reported to `bad` and skipped.
/// Ok(false) at the end of the input; I/O errors (and strict-mode bad rows) are returned.
fn next_record<R: Read>(rdr: &mut csv::Reader<R>, rec: &mut csv::ByteRecord, path: &Path, bad: &mut BadRows) -> Result<bool, DataError> {
    loop {
        match rdr.read_byte_record(rec) {
            Ok(more) => return Ok(more),
            Err(e) => {
                if let csv::ErrorKind::Io(_) = e.kind() {
                    return Err(csv_err(path, e));
                }
                bad.bad(RowAt::of(e.position()), format!("malformed CSV: {e}"))?;
            }
        }
    }
}

/// Parses the optional native fields of one row into `row`.
fn optional_fields(
    row: &mut Row,
    get: &dyn Fn(Option<usize>) -> Result<Option<String>, String>,
    map: &ColumnMap,
) -> Result<(), String> {
    if let Some(a) = get(map.action)? {
        row.action = Action::parse(&a).ok_or_else(|| format!("unknown action `{}`", truncate(&a, 30)))? as u8;
    }
    if let Some(s) = get(map.scenario)? {
        row.scenario = Scenario::parse(&s).ok_or_else(|| format!("unknown scenario `{}`", truncate(&s, 30)))? as u8;
    }
    if let Some(p) = get(map.position)? {
        if !p.is_empty() {
            row.position = p.parse::<u8>().map_err(|_| format!("position `{}` is not an integer 0..255", truncate(&p, 30)))?;
        }
    }
    if let Some(l) = get(map.label)? {
        row.label = match l.to_ascii_lowercase().as_str() {
            "" => -1,
            "0" | "false" => 0,
            "1" | "true" => 1,
            _ => return Err(format!("label `{}` is not 0 or 1", truncate(&l, 30))),
        };
    }
    if let Some(r) = get(map.rating)? {
        if !r.is_empty() {
            row.rating = r.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("rating `{}` is not a number", truncate(&r, 30)))?;
        }
    }
    Ok(())
}

fn set_presence(b: &mut Builder, map: &ColumnMap) {
    b.has_query = map.query.is_some();
    b.has_scenario = map.scenario.is_some();
    b.has_position = map.position.is_some();
    b.has_label = map.label.is_some();
    b.has_rating = map.rating.is_some();
}

/// Native CSV/TSV with a header (or explicit column roles from the GUI's mapping step).
pub fn native_delimited(
    path: &Path,
    input: impl Read,
    total_bytes: u64,
    delim: Delim,
    roles: Option<&[Option<Role>]>,
    b: &mut Builder,
    bad: &mut BadRows,
    notes: &mut Vec<String>,
    progress: Progress,
) -> Result<(), DataError> {
    let mut rdr = csv_reader(input, delim.table_byte(), true);
    let header = rdr.byte_headers().map_err(|e| csv_err(path, e))?.clone();
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let map = match roles {
        Some(r) => ColumnMap::from_roles(&refs, r),
        None => ColumnMap::from_header(&refs),
    };
    if let Some(role) = map.missing_required() {
        return Err(DataError::MissingColumn { path: path.to_path_buf(), column: role.name().into(), found: refs.join(",") });
    }
    if !map.extra.is_empty() {
        notes.push(format!("ignored columns: {}", map.extra.join(", ")));
    }
    set_presence(b, &map);
    let need = map.min_fields();
    let mut rec = csv::ByteRecord::new();
    let mut rows = 0u64;
    while next_record(&mut rdr, &mut rec, path, bad)? {
        let line = RowAt::of(rec.position());
        rows += 1;
        if rows % PROGRESS_EVERY == 0 {
            if let Some(p) = progress {
                p(rec.position().map_or(0, |p| p.byte()) as f32 / total_bytes.max(1) as f32);
            }
        }
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank line
        }
        if rec.len() < need {
            bad.bad(line, format!("expected {} fields, found {}", names.len(), rec.len()))?;
            continue;
        }
        let parsed = (|| -> Result<Row, String> {
            let get = |i: Option<usize>| -> Result<Option<String>, String> {
                i.map(|i| field_str(&rec, i).map(str::to_string)).transpose()
            };
            let user = field_str(&rec, map.user.unwrap_or(0))?;
            let ts = field_str(&rec, map.time.unwrap_or(0))?;
            let item = field_str(&rec, map.item.unwrap_or(0))?;
            if user.is_empty() {
                return Err("empty user_id".into());
            }
            if item.is_empty() {
                return Err("empty item_id".into());
            }
            let millis = parse_timestamp(ts).map_err(|e| format!("timestamp `{}` {e}", truncate(ts, 30)))?;
            let mut row = Row::new(0, millis, 0, Action::Click as u8);
            optional_fields(&mut row, &get, &map)?;
            row.user = b.users.intern(user);
            row.item = b.items.intern(item);
            if let Some(qi) = map.query {
                let q = field_str(&rec, qi)?;
                row.query = if q.is_empty() { NONE } else { b.queries.intern(q) };
            }
            Ok(row)
        })();
        match parsed {
            Ok(row) => b.push(row),
            Err(reason) => bad.bad(line, reason)?,
        }
    }
    Ok(())
}

fn json_str(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(x) => Some(if *x { "1".into() } else { "0".into() }),
        serde_json::Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Native JSON lines: one object per line with the native column names as keys.
pub fn native_jsonl(path: &Path, text: &str, b: &mut Builder, bad: &mut BadRows, notes: &mut Vec<String>) -> Result<(), DataError> {
    let mut seen_keys: Option<ColumnMap> = None;
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(line) {
            Ok(o) => o,
            Err(e) => {
                bad.bad(line_no, format!("invalid JSON: {e}"))?;
                continue;
            }
        };
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        let map = ColumnMap::from_header(&keys);
        if seen_keys.is_none() {
            if let Some(role) = map.missing_required() {
                return Err(DataError::MissingColumn { path: path.to_path_buf(), column: role.name().into(), found: keys.join(",") });
            }
            if !map.extra.is_empty() {
                notes.push(format!("ignored keys: {}", map.extra.join(", ")));
            }
            set_presence(b, &map);
            seen_keys = Some(map.clone());
        }
        let vals: Vec<&serde_json::Value> = obj.values().collect();
        let parsed = (|| -> Result<Row, String> {
            let get = |i: Option<usize>| -> Result<Option<String>, String> {
                i.map(|i| json_str(vals[i]).ok_or_else(|| format!("field `{}` must be a string or number", keys[i]))).transpose()
            };
            let user = get(map.user)?.ok_or("missing user_id")?;
            if map.time.is_some_and(|i| vals[i].is_boolean()) {
                return Err("timestamp must be a number or a string, not true/false".into());
            }
            let ts = get(map.time)?.ok_or("missing timestamp")?;
            let item = get(map.item)?.ok_or("missing item_id")?;
            if user.is_empty() || item.is_empty() {
                return Err("empty user_id or item_id".into());
            }
            let millis = parse_timestamp(&ts).map_err(|e| format!("timestamp `{}` {e}", truncate(&ts, 30)))?;
            let mut row = Row::new(0, millis, 0, Action::Click as u8);
            optional_fields(&mut row, &get, &map)?;
            row.user = b.users.intern(&user);
            row.item = b.items.intern(&item);
            if let Some(q) = get(map.query)?.filter(|q| !q.is_empty()) {
                row.query = b.queries.intern(&q);
            }
            Ok(row)
        })();
        match parsed {
            Ok(row) => b.push(row),
            Err(reason) => bad.bad(line_no, reason)?,
        }
    }
    Ok(())
}

/// The native items table: `item_id` required; `title`, `category`, `brand`, `price` optional.
pub fn items_table(path: &Path, input: impl Read, b: &mut Builder, bad: &mut BadRows) -> Result<u64, DataError> {
    let mut rdr = csv_reader(input, b',', true);
    let header = rdr.byte_headers().map_err(|e| csv_err(path, e))?.clone();
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    let col = |alts: &[&str]| names.iter().position(|n| alts.contains(&n.as_str()));
    let item_c = col(&["item_id", "itemid", "item", "adgroup_id", "movieid", "movie_id"])
        .ok_or_else(|| DataError::MissingColumn { path: path.to_path_buf(), column: "item_id".into(), found: names.join(",") })?;
    let (title_c, cat_c, brand_c, price_c) =
        (col(&["title", "name"]), col(&["category", "cate_id", "category_id", "genres"]), col(&["brand"]), col(&["price"]));
    let mut rec = csv::ByteRecord::new();
    let mut n = 0;
    while next_record(&mut rdr, &mut rec, path, bad)? {
        let line = RowAt::of(rec.position());
        let r = (|| -> Result<(), String> {
            let item = field_str(&rec, item_c)?;
            if item.is_empty() {
                return Err("empty item_id".into());
            }
            let opt = |c: Option<usize>| -> Result<Option<&str>, String> { c.map(|c| field_str(&rec, c)).transpose() };
            let (title, cat, brand) = (opt(title_c)?, opt(cat_c)?, opt(brand_c)?);
            let cat = cat.map(|c| c.split('|').next().unwrap_or(""));
            let brand = brand.filter(|b| !b.eq_ignore_ascii_case("null"));
            let price = match opt(price_c)? {
                Some(p) if !p.is_empty() => Some(p.parse::<f32>().ok().filter(|v| v.is_finite()).ok_or_else(|| format!("price `{}` is not a number", truncate(p, 30)))?),
                _ => None,
            };
            let id = b.items.intern(item);
            b.describe_item(id, title, cat, brand, price);
            Ok(())
        })();
        match r {
            Ok(()) => n += 1,
            Err(reason) => bad.bad(line, reason)?,
        }
    }
    Ok(n)
}

/// SASRec preprocessed `user item` lines; line order is time order.
pub fn sasrec(text: &str, b: &mut Builder, bad: &mut BadRows) -> Result<(), DataError> {
    for (i, line) in text.lines().enumerate() {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 2 {
            bad.bad(line_no, format!("expected 2 fields `user item`, found {}", f.len()))?;
            continue;
        }
        let u = b.users.intern(f[0]);
        let it = b.items.intern(f[1]);
        // No clock in this format: the line number is the time (1 s apart), so order is file order.
        b.push(Row::new(u, line_no as i64 * 1000, it, Action::Click as u8));
    }
    Ok(())
}

/// MovieLens ratings: `.dat` with `::` or `ratings.csv` with a header.
pub fn movielens(path: &Path, text: &str, delim: Delim, b: &mut Builder, bad: &mut BadRows) -> Result<(), DataError> {
    b.has_rating = true;
    let mut lines = text.lines().enumerate().peekable();
    // Columns user, movie, rating, timestamp: in that order in `.dat` files and in a
    // `ratings.csv` without a header; found by name when the first line is a header.
    let mut cols = [0usize, 1, 2, 3];
    let mut n_fields = 4;
    if delim != Delim::DoubleColon {
        let first = lines.peek().map(|(_, l)| *l).unwrap_or("");
        let names: Vec<&str> = first.split(',').map(|h| h.trim().trim_matches('"')).collect();
        if names.iter().any(|n| !n.is_empty() && n.parse::<f64>().is_err()) {
            lines.next();
            // The native header names and aliases (userId, movieId, rating, timestamp among them).
            let map = ColumnMap::from_header(&names);
            let found = [(map.user, "userId"), (map.item, "movieId"), (map.rating, "rating"), (map.time, "timestamp")];
            for (i, (c, name)) in found.into_iter().enumerate() {
                cols[i] = c.ok_or_else(|| DataError::MissingColumn { path: path.to_path_buf(), column: name.into(), found: names.join(",") })?;
            }
            n_fields = names.len();
        }
    }
    let [uc, mc, rc, tc] = cols;
    for (i, line) in lines {
        let line_no = i as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = if delim == Delim::DoubleColon { line.split("::").collect() } else { line.split(',').collect() };
        if f.len() != n_fields {
            let what = if n_fields == 4 { "user,movie,rating,timestamp" } else { "as in the header" };
            bad.bad(line_no, format!("expected {n_fields} fields {what}, found {}", f.len()))?;
            continue;
        }
        let millis = match parse_timestamp(f[tc]) {
            Ok(m) => m,
            Err(e) => {
                bad.bad(line_no, format!("timestamp `{}` {e}", truncate(f[tc], 30)))?;
                continue;
            }
        };
        let Some(rating) = f[rc].trim().parse::<f32>().ok().filter(|r| r.is_finite()) else {
            bad.bad(line_no, format!("rating `{}` is not a number", truncate(f[rc], 30)))?;
            continue;
        };
        let (u, m) = (f[uc].trim(), f[mc].trim());
        if u.is_empty() || m.is_empty() {
            bad.bad(line_no, "empty user or movie id")?;
            continue;
        }
        let mut row = Row::new(b.users.intern(u), millis, b.items.intern(m), Action::Other as u8);
        row.rating = rating;
        b.push(row);
    }
    Ok(())
}

/// MovieLens `movies.dat` (`id::title::genres`, Latin-1 in ml-1m) or `movies.csv`.
pub fn movielens_items(path: &Path, bytes: &[u8], b: &mut Builder, bad: &mut BadRows) -> Result<u64, DataError> {
    let is_dat = path.extension().is_some_and(|e| e == "dat");
    if !is_dat {
        return items_table(path, bytes, b, bad);
    }
    // Latin-1 when not valid UTF-8 (ml-1m ships ISO-8859-1 titles).
    let text: String = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => bytes.iter().map(|&c| c as char).collect(),
    };
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split("::").collect();
        if f.len() != 3 {
            bad.bad(i as u64 + 1, format!("expected 3 fields id::title::genres, found {}", f.len()))?;
            continue;
        }
        let id = b.items.intern(f[0].trim());
        b.describe_item(id, Some(f[1].trim()), f[2].split('|').next(), None, None);
        n += 1;
    }
    Ok(n)
}

/// Alimama `raw_sample.csv`: `user,time_stamp,adgroup_id,pid,nonclk,clk`. Each row is an ad
/// impression with its click label; a clicked impression also becomes a `click` behaviour.
pub fn alimama(path: &Path, input: impl Read, total_bytes: u64, b: &mut Builder, bad: &mut BadRows, notes: &mut Vec<String>, progress: Progress) -> Result<(), DataError> {
    let mut rdr = csv_reader(input, b',', true);
    let header = rdr.byte_headers().map_err(|e| csv_err(path, e))?.clone();
    // Real files carry stray spaces in header names: trim before matching.
    let names: Vec<String> = header.iter().map(|h| String::from_utf8_lossy(h).trim().trim_start_matches('\u{feff}').to_ascii_lowercase()).collect();
    let col = |n: &str| names.iter().position(|x| x == n);
    let need = |n: &str| col(n).ok_or_else(|| DataError::MissingColumn { path: path.to_path_buf(), column: n.into(), found: names.join(",") });
    let (uc, tc, ic, cc) = (need("user")?, need("time_stamp")?, need("adgroup_id")?, need("clk")?);
    if col("pid").is_some() {
        notes.push("pid (ad slot) column not used".into());
    }
    b.has_label = true;
    let mut rec = csv::ByteRecord::new();
    let mut rows = 0u64;
    while next_record(&mut rdr, &mut rec, path, bad)? {
        rows += 1;
        if rows % PROGRESS_EVERY == 0 {
            if let Some(p) = progress {
                p(rec.position().map_or(0, |p| p.byte()) as f32 / total_bytes.max(1) as f32);
            }
        }
        let line = RowAt::of(rec.position());
        let r = (|| -> Result<(), String> {
            if rec.len() < names.len().min(cc.max(ic).max(tc).max(uc) + 1) {
                return Err(format!("expected {} fields, found {}", names.len(), rec.len()));
            }
            let (u, t, i, c) = (field_str(&rec, uc)?, field_str(&rec, tc)?, field_str(&rec, ic)?, field_str(&rec, cc)?);
            if u.is_empty() || i.is_empty() {
                return Err("empty user or adgroup_id".into());
            }
            let millis = parse_timestamp(t).map_err(|e| format!("time_stamp `{}` {e}", truncate(t, 30)))?;
            let clk: i8 = match c {
                "0" => 0,
                "1" => 1,
                _ => return Err(format!("clk `{}` is not 0 or 1", truncate(c, 30))),
            };
            let (user, item) = (b.users.intern(u), b.items.intern(i));
            let mut row = Row::new(user, millis, item, Action::Impression as u8);
            row.label = clk;
            b.push(row);
            if clk == 1 {
                b.push(Row::new(user, millis, item, Action::Click as u8));
            }
            Ok(())
        })();
        if let Err(reason) = r {
            bad.bad(line, reason)?;
        }
    }
    Ok(())
}

/// Alimama `ad_feature.csv`: `adgroup_id,cate_id,campaign_id,customer,brand,price`
/// (empty fields and `NULL` brands are common; brand ids are treated as strings).
pub fn alimama_ads(path: &Path, input: impl Read, b: &mut Builder, bad: &mut BadRows) -> Result<u64, DataError> {
    items_table(path, input, b, bad)
}
