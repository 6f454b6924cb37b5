//! Log formats: the native header-driven format and presets for public
//! datasets, with detection from the file name and first lines.

use serde::{Deserialize, Serialize};
use std::path::Path;

/// A behaviour-log format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CSV/TSV/JSONL with a header naming user_id, timestamp, item_id (+ optional columns).
    #[default]
    Native,
    /// Taobao UserBehavior.csv: `user,item,category,behavior,ts`, no header.
    Taobao,
    /// MovieLens `ratings.dat` (`::`) or `ratings.csv` (header).
    #[value(name = "movielens")]
    MovieLens,
    /// SASRec preprocessed `user item` per line; line order is time order.
    Sasrec,
    /// Alimama ad display/click `raw_sample.csv` (+ `ad_feature.csv`).
    Alimama,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Native => "native",
            Format::Taobao => "taobao",
            Format::MovieLens => "movielens",
            Format::Sasrec => "sasrec",
            Format::Alimama => "alimama",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Field separator of a delimited text log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delim {
    Comma,
    Tab,
    /// `;` (spreadsheet exports in locales whose decimal mark is a comma).
    Semicolon,
    /// JSON object per line.
    JsonLines,
    /// `::` (MovieLens .dat).
    DoubleColon,
    /// Any run of spaces/tabs (SASRec).
    Whitespace,
}

/// The role a column of a native log plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Time,
    Item,
    Action,
    Query,
    Scenario,
    Position,
    Label,
    Rating,
    Ignore,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::User,
        Role::Time,
        Role::Item,
        Role::Action,
        Role::Query,
        Role::Scenario,
        Role::Position,
        Role::Label,
        Role::Rating,
        Role::Ignore,
    ];

    /// The canonical column name of a role.
    pub fn name(self) -> &'static str {
        match self {
            Role::User => "user_id",
            Role::Time => "timestamp",
            Role::Item => "item_id",
            Role::Action => "action",
            Role::Query => "query",
            Role::Scenario => "scenario",
            Role::Position => "position",
            Role::Label => "label",
            Role::Rating => "rating",
            Role::Ignore => "ignore",
        }
    }

    /// The role a header name stands for (case, spaces and common aliases tolerated).
    pub fn from_header(h: &str) -> Option<Role> {
        let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
        Some(match h.as_str() {
            "user_id" | "userid" | "user" | "uid" => Role::User,
            "timestamp" | "ts" | "time" | "time_stamp" | "datetime" => Role::Time,
            "item_id" | "itemid" | "item" | "iid" | "adgroup_id" | "movieid" | "movie_id" => Role::Item,
            "action" | "behavior" | "behaviour" | "behavior_type" | "event" => Role::Action,
            "query" | "search_query" | "keyword" => Role::Query,
            "scenario" | "scene" | "channel" => Role::Scenario,
            "position" | "pos" | "rank" => Role::Position,
            "label" | "clk" | "click" | "clicked" => Role::Label,
            "rating" | "score" => Role::Rating,
            _ => return None,
        })
    }
}

/// Column index per role for a native log (`None` = absent).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMap {
    pub user: Option<usize>,
    pub time: Option<usize>,
    pub item: Option<usize>,
    pub action: Option<usize>,
    pub query: Option<usize>,
    pub scenario: Option<usize>,
    pub position: Option<usize>,
    pub label: Option<usize>,
    pub rating: Option<usize>,
    /// Header names of columns no role claimed (reported as ignored).
    pub extra: Vec<String>,
}

impl ColumnMap {
    /// Maps a header by name. Missing required columns are left `None` for the caller to report.
    pub fn from_header(header: &[&str]) -> ColumnMap {
        let roles: Vec<Option<Role>> = header.iter().map(|h| Role::from_header(h)).collect();
        Self::from_roles(header, &roles)
    }

    /// Maps columns from explicit roles (the GUI's column-mapping step).
    pub fn from_roles(header: &[&str], roles: &[Option<Role>]) -> ColumnMap {
        let mut m = ColumnMap::default();
        for (i, role) in roles.iter().enumerate() {
            let slot = match role {
                Some(Role::User) => &mut m.user,
                Some(Role::Time) => &mut m.time,
                Some(Role::Item) => &mut m.item,
                Some(Role::Action) => &mut m.action,
                Some(Role::Query) => &mut m.query,
                Some(Role::Scenario) => &mut m.scenario,
                Some(Role::Position) => &mut m.position,
                Some(Role::Label) => &mut m.label,
                Some(Role::Rating) => &mut m.rating,
                Some(Role::Ignore) | None => {
                    m.extra.push(header.get(i).map(|h| h.trim().to_string()).unwrap_or_default());
                    continue;
                }
            };
            if slot.is_none() {
                *slot = Some(i);
            } else {
                m.extra.push(header.get(i).map(|h| h.trim().to_string()).unwrap_or_default());
            }
        }
        m
    }

    /// The first required role that has no column.
    pub fn missing_required(&self) -> Option<Role> {
        if self.user.is_none() {
            Some(Role::User)
        } else if self.time.is_none() {
            Some(Role::Time)
        } else if self.item.is_none() {
            Some(Role::Item)
        } else {
            None
        }
    }

    /// Largest column index used + 1 (rows must have at least this many fields).
    pub fn min_fields(&self) -> usize {
        [self.user, self.time, self.item, self.action, self.query, self.scenario, self.position, self.label, self.rating]
            .iter()
            .flatten()
            .max()
            .map_or(0, |m| m + 1)
    }
}

/// What detection concluded, with the reason shown to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detected {
    pub format: Format,
    pub delim: Delim,
    pub reason: String,
}

fn looks_numeric(s: &str) -> bool {
    let s = s.trim();
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Detects the format from the file name and its first non-empty line.
pub fn detect(path: &Path, first_line: &str) -> Result<Detected, String> {
    let name = path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let line = first_line.trim_start_matches('\u{feff}').trim_end_matches(['\r', '\n']);
    let ok = |format, delim, reason: &str| Ok(Detected { format, delim, reason: reason.to_string() });
    if line.trim().is_empty() {
        return Err("first line is empty".into());
    }
    if line.trim_start().starts_with('{') {
        return ok(Format::Native, Delim::JsonLines, "first line is a JSON object (JSONL)");
    }
    if line.contains("::") {
        return ok(Format::MovieLens, Delim::DoubleColon, "fields separated by `::` (MovieLens .dat)");
    }
    let delim = table_delim(line);
    let sep = char::from(delim.table_byte());
    let fields: Vec<&str> = line.split(sep).map(str::trim).collect();
    let lower: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let has = |n: &str| lower.iter().any(|f| f == n);
    if has("nonclk") || has("clk") && has("adgroup_id") {
        return ok(Format::Alimama, Delim::Comma, "header has adgroup_id/clk/nonclk (Alimama raw_sample)");
    }
    if has("userid") && has("movieid") && has("rating") {
        return ok(Format::MovieLens, Delim::Comma, "header has userId,movieId,rating (MovieLens ratings.csv)");
    }
    let map = ColumnMap::from_header(&fields);
    if map.user.is_some() && map.item.is_some() && map.time.is_some() {
        let why = match delim {
            Delim::Tab => "header names user_id, timestamp, item_id (TSV)",
            Delim::Semicolon => "header names user_id, timestamp, item_id (`;`-separated)",
            _ => "header names user_id, timestamp, item_id (CSV)",
        };
        return ok(Format::Native, delim, why);
    }
    if fields.len() == 5 && looks_numeric(fields[0]) && looks_numeric(fields[1]) && looks_numeric(fields[4])
        && fields[3].chars().all(|c| c.is_ascii_alphabetic())
    {
        return ok(Format::Taobao, Delim::Comma, "5 headerless fields user,item,category,behavior,ts (Taobao UserBehavior)");
    }
    let ws: Vec<&str> = line.split_whitespace().collect();
    if ws.len() == 2 && !line.contains(',') && ws.iter().all(|f| looks_numeric(f)) {
        return ok(Format::Sasrec, Delim::Whitespace, "two whitespace-separated ids per line (SASRec)");
    }
    if name.contains("userbehavior") {
        return ok(Format::Taobao, Delim::Comma, "file name UserBehavior");
    }
    if map.user.is_some() || map.item.is_some() {
        return Err(format!(
            "header looks native but lacks {}",
            map.missing_required().map(|r| r.name()).unwrap_or("a required column")
        ));
    }
    Err(format!("unrecognised first line `{}`", truncate(line, 80)))
}

impl Delim {
    /// The separator byte of a delimited table (`,` for the kinds that are not one).
    pub fn table_byte(self) -> u8 {
        match self {
            Delim::Tab => b'\t',
            Delim::Semicolon => b';',
            _ => b',',
        }
    }
}

/// The delimiter of a native table's header line: tabs, else commas, else semicolons.
fn table_delim(line: &str) -> Delim {
    if line.contains('\t') {
        Delim::Tab
    } else if !line.contains(',') && line.contains(';') {
        Delim::Semicolon
    } else {
        Delim::Comma
    }
}

/// The delimiter a preset always uses, for `--format` overrides.
pub fn preset_delim(format: Format, first_line: &str) -> Delim {
    match format {
        Format::Native if first_line.trim_start().starts_with('{') => Delim::JsonLines,
        Format::Native => table_delim(first_line),
        Format::MovieLens if first_line.contains("::") => Delim::DoubleColon,
        Format::Sasrec => Delim::Whitespace,
        _ => Delim::Comma,
    }
}

/// Shortens a string for messages.
pub fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(name: &str, line: &str) -> Result<Format, String> {
        detect(Path::new(name), line).map(|d| d.format)
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(det("b.csv", "user_id,timestamp,item_id,action"), Ok(Format::Native));
        assert_eq!(det("b.tsv", "item_id\tuser_id\tts"), Ok(Format::Native));
        assert_eq!(det("b.jsonl", r#"{"user_id":"a"}"#), Ok(Format::Native));
        assert_eq!(det("UserBehavior.csv", "1,2268318,2520377,pv,1511544070"), Ok(Format::Taobao));
        assert_eq!(det("ratings.dat", "1::1193::5::978300760"), Ok(Format::MovieLens));
        assert_eq!(det("ratings.csv", "userId,movieId,rating,timestamp"), Ok(Format::MovieLens));
        assert_eq!(det("ml-1m.txt", "1 1"), Ok(Format::Sasrec));
        assert_eq!(det("raw_sample.csv", "user,time_stamp,adgroup_id,pid,nonclk,clk"), Ok(Format::Alimama));
        assert!(det("x.csv", "a,b,c").is_err());
        assert!(det("x.csv", "user_id,item_id").unwrap_err().contains("timestamp"));
    }

    #[test]
    fn header_mapping_tolerates_order_case_and_spaces() {
        let m = ColumnMap::from_header(&["Item_ID", " timestamp ", "extra", "user_id"]);
        assert_eq!((m.user, m.time, m.item), (Some(3), Some(1), Some(0)));
        assert_eq!(m.extra, vec!["extra".to_string()]);
        assert_eq!(m.min_fields(), 4);
        assert_eq!(ColumnMap::from_header(&["user_id", "item_id"]).missing_required(), Some(Role::Time));
    }
}
