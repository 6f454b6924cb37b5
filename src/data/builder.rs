//! Collects parsed rows, then sorts and compacts them into a [`Dataset`].
//!
//! Rows arrive in file order; `finish` groups them by user with a counting
//! sort (stable) and then sorts each user's rows by time with a stable sort, so
//! equal timestamps keep their file order. A parser that has already grouped
//! and sorted its rows (the Taobao fast path) hands them over whole instead.

use super::{Dataset, DataError, Format, Interner, ItemTable, NONE, StrPool};
use std::path::{Path, PathBuf};

/// How many bad-row messages a report keeps.
pub const MAX_EXAMPLES: usize = 5;

/// Where a bad row is: a line number, or (from the csv reader) the byte where the record
/// starts. The csv reader's own line count skips blank lines and counts CRLF ends short,
/// so the line of a record is counted from the file itself when a message needs it.
#[derive(Clone, Copy, Debug)]
pub enum RowAt {
    Line(u64),
    Byte(u64),
}

impl From<u64> for RowAt {
    fn from(line: u64) -> Self {
        RowAt::Line(line)
    }
}

impl RowAt {
    /// Where a csv record (or error) starts.
    pub fn of(pos: Option<&csv::Position>) -> Self {
        pos.map_or(RowAt::Line(0), |p| RowAt::Byte(p.byte()))
    }
}

/// Counts the lines of a file up to a byte offset, reading on from where the last call
/// stopped (rows are reported in file order), so all messages together read the file once.
#[derive(Debug)]
struct LineCounter {
    file: std::io::BufReader<std::fs::File>,
    offset: u64,
    newlines: u64,
}

impl LineCounter {
    fn open(path: &Path) -> Option<Self> {
        Some(LineCounter { file: std::io::BufReader::with_capacity(1 << 16, std::fs::File::open(path).ok()?), offset: 0, newlines: 0 })
    }
    /// The 1-based line on which byte `byte` lies; None when the file cannot be read that far.
    fn line_at(&mut self, byte: u64) -> Option<u64> {
        use std::io::{BufRead, Seek};
        if byte < self.offset {
            self.file.seek(std::io::SeekFrom::Start(0)).ok()?;
            (self.offset, self.newlines) = (0, 0);
        }
        while self.offset < byte {
            let buf = self.file.fill_buf().ok()?;
            if buf.is_empty() {
                return None;
            }
            let n = buf.len().min((byte - self.offset) as usize);
            self.newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            self.file.consume(n);
            self.offset += n as u64;
        }
        // The reader may place a record's start on the line ends before it (the `\n` of a
        // CRLF, blank lines): a record starts at its first byte that is not a line end.
        loop {
            let buf = self.file.fill_buf().ok()?;
            let n = buf.iter().position(|&b| b != b'\n' && b != b'\r').unwrap_or(buf.len());
            let done = n < buf.len() || buf.is_empty();
            self.newlines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            self.file.consume(n);
            self.offset += n as u64;
            if done {
                break;
            }
        }
        Some(self.newlines + 1)
    }
}

/// Row-level error bookkeeping shared by all parsers.
#[derive(Debug)]
pub struct BadRows {
    pub path: PathBuf,
    pub strict: bool,
    pub skipped: u64,
    pub examples: Vec<String>,
    lines: Option<LineCounter>,
}

impl BadRows {
    pub fn new(path: &Path, strict: bool) -> Self {
        Self { path: path.to_path_buf(), strict, skipped: 0, examples: Vec::new(), lines: None }
    }
    /// Records a bad row; in strict mode it becomes the fatal error.
    pub fn bad(&mut self, at: impl Into<RowAt>, reason: impl Into<String>) -> Result<(), DataError> {
        let reason = reason.into();
        let wanted = self.strict || self.examples.len() < MAX_EXAMPLES;
        let line = match at.into() {
            RowAt::Line(l) => l,
            RowAt::Byte(b) if wanted => {
                if self.lines.is_none() {
                    self.lines = LineCounter::open(&self.path);
                }
                self.lines.as_mut().and_then(|c| c.line_at(b)).unwrap_or(0)
            }
            RowAt::Byte(_) => 0,
        };
        if self.strict {
            return Err(DataError::Row { path: self.path.clone(), line, reason });
        }
        self.skipped += 1;
        if self.examples.len() < MAX_EXAMPLES {
            self.examples.push(format!("{}:{line}: {reason}", self.path.display()));
        }
        Ok(())
    }
}

/// Growing per-row columns, in file order.
#[derive(Default)]
pub struct Builder {
    pub users: Interner,
    pub items: Interner,
    pub queries: Interner,
    user: Vec<u32>,
    millis: Vec<i64>,
    item: Vec<u32>,
    action: Vec<u8>,
    query: Vec<u32>,
    scenario: Vec<u8>,
    position: Vec<u8>,
    label: Vec<i8>,
    rating: Vec<f32>,
    pub has_query: bool,
    pub has_scenario: bool,
    pub has_position: bool,
    pub has_label: bool,
    pub has_rating: bool,
    pub item_table: ItemTable,
    /// Item titles by item id (moved into a pooled buffer by `finish`).
    pub titles: Vec<String>,
    /// Rows already grouped by user and sorted by time (replaces the columns above).
    sorted: Option<Sorted>,
}

/// The core columns of a [`Dataset`], already in its order.
struct Sorted {
    user_offsets: Vec<u32>,
    base_ts: i64,
    ts: Vec<u32>,
    item: Vec<u32>,
    action: Vec<u8>,
}

/// One parsed row (ids already interned).
#[derive(Clone, Copy, Debug)]
pub struct Row {
    pub user: u32,
    pub millis: i64,
    pub item: u32,
    pub action: u8,
    pub query: u32,
    pub scenario: u8,
    pub position: u8,
    pub label: i8,
    pub rating: f32,
}

impl Row {
    pub fn new(user: u32, millis: i64, item: u32, action: u8) -> Row {
        Row { user, millis, item, action, query: NONE, scenario: 0, position: 0, label: -1, rating: f32::NAN }
    }
}

impl Builder {
    pub fn new() -> Self {
        Self { users: Interner::new(), items: Interner::new(), queries: Interner::new(), ..Default::default() }
    }

    pub fn reserve(&mut self, n: usize) {
        self.user.reserve(n);
        self.millis.reserve(n);
        self.item.reserve(n);
        self.action.reserve(n);
    }

    pub fn len(&self) -> usize {
        self.sorted.as_ref().map_or(self.user.len(), |s| s.item.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a row; optional columns are stored only if the log has them.
    pub fn push(&mut self, r: Row) {
        self.user.push(r.user);
        self.millis.push(r.millis);
        self.item.push(r.item);
        self.action.push(r.action);
        if self.has_query {
            self.query.push(r.query);
        }
        if self.has_scenario {
            self.scenario.push(r.scenario);
        }
        if self.has_position {
            self.position.push(r.position);
        }
        if self.has_label {
            self.label.push(r.label);
        }
        if self.has_rating {
            self.rating.push(r.rating);
        }
    }

    /// Takes whole core columns at once (the parallel Taobao path; the log has no
    /// optional columns). Rows pushed before are replaced.
    pub fn set_core(&mut self, user: Vec<u32>, millis: Vec<i64>, item: Vec<u32>, action: Vec<u8>) {
        self.sorted = None;
        self.user = user;
        self.millis = millis;
        self.item = item;
        self.action = action;
    }

    /// Takes core columns already in the Dataset's order: user `u`'s rows are
    /// `user_offsets[u]..user_offsets[u + 1]`, sorted by time (stable), with times in
    /// seconds since `base_ts`. The log has no optional columns; rows pushed before
    /// are replaced.
    pub fn set_sorted(&mut self, user_offsets: Vec<u32>, base_ts: i64, ts: Vec<u32>, item: Vec<u32>, action: Vec<u8>) {
        self.set_core(Vec::new(), Vec::new(), Vec::new(), Vec::new());
        (self.has_query, self.has_scenario, self.has_position, self.has_label, self.has_rating) = (false, false, false, false, false);
        (self.query, self.scenario, self.position, self.label, self.rating) = Default::default();
        self.sorted = Some(Sorted { user_offsets, base_ts, ts, item, action });
    }

    /// Sorts (stable, by user then time) and compacts into a Dataset.
    pub fn finish(mut self, format: Format, path: &Path) -> Result<Dataset, DataError> {
        let core = match self.sorted.take() {
            Some(s) => s,
            None => self.sort_core(path)?,
        };
        let n_items = self.items.len();
        let mut table = std::mem::take(&mut self.item_table);
        table.titles = StrPool::new();
        for i in 0..n_items {
            table.titles.push(self.titles.get(i).map(String::as_str).unwrap_or(""));
        }
        table.category.resize(n_items, NONE);
        table.brand.resize(n_items, NONE);
        table.price.resize(n_items, f32::NAN);
        table.described.resize(n_items, false);
        Ok(Dataset {
            format,
            user_offsets: core.user_offsets.into(),
            base_ts: core.base_ts,
            ts: core.ts.into(),
            item: core.item.into(),
            action: core.action.into(),
            query: self.query.into(),
            scenario: self.scenario.into(),
            position: self.position.into(),
            label: self.label.into(),
            rating: self.rating.into(),
            users: self.users,
            items: self.items,
            queries: self.queries,
            item_table: table,
        })
    }

    /// Groups the rows by user (stable counting sort) and sorts each user's rows by
    /// time (stable); gathers every column into that order.
    fn sort_core(&mut self, path: &Path) -> Result<Sorted, DataError> {
        let n = self.user.len();
        let n_users = self.users.len();
        // Counting sort by user: stable, O(n).
        let mut offsets = vec![0u32; n_users + 1];
        for &u in &self.user {
            offsets[u as usize + 1] += 1;
        }
        for i in 0..n_users {
            offsets[i + 1] += offsets[i];
        }
        let mut next = offsets.clone();
        let mut perm = vec![0u32; n];
        for (row, &u) in self.user.iter().enumerate() {
            perm[next[u as usize] as usize] = row as u32;
            next[u as usize] += 1;
        }
        drop(next);
        // Within each user, a stable sort by time keeps file order for ties.
        let millis = &self.millis;
        for u in 0..n_users {
            let s = &mut perm[offsets[u] as usize..offsets[u + 1] as usize];
            if s.windows(2).any(|w| millis[w[0] as usize] > millis[w[1] as usize]) {
                s.sort_by_key(|&r| millis[r as usize]);
            }
        }
        let min_ms = self.millis.iter().copied().min().unwrap_or(0);
        let base_ts = min_ms.div_euclid(1000);
        let max_ms = self.millis.iter().copied().max().unwrap_or(0);
        if max_ms.div_euclid(1000) - base_ts > u32::MAX as i64 {
            return Err(DataError::Invalid {
                path: path.to_path_buf(),
                reason: "timestamps span more than 136 years; are seconds and milliseconds mixed?".into(),
            });
        }
        fn gather<T: Copy>(col: &[T], perm: &[u32]) -> Vec<T> {
            perm.iter().map(|&r| col[r as usize]).collect()
        }
        let ts: Vec<u32> = perm.iter().map(|&r| (self.millis[r as usize].div_euclid(1000) - base_ts) as u32).collect();
        self.millis = Vec::new();
        // Optional columns are gathered in place of the file-order ones (empty when absent).
        self.query = if self.has_query { gather(&self.query, &perm) } else { Vec::new() };
        self.scenario = if self.has_scenario { gather(&self.scenario, &perm) } else { Vec::new() };
        self.position = if self.has_position { gather(&self.position, &perm) } else { Vec::new() };
        self.label = if self.has_label { gather(&self.label, &perm) } else { Vec::new() };
        self.rating = if self.has_rating { gather(&self.rating, &perm) } else { Vec::new() };
        Ok(Sorted { user_offsets: offsets, base_ts, ts, item: gather(&self.item, &perm), action: gather(&self.action, &perm) })
    }
}

impl Builder {
    /// Sets item attributes (grows the table to cover `item`).
    pub fn describe_item(&mut self, item: u32, title: Option<&str>, category: Option<&str>, brand: Option<&str>, price: Option<f32>) {
        let table = &mut self.item_table;
        let i = item as usize;
        if table.category.len() <= i {
            table.category.resize(i + 1, NONE);
            table.brand.resize(i + 1, NONE);
            table.price.resize(i + 1, f32::NAN);
            table.described.resize(i + 1, false);
        }
        if let Some(t) = title {
            if self.titles.len() <= i {
                self.titles.resize(i + 1, String::new());
            }
            self.titles[i] = t.to_string();
        }
        if let Some(c) = category.filter(|c| !c.is_empty()) {
            table.category[i] = table.categories.intern(c);
        }
        if let Some(b) = brand.filter(|b| !b.is_empty()) {
            table.brand[i] = table.brands.intern(b);
        }
        if let Some(p) = price {
            table.price[i] = p;
        }
        table.described[i] = true;
    }
}
