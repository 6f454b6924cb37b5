//! What the Ranking panel reads, egui-free: a CTR run's per-page rankings
//! (`ranking.jsonl`) with its report (`report.json`), the query list sorted and
//! filtered, the panel's default picks, and the request for one user's
//! interest-vector map. Reading and projecting run as background jobs
//! (`gui::ranking_jobs`); the results land in [`RankingState`] on the [`Workspace`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::ctr::report::RANKING_FILE;
use crate::ctr::{CtrResult, QueryGain, SessionRanking};
use crate::eval::RankingSummary;
use crate::gui::runs::RunInfo;
use crate::gui::workspace::Workspace;
use crate::posttrain::table::INTEREST_FILE;
use crate::posttrain::{InterestMap, InterestTable};
use crate::train::pretrain::Trained;

/// Sessions of the user drawn in the interest map (the latest ones).
pub const MAP_SESSIONS: usize = 120;
/// Catalogue items sampled into the interest map.
pub const MAP_ITEMS: usize = 400;
/// Other queries (the run's most frequent) whose o(u, q) the map probes for the page's user.
pub const MAP_PROBES: usize = 12;

/// A CTR run's ranking comparison, as read from its folder.
#[derive(Debug)]
pub struct RankingRun {
    pub path: PathBuf,
    pub name: String,
    /// When the run folder was created (as the runs scan reports it), so a run rewritten
    /// in place (a flow run again into the same folder) is read again.
    pub created_unix: Option<i64>,
    /// The model compared with the baseline (`+LUM`).
    pub model: String,
    pub summary: Option<RankingSummary>,
    /// Queries with clicks, best NDCG gain first (the report's `per_query`).
    pub queries: Vec<QueryGain>,
    /// Every test result page, in file order.
    pub pages: Vec<SessionRanking>,
    /// Page indices of each query id, in file order.
    pub pages_of: HashMap<u32, Vec<usize>>,
    /// The post-trained LUM run whose interest vectors fed +LUM, when it can be found.
    pub lum_run: Option<PathBuf>,
    /// SimTier tiers per ad (0 when the file predates per-ad LUM features).
    pub simtier_bins: usize,
    /// Whether SimTier's cosines were taken in the whitened item space.
    pub simtier_whitened: bool,
}

/// How the query list is ordered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum QuerySort {
    /// Largest NDCG gain first.
    #[default]
    Gain,
    /// Largest NDCG loss first.
    Loss,
    /// Most pages first.
    Pages,
}

impl RankingRun {
    /// Indices into `queries` whose text contains `search` (case-insensitive), in `sort` order.
    pub fn query_rows(&self, search: &str, sort: QuerySort) -> Vec<usize> {
        self.query_rows_with(search, sort, 1)
    }

    /// [`RankingRun::query_rows`] keeping only queries with at least `min_pages` pages with
    /// clicks (a mean over one page is one page's luck).
    pub fn query_rows_with(&self, search: &str, sort: QuerySort, min_pages: usize) -> Vec<usize> {
        let needle = search.trim().to_lowercase();
        let mut rows: Vec<usize> = (0..self.queries.len())
            .filter(|&i| self.queries[i].pages_with_clicks >= min_pages)
            .filter(|&i| needle.is_empty() || self.queries[i].text.to_lowercase().contains(&needle))
            .collect();
        let q = &self.queries;
        match sort {
            QuerySort::Gain => rows.sort_by(|&a, &b| q[b].delta.total_cmp(&q[a].delta).then(q[a].text.cmp(&q[b].text))),
            QuerySort::Loss => rows.sort_by(|&a, &b| q[a].delta.total_cmp(&q[b].delta).then(q[a].text.cmp(&q[b].text))),
            QuerySort::Pages => rows.sort_by(|&a, &b| q[b].pages.cmp(&q[a].pages).then(q[a].text.cmp(&q[b].text))),
        }
        rows
    }

    /// The pages of query `queries[q]`.
    pub fn pages_of_query(&self, q: usize) -> &[usize] {
        self.queries.get(q).and_then(|g| self.pages_of.get(&g.query)).map_or(&[], Vec::as_slice)
    }

    /// The page shown first for a query: the clicked page whose NDCG moved most
    /// (the one that best shows what +LUM changed), else its first page.
    pub fn default_page(&self, q: usize) -> Option<usize> {
        let pages = self.pages_of_query(q);
        pages
            .iter()
            .copied()
            .filter(|&p| self.pages[p].ranking.has_clicks)
            .max_by(|&a, &b| self.pages[a].ranking.delta.abs().total_cmp(&self.pages[b].ranking.delta.abs()).then(b.cmp(&a)))
            .or_else(|| pages.first().copied())
    }

    /// The ad shown first on a page: the clicked ad that moved most, else the ad that moved most.
    pub fn default_ad(&self, page: usize) -> Option<usize> {
        let ads = &self.pages.get(page)?.ranking.ads;
        let key = |k: usize| (ads[k].label, ads[k].rank_move.unsigned_abs(), std::cmp::Reverse(k));
        (0..ads.len()).max_by_key(|&k| key(k))
    }
}

/// Reads `report.json` and `ranking.jsonl` of a CTR run folder.
pub fn load_ranking_run(dir: &Path) -> Result<RankingRun, String> {
    let report_path = dir.join(crate::run::REPORT_FILE);
    let report: CtrResult = crate::run::load_json(&report_path).map_err(|e| e.to_string())?;
    let ranking_path = dir.join(RANKING_FILE);
    let text = std::fs::read_to_string(&ranking_path).map_err(|e| format!("{}: {e}", ranking_path.display()))?;
    let mut pages = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let page: SessionRanking = serde_json::from_str(line).map_err(|e| format!("{}:{}: {e}", ranking_path.display(), i + 1))?;
        pages.push(page);
    }
    let mut pages_of: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, p) in pages.iter().enumerate() {
        pages_of.entry(p.ranking.query).or_default().push(i);
    }
    let simtier_bins = pages.iter().flat_map(|p| p.lum_features.first()).map(|f| f.simtier.len()).next().unwrap_or(0);
    Ok(RankingRun {
        path: dir.to_path_buf(),
        name: dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
        created_unix: crate::run::RunDir::open(dir).ok().and_then(|d| crate::run::RunSummary::read(&d).created_unix),
        model: report.ranking_model.clone().unwrap_or_else(|| "+LUM".into()),
        summary: report.ranking.clone(),
        lum_run: lum_run_of(&report, dir),
        queries: report.per_query,
        pages,
        pages_of,
        simtier_bins,
        simtier_whitened: report.config.whiten,
    })
}

/// The LUM run named in the report's `lum_source` (`LUM run PATH (post-train group query)`,
/// as `flow::lum_features_from_run` writes it), else a sibling `pretrain/` folder with
/// interest vectors (the layout of `lumlab flow`).
pub fn lum_run_of(report: &CtrResult, ctr_dir: &Path) -> Option<PathBuf> {
    let has_table = |p: &Path| p.join(INTEREST_FILE).is_file();
    let named = report
        .lum_source
        .as_deref()
        .and_then(|s| s.strip_prefix("LUM run "))
        .and_then(|s| s.strip_suffix(" (post-train group query)"))
        .map(PathBuf::from);
    named.filter(|p| has_table(p)).or_else(|| ctr_dir.parent().map(|p| p.join("pretrain")).filter(|p| has_table(p)))
}

/// The CTR run the panel shows: a selected CTR run with rankings, else the newest finished one.
pub fn ctr_run_for(ws: &Workspace) -> Option<&RunInfo> {
    let usable = |r: &&RunInfo| r.summary.kind == "ctr" && r.path.join(RANKING_FILE).is_file();
    ws.runs
        .iter()
        .filter(usable)
        .find(|r| ws.selected_runs.contains(&r.path))
        .or_else(|| ws.runs.iter().filter(|r| r.summary.status == "finished").find(usable))
}

/// What an interest map is asked for: the LUM run, the user and the page's time, the ads
/// to highlight, and other queries to probe the user's interest with at that time.
#[derive(Clone, Debug, PartialEq)]
pub struct MapRequest {
    pub lum_run: PathBuf,
    pub user: String,
    /// Unix seconds of the page (probes read the history strictly before it).
    pub timestamp: i64,
    pub highlight: Vec<u32>,
    /// Query texts to probe.
    pub probes: Vec<String>,
}

/// An interest map with a note when the probes could not be read.
#[derive(Debug)]
pub struct UserMap {
    pub map: InterestMap,
    pub note: Option<String>,
}

/// A reopened LUM run (for probes), kept for the next map of the same run.
pub struct LumModel {
    pub run: PathBuf,
    pub trained: Arc<Trained>,
}

impl std::fmt::Debug for LumModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LumModel({})", self.run.display())
    }
}

/// A value asked for under `key`: loading while `value` is `None`.
#[derive(Debug)]
pub struct Slot<K, T> {
    pub key: K,
    pub value: Option<Result<T, String>>,
}

/// The Ranking panel's data on the workspace.
#[derive(Debug, Default)]
pub struct RankingState {
    /// The CTR run read (or being read), keyed by its folder.
    pub run: Option<Slot<PathBuf, Arc<RankingRun>>>,
    /// The last interest table read, kept for the next map of the same run.
    pub table: Option<(PathBuf, Arc<InterestTable>)>,
    /// The last LUM reopened for probes.
    pub model: Option<Arc<LumModel>>,
    /// The interest map of one user.
    pub map: Option<Slot<MapRequest, Arc<UserMap>>>,
}

impl RankingState {
    /// The run at `path`, when read.
    pub fn run_at(&self, path: &Path) -> Option<&Slot<PathBuf, Arc<RankingRun>>> {
        self.run.as_ref().filter(|s| s.key == path)
    }
    /// The map for `req`, when asked for.
    pub fn map_for(&self, req: &MapRequest) -> Option<&Slot<MapRequest, Arc<UserMap>>> {
        self.map.as_ref().filter(|s| s.key == *req)
    }
}

/// The interest map a page asks for: its user at its time, its ads highlighted, and the
/// run's most frequent other queries as probes.
pub fn map_request(run: &RankingRun, page: usize) -> Option<MapRequest> {
    let p = run.pages.get(page)?;
    let probes = run
        .query_rows("", QuerySort::Pages)
        .into_iter()
        .map(|q| run.queries[q].text.clone())
        .filter(|t| *t != p.query_text)
        .take(MAP_PROBES)
        .collect();
    Some(MapRequest {
        lum_run: run.lum_run.clone()?,
        user: p.user.clone(),
        timestamp: p.timestamp,
        highlight: p.ranking.ads.iter().map(|a| a.item).collect(),
        probes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::QueryRanking;

    fn page(query: u32, text: &str, labels: &[bool], base: &[f32], lum: &[f32]) -> SessionRanking {
        let items: Vec<u32> = (0..labels.len() as u32).collect();
        SessionRanking {
            session: 0,
            user: "u1".into(),
            query_text: text.into(),
            timestamp: 0,
            item_names: items.iter().map(|i| format!("i{i}")).collect(),
            ranking: QueryRanking::compute(query, &items, labels, base, lum).unwrap(),
            lum_features: Vec::new(),
        }
    }

    fn gain(query: u32, text: &str, pages: usize, delta: f64) -> QueryGain {
        QueryGain { query, text: text.into(), pages, pages_with_clicks: pages, mean_ndcg_base: 0.5, mean_ndcg_lum: 0.5 + delta, delta }
    }

    #[test]
    fn queries_sort_and_filter_and_defaults_pick_the_biggest_move() {
        let pages = vec![
            page(1, "shoes", &[false, true, false], &[0.9, 0.5, 0.1], &[0.9, 0.5, 0.1]),
            page(1, "shoes", &[false, false, true], &[0.9, 0.5, 0.1], &[0.1, 0.5, 0.9]),
            page(2, "tent", &[false, true], &[0.9, 0.5], &[0.4, 0.5]),
        ];
        let mut pages_of = HashMap::new();
        pages_of.insert(1, vec![0, 1]);
        pages_of.insert(2, vec![2]);
        let run = RankingRun {
            path: PathBuf::new(),
            name: "ctr".into(),
            created_unix: None,
            model: "+LUM".into(),
            summary: None,
            queries: vec![gain(1, "Shoes", 2, 0.25), gain(2, "tent", 1, -0.1), gain(3, "shoe rack", 5, 0.0)],
            pages,
            pages_of,
            lum_run: None,
            simtier_bins: 0,
            simtier_whitened: false,
        };
        assert_eq!(run.query_rows("", QuerySort::Gain), vec![0, 2, 1]);
        assert_eq!(run.query_rows("", QuerySort::Loss), vec![1, 2, 0]);
        assert_eq!(run.query_rows("", QuerySort::Pages), vec![2, 0, 1]);
        assert_eq!(run.query_rows(" SHOE", QuerySort::Gain), vec![0, 2]);
        assert!(run.query_rows("kettle", QuerySort::Gain).is_empty());
        assert_eq!(run.query_rows_with("", QuerySort::Gain, 2), vec![0, 2]);
        // Page 1's NDCG moved (click from last to first), page 0's did not.
        assert_eq!(run.default_page(0), Some(1));
        assert_eq!(run.default_page(2), None);
        // On page 1 the clicked ad (index 2) moved most.
        assert_eq!(run.default_ad(1), Some(2));
        assert_eq!(run.pages_of_query(1), &[2]);
        assert!(map_request(&run, 1).is_none(), "no LUM run: no map");
    }
}
