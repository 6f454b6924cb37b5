//! CTR samples from a behaviour log: one sample per labelled ad impression,
//! with its ids, position, the user's behaviours strictly before it, and the
//! time-based train/test split.
//!
//! Leakage rules (DESIGN §1, issue "no leakage"): a sample's history holds only
//! non-impression behaviours whose timestamp is strictly smaller than the
//! impression's, so the click row that follows a clicked ad (same query, a few
//! seconds later) and anything later never reach the features. Impressions
//! themselves are never history (INTERFACES: they are not part of the
//! behaviour sequence).

use serde::{Deserialize, Serialize};

use super::context::{CONTEXT_WIDTH, ContextTables};
use crate::data::{Action, Dataset, NONE};

/// Seconds per day, for the split.
const DAY_SECS: f64 = 86_400.0;

/// Why a log cannot feed the CTR stage; each message says what is missing.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CtrDataError {
    #[error(
        "the log has no ad impressions (rows with action `impression`); the CTR stage needs impression rows \
         with a 0/1 click label"
    )]
    NoImpressions,
    #[error(
        "the log has {impressions} impressions but no click labels (no `label` column, or every label empty); \
         the CTR stage needs a 0/1 label on each impression"
    )]
    NoLabels { impressions: u64 },
    #[error(
        "the log has no queries (no `query` column, or every impression's query empty); the CTR stage ranks \
         ads per query and the LUM features are read per (user, query)"
    )]
    NoQueries,
    #[error("the {split} split is empty ({detail}); change test_days (now {test_days})")]
    EmptySplit {
        split: &'static str,
        detail: String,
        test_days: f64,
    },
    #[error(
        "the {split} split has {clicks} clicks among {impressions} impressions; AUC needs both clicks and non-clicks"
    )]
    SingleClass {
        split: &'static str,
        clicks: u64,
        impressions: u64,
    },
}

/// Where the split fell and what each side holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitInfo {
    /// How the split is made, in words.
    pub protocol: String,
    /// Days in the test split.
    pub test_days: f64,
    /// Unix seconds: impressions at or after this are test.
    pub cutoff_unix: i64,
    /// Last labelled impression (Unix seconds).
    pub last_impression_unix: i64,
    pub train_impressions: u64,
    pub train_clicks: u64,
    pub test_impressions: u64,
    pub test_clicks: u64,
    /// Distinct users with train impressions.
    pub train_users: u64,
    /// Mean train impressions per train user (kept small so a user id cannot memorise the taste).
    pub train_impressions_per_user: f64,
    /// Labelled impressions without a query (kept; their query id is "none").
    pub impressions_without_query: u64,
    /// Impression rows without a 0/1 label (left out of the CTR stage).
    pub unlabelled_impressions: u64,
}

/// The dataset rows that become CTR samples, in sample order (dataset row
/// order: user by user, time order): every impression with a 0/1 label.
/// Per-impression inputs such as [`super::LumFeatures::interest`] are aligned
/// with this list.
pub fn impression_rows(data: &Dataset) -> Result<Vec<usize>, CtrDataError> {
    let n_imp = data
        .action
        .iter()
        .filter(|&&a| a == Action::Impression as u8)
        .count() as u64;
    if n_imp == 0 {
        return Err(CtrDataError::NoImpressions);
    }
    let rows: Vec<usize> = (0..data.n_behaviors())
        .filter(|&r| data.is_impression(r) && data.label_at(r).is_some())
        .collect();
    if rows.is_empty() {
        return Err(CtrDataError::NoLabels { impressions: n_imp });
    }
    if !data.has_query() || rows.iter().all(|&r| data.query_at(r) == NONE) {
        return Err(CtrDataError::NoQueries);
    }
    Ok(rows)
}

/// Every labelled impression as a CTR sample, with the behaviour sequences
/// its history windows are cut from. Columns are parallel, one entry per sample.
///
/// Vocabularies: ids are the dataset's dense ids; a missing query, category or
/// brand ([`NONE`]) maps to the extra last index of its table
/// (`n_queries`, `n_categories`, `n_brands`), so every id is a valid row.
#[derive(Clone, Debug)]
pub struct CtrSamples {
    /// Dataset row of each sample ([`impression_rows`] order).
    pub rows: Vec<u32>,
    pub user: Vec<u32>,
    /// Query index (`n_queries` = none).
    pub query: Vec<u32>,
    pub item: Vec<u32>,
    /// Ad position (0 = none), clamped to `max_position` by the model.
    pub position: Vec<u8>,
    /// Absolute Unix seconds.
    pub ts: Vec<i64>,
    pub label: Vec<bool>,
    /// True for test samples.
    pub is_test: Vec<bool>,
    /// Query-ad context columns, (n, [`CONTEXT_WIDTH`]) row-major (see [`super::context`]).
    pub context: Vec<f32>,
    /// Number of the user's non-impression behaviours strictly before the
    /// impression: the sample's history is `seq_items(user)[..hist_end]`.
    pub hist_end: Vec<u32>,
    /// Non-impression behaviours of every user in time order: user u's are
    /// `seq_item[seq_offsets[u]..seq_offsets[u+1]]`.
    pub seq_offsets: Vec<u32>,
    /// Item id of each non-impression behaviour.
    pub seq_item: Vec<u32>,
    /// Timestamp (Unix seconds) of each non-impression behaviour.
    pub seq_ts: Vec<i64>,
    /// Category index of every item (`n_categories` = unknown).
    pub item_category: Vec<u32>,
    /// Brand index of every item (`n_brands` = unknown).
    pub item_brand: Vec<u32>,
    pub n_users: usize,
    pub n_items: usize,
    pub n_queries: usize,
    pub n_categories: usize,
    pub n_brands: usize,
    pub split: SplitInfo,
}

impl CtrSamples {
    /// Builds the samples and the split. Errors name what the log lacks.
    pub fn build(data: &Dataset, test_days: f64) -> Result<CtrSamples, CtrDataError> {
        let mut s = Self::without_split(data)?;
        s.split_by_time(test_days)?;
        Ok(s)
    }

    /// The samples with every one marked train and an empty [`SplitInfo`]
    /// (for per-impression feature extraction, which needs no split).
    pub fn without_split(data: &Dataset) -> Result<CtrSamples, CtrDataError> {
        let rows = impression_rows(data)?;
        let n_imp_all = data
            .action
            .iter()
            .filter(|&&a| a == Action::Impression as u8)
            .count() as u64;
        let n_queries = data.queries.len();
        let n_categories = data.item_table.categories.len();
        let n_brands = data.item_table.brands.len();
        let n_items = data.n_items();
        let attr = |col: &Vec<u32>, i: usize, none: usize| {
            col.get(i)
                .copied()
                .filter(|&c| c != NONE)
                .unwrap_or(none as u32)
        };
        let item_category: Vec<u32> = (0..n_items)
            .map(|i| attr(&data.item_table.category, i, n_categories))
            .collect();
        let item_brand: Vec<u32> = (0..n_items)
            .map(|i| attr(&data.item_table.brand, i, n_brands))
            .collect();

        // Behaviour sequences (impressions excluded), user by user.
        let mut seq_offsets = Vec::with_capacity(data.n_users() + 1);
        let mut seq_item = Vec::new();
        let mut seq_ts = Vec::new();
        let mut row_user: Vec<u32> = Vec::new();
        seq_offsets.push(0u32);
        for u in 0..data.n_users() as u32 {
            for r in data.user_range(u) {
                if !data.is_impression(r) {
                    seq_item.push(data.item[r]);
                    seq_ts.push(data.time(r));
                }
            }
            seq_offsets.push(seq_item.len() as u32);
        }
        // Owner of each row (rows of a user are contiguous).
        row_user.reserve(data.n_behaviors());
        for u in 0..data.n_users() as u32 {
            row_user.extend(std::iter::repeat_n(u, data.seq_len(u)));
        }

        let n = rows.len();
        let tables = ContextTables::new(data);
        let mut s = CtrSamples {
            rows: Vec::with_capacity(n),
            user: Vec::with_capacity(n),
            query: Vec::with_capacity(n),
            item: Vec::with_capacity(n),
            position: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            label: Vec::with_capacity(n),
            is_test: Vec::with_capacity(n),
            context: Vec::with_capacity(n * CONTEXT_WIDTH),
            hist_end: Vec::with_capacity(n),
            seq_offsets,
            seq_item,
            seq_ts,
            item_category,
            item_brand,
            n_users: data.n_users(),
            n_items,
            n_queries,
            n_categories,
            n_brands,
            split: SplitInfo {
                protocol: String::new(),
                test_days: 0.0,
                cutoff_unix: 0,
                last_impression_unix: 0,
                train_impressions: 0,
                train_clicks: 0,
                test_impressions: 0,
                test_clicks: 0,
                train_users: 0,
                train_impressions_per_user: 0.0,
                impressions_without_query: 0,
                unlabelled_impressions: n_imp_all - n as u64,
            },
        };
        for &r in &rows {
            let u = row_user[r];
            let t = data.time(r);
            let q = data.query_at(r);
            let lo = s.seq_offsets[u as usize] as usize;
            let hi = s.seq_offsets[u as usize + 1] as usize;
            // Strictly before: the first behaviour at or after `t` ends the history.
            let end = s.seq_ts[lo..hi].partition_point(|&bt| bt < t);
            s.rows.push(r as u32);
            s.user.push(u);
            s.query.push(if q == NONE { n_queries as u32 } else { q });
            s.item.push(data.item[r]);
            s.position.push(data.position_at(r));
            s.ts.push(t);
            s.label.push(data.label_at(r) == Some(1));
            s.hist_end.push(end as u32);
            s.is_test.push(false);
            let ctx = tables.row(
                q,
                data.item[r],
                data.item_table
                    .category
                    .get(data.item[r] as usize)
                    .copied()
                    .unwrap_or(NONE),
                data.item_table
                    .brand
                    .get(data.item[r] as usize)
                    .copied()
                    .unwrap_or(NONE),
            );
            s.context.extend_from_slice(&ctx);
            if q == NONE {
                s.split.impressions_without_query += 1;
            }
        }
        Ok(s)
    }

    /// Marks the last `test_days` days of impressions as test and fills [`SplitInfo`].
    fn split_by_time(&mut self, test_days: f64) -> Result<(), CtrDataError> {
        let last = self.ts.iter().copied().max().unwrap_or(0);
        let first = self.ts.iter().copied().min().unwrap_or(0);
        let cutoff = last - (test_days * DAY_SECS).round() as i64;
        self.is_test = self.ts.iter().map(|&t| t >= cutoff).collect();
        let sp = &mut self.split;
        sp.cutoff_unix = cutoff;
        sp.last_impression_unix = last;
        sp.test_days = test_days;
        let mut train_users = std::collections::HashSet::new();
        for i in 0..self.ts.len() {
            let y = self.label[i] as u64;
            if self.is_test[i] {
                sp.test_impressions += 1;
                sp.test_clicks += y;
            } else {
                sp.train_impressions += 1;
                sp.train_clicks += y;
                train_users.insert(self.user[i]);
            }
        }
        sp.train_users = train_users.len() as u64;
        sp.train_impressions_per_user = sp.train_impressions as f64 / sp.train_users.max(1) as f64;
        sp.protocol = format!(
            "time-based: test = labelled impressions at or after {} UTC (the last {test_days} days before the \
             last impression), train = all earlier ones; a result page (same user, query, time) never straddles \
             the cut",
            crate::data::time::format_utc(cutoff)
        );
        let span = format!(
            "impressions span {} .. {} UTC",
            crate::data::time::format_utc(first),
            crate::data::time::format_utc(last)
        );
        for (split, n, clicks) in [
            ("train", sp.train_impressions, sp.train_clicks),
            ("test", sp.test_impressions, sp.test_clicks),
        ] {
            if n == 0 {
                return Err(CtrDataError::EmptySplit {
                    split,
                    detail: span,
                    test_days,
                });
            }
            if clicks == 0 || clicks == n {
                return Err(CtrDataError::SingleClass {
                    split,
                    clicks,
                    impressions: n,
                });
            }
        }
        Ok(())
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no samples (never after a successful build).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Indices of train samples, in sample order.
    pub fn train_indices(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| !self.is_test[i]).collect()
    }

    /// Indices of test samples, in sample order.
    pub fn test_indices(&self) -> Vec<usize> {
        (0..self.len()).filter(|&i| self.is_test[i]).collect()
    }

    /// Item ids of sample `i`'s whole history (every behaviour before it), oldest first.
    pub fn full_history(&self, i: usize) -> &[u32] {
        let lo = self.seq_offsets[self.user[i] as usize] as usize;
        &self.seq_item[lo..lo + self.hist_end[i] as usize]
    }

    /// The last `len` items of sample `i`'s history (fewer when it is shorter), oldest first.
    pub fn recent_history(&self, i: usize, len: usize) -> &[u32] {
        let h = self.full_history(i);
        &h[h.len().saturating_sub(len)..]
    }

    /// Timestamps of [`full_history`](Self::full_history), for checks.
    pub fn full_history_ts(&self, i: usize) -> &[i64] {
        let lo = self.seq_offsets[self.user[i] as usize] as usize;
        &self.seq_ts[lo..lo + self.hist_end[i] as usize]
    }

    /// Context columns of sample `i`.
    pub fn context_row(&self, i: usize) -> &[f32] {
        &self.context[i * CONTEXT_WIDTH..(i + 1) * CONTEXT_WIDTH]
    }

    /// Category index of sample `i`'s item.
    pub fn category(&self, i: usize) -> u32 {
        self.item_category[self.item[i] as usize]
    }

    /// Brand index of sample `i`'s item.
    pub fn brand(&self, i: usize) -> u32 {
        self.item_brand[self.item[i] as usize]
    }

    /// Groups sample indices into result pages: same user, query and
    /// timestamp (one ad session), in sample order.
    pub fn sessions(&self, indices: &[usize]) -> Vec<Vec<usize>> {
        let mut out: Vec<Vec<usize>> = Vec::new();
        let mut index: std::collections::HashMap<(u32, u32, i64), usize> =
            std::collections::HashMap::new();
        for &i in indices {
            let key = (self.user[i], self.query[i], self.ts[i]);
            match index.get(&key) {
                Some(&k) => out[k].push(i),
                None => {
                    index.insert(key, out.len());
                    out.push(vec![i]);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{LoadOptions, load};

    fn load_csv(text: &str) -> Dataset {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("log.csv");
        std::fs::write(&p, text).unwrap();
        load(&p, &LoadOptions::default()).unwrap().0
    }

    /// Two users; u1 has behaviours before, at and after its impressions.
    const LOG: &str = "user_id,timestamp,item_id,action,query,scenario,position,label
u1,100,a,click,,feed,,
u1,200,b,click,shoes,search,,
u1,300,c,impression,shoes,search,1,1
u1,300,d,impression,shoes,search,2,0
u1,300,x,cart,,feed,,
u1,310,c,click,shoes,search,1,
u1,400000,e,impression,hats,search,1,0
u1,400000,f,impression,hats,search,2,1
u2,50,a,click,,feed,,
u2,60,g,impression,,search,1,0
u2,400100,h,impression,hats,search,1,1
u2,400100,i,impression,hats,search,2,0
u2,400200,j,impression,,search,3,
";

    #[test]
    fn history_is_strictly_before_and_split_is_by_time() {
        let d = load_csv(LOG);
        let s = CtrSamples::build(&d, 1.0).unwrap();
        // 7 labelled impressions; the unlabelled one is left out.
        assert_eq!(s.len(), 7);
        assert_eq!(s.split.unlabelled_impressions, 1);
        assert_eq!(s.split.impressions_without_query, 1);
        let names = |items: &[u32]| {
            items
                .iter()
                .map(|&i| d.items.name(i).to_string())
                .collect::<Vec<_>>()
        };
        for i in 0..s.len() {
            let t = s.ts[i];
            assert!(
                s.full_history_ts(i).iter().all(|&bt| bt < t),
                "sample {i} sees the future"
            );
        }
        // u1 at t=300: a, b only (the cart at 300 ties -> excluded; the click at 310 is after).
        let u1_first = (0..s.len())
            .find(|&i| d.items.name(s.item[i]) == "c")
            .unwrap();
        assert_eq!(names(s.full_history(u1_first)), ["a", "b"]);
        assert_eq!(names(s.recent_history(u1_first, 1)), ["b"]);
        // u1 at t=400000: a, b, x, c (impressions never enter the history).
        let u1_late = (0..s.len())
            .find(|&i| d.items.name(s.item[i]) == "e")
            .unwrap();
        assert_eq!(names(s.full_history(u1_late)), ["a", "b", "x", "c"]);
        // Split: last day before 400100 -> the four late impressions are test.
        let test_items: Vec<String> = s
            .test_indices()
            .iter()
            .map(|&i| d.items.name(s.item[i]).to_string())
            .collect();
        assert_eq!(test_items, ["e", "f", "h", "i"]);
        assert_eq!(s.split.cutoff_unix, 400_100 - 86_400);
        assert!(
            s.train_indices()
                .iter()
                .all(|&i| s.ts[i] < s.split.cutoff_unix)
        );
        assert!(
            s.test_indices()
                .iter()
                .all(|&i| s.ts[i] >= s.split.cutoff_unix)
        );
        assert_eq!(
            (s.split.train_impressions, s.split.test_impressions),
            (3, 4)
        );
        // Result pages: (u1, shoes, 300) has two ads.
        let pages = s.sessions(&s.train_indices());
        assert_eq!(pages.iter().map(|p| p.len()).collect::<Vec<_>>(), [2, 1]);
    }

    #[test]
    fn missing_parts_are_named() {
        let no_imp = "user_id,timestamp,item_id,action,query\nu1,1,a,click,q\nu1,2,b,click,q\n";
        assert_eq!(
            CtrSamples::build(&load_csv(no_imp), 1.0).unwrap_err(),
            CtrDataError::NoImpressions
        );
        let no_label =
            "user_id,timestamp,item_id,action,query\nu1,1,a,impression,q\nu1,2,b,click,q\n";
        let e = CtrSamples::build(&load_csv(no_label), 1.0).unwrap_err();
        assert_eq!(e, CtrDataError::NoLabels { impressions: 1 });
        assert!(e.to_string().contains("no click labels"));
        let no_query =
            "user_id,timestamp,item_id,action,label\nu1,1,a,impression,1\nu1,2,b,impression,0\n";
        let e = CtrSamples::build(&load_csv(no_query), 1.0).unwrap_err();
        assert_eq!(e, CtrDataError::NoQueries);
        assert!(e.to_string().contains("no queries"));
        // Everything in one day: a 1-day test split leaves train empty.
        let one_day = "user_id,timestamp,item_id,action,query,label\nu1,1,a,impression,q,1\nu1,2,b,impression,q,0\n";
        let e = CtrSamples::build(&load_csv(one_day), 1.0).unwrap_err();
        assert!(e.to_string().contains("train split is empty"), "{e}");
    }
}
