//! What a CTR run reports and writes: per-model metrics, the oracle from the
//! sample world's true click probabilities, per-page ranking comparisons,
//! `predictions.csv` and `ranking.jsonl` (both written atomically).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::CtrConfig;
use super::data::{CtrSamples, SplitInfo};
use super::features::ExtraInputs;
use crate::data::{Dataset, NONE};
use crate::eval::{CtrReport, Metric, QueryRanking, RankingSummary};

/// File of per-impression test predictions.
pub const PREDICTIONS_FILE: &str = "predictions.csv";
/// File of per-page ranking comparisons (one JSON object per line).
pub const RANKING_FILE: &str = "ranking.jsonl";
/// Top gains and losses kept in the report and printed.
pub const TOP_QUERIES: usize = 5;

/// True click probability of each sample-world impression, keyed by
/// (user id, Unix seconds, item id, position): `data::sample::read_truth`.
pub type Truth = HashMap<(String, i64, String, u8), f64>;

/// Loss and test metrics after one epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    /// Global step (over all models of the run) at the end of the epoch.
    pub step: u64,
    /// Mean training loss over the epoch.
    pub train_loss: f64,
    pub test_auc: f64,
    pub test_logloss: f64,
}

/// One trained model and its test metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// `baseline`, `+LUM`, `+LUM (sim only)`, ...
    pub name: String,
    /// LUM features used (`None` for the baseline).
    pub features: Option<String>,
    /// Test-split metrics (RelaImpr relative to the baseline for the others).
    pub report: CtrReport,
    /// Wall-clock seconds of training (excluding feature preparation and evaluation).
    pub train_secs: f64,
    /// Optimisation steps taken.
    pub steps: u64,
    /// Trainable scalars.
    pub params: usize,
    /// Per-epoch curve.
    pub epochs: Vec<EpochRow>,
}

/// The best any model can do on the same test impressions: the true click
/// probabilities of the sample world.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OracleResult {
    /// Metrics of the true probabilities (same protocol as the models).
    pub report: CtrReport,
    /// Test impressions found in truth.csv.
    pub matched: u64,
    /// Test impressions missing from truth.csv (metrics cover matched ones only).
    pub missing: u64,
    pub protocol: String,
}

/// Baseline vs the compared model on one result page (user, query, time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRanking {
    /// Page number in test order.
    pub session: usize,
    pub user: String,
    /// The query text ("" when none).
    pub query_text: String,
    /// Unix seconds of the page.
    pub timestamp: i64,
    /// Dataset item ids become names here for readers of the file.
    pub item_names: Vec<String>,
    #[serde(flatten)]
    pub ranking: QueryRanking,
    /// The LUM features the +LUM model read for each ad, parallel to
    /// `ranking.ads` (empty in files written before they were recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lum_features: Vec<AdLumFeatures>,
}

/// Why an ad may move under +LUM: the frozen LUM features of (user, query, ad).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdLumFeatures {
    /// sim(o(u,q), e_t): cosine of the interest vector and the ad's LUM embedding.
    pub sim: f32,
    /// SimTier: share of the user's history items in each cosine tier of
    /// cos(e_t, e_h), equal-width tiers on [-1, 1] (lowest first).
    pub simtier: Vec<f32>,
}

/// One query's pages, averaged (pages with clicks only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryGain {
    /// Dataset query id.
    pub query: u32,
    pub text: String,
    /// Test pages of the query.
    pub pages: usize,
    /// Pages with at least one click (the means are over these).
    pub pages_with_clicks: usize,
    pub mean_ndcg_base: f64,
    pub mean_ndcg_lum: f64,
    /// `mean_ndcg_lum - mean_ndcg_base`.
    pub delta: f64,
}

/// Everything a CTR run produced; written as the run's `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtrResult {
    pub kind: String,
    pub status: String,
    /// A few headline numbers (what `run::list_runs` shows).
    pub headline: Vec<Metric>,
    pub config: CtrConfig,
    pub device: String,
    pub split: SplitInfo,
    /// Where the +LUM features came from; `None` = baseline only.
    pub lum_source: Option<String>,
    /// Baseline first, then the +LUM model, then ablations.
    pub models: Vec<ModelResult>,
    pub oracle: Option<OracleResult>,
    /// Name of the model compared with the baseline page by page.
    pub ranking_model: Option<String>,
    pub ranking: Option<RankingSummary>,
    /// Queries by NDCG gain, best first (pages with clicks only).
    pub per_query: Vec<QueryGain>,
    pub notes: Vec<String>,
    /// Files of the run folder this run wrote.
    pub files: Vec<String>,
}

impl CtrResult {
    /// The model called `name`.
    pub fn model(&self, name: &str) -> Option<&ModelResult> {
        self.models.iter().find(|m| m.name == name)
    }

    /// The top `n` query gains (largest NDCG delta first, positive only).
    pub fn top_gains(&self, n: usize) -> Vec<&QueryGain> {
        self.per_query
            .iter()
            .filter(|q| q.delta > 0.0)
            .take(n)
            .collect()
    }

    /// The top `n` query losses (most negative first).
    pub fn top_losses(&self, n: usize) -> Vec<&QueryGain> {
        self.per_query
            .iter()
            .rev()
            .filter(|q| q.delta < 0.0)
            .take(n)
            .collect()
    }
}

/// Query ids for `eval` grouping: the "none" index becomes [`NONE`] (no group).
pub fn eval_query_keys(samples: &CtrSamples, indices: &[usize]) -> Vec<u32> {
    indices
        .iter()
        .map(|&i| {
            if samples.query[i] as usize == samples.n_queries {
                NONE
            } else {
                samples.query[i]
            }
        })
        .collect()
}

/// Joins the test samples with the true probabilities and scores them.
pub fn oracle(
    data: &Dataset,
    samples: &CtrSamples,
    test: &[usize],
    truth: &Truth,
    split_name: &str,
) -> Option<OracleResult> {
    let mut idx = Vec::new();
    let mut probs = Vec::new();
    for &i in test {
        let key = (
            data.users.name(samples.user[i]).to_string(),
            samples.ts[i],
            data.items.name(samples.item[i]).to_string(),
            samples.position[i],
        );
        if let Some(&p) = truth.get(&key) {
            idx.push(i);
            probs.push(p as f32);
        }
    }
    if idx.is_empty() {
        return None;
    }
    let labels: Vec<bool> = idx.iter().map(|&i| samples.label[i]).collect();
    let users: Vec<u32> = idx.iter().map(|&i| samples.user[i]).collect();
    let queries = eval_query_keys(samples, &idx);
    let report = CtrReport::compute(split_name, &labels, &probs, &users, Some(&queries)).ok()?;
    Some(OracleResult {
        report,
        matched: idx.len() as u64,
        missing: (test.len() - idx.len()) as u64,
        protocol: "true p_click of the sample world (truth.csv, joined on user_id, timestamp, item_id, position) \
                   scored like a model on the same test impressions"
            .to_string(),
    })
}

/// Page-by-page comparison of `base` and `other` test scores (parallel to `test`).
pub fn session_rankings(
    data: &Dataset,
    samples: &CtrSamples,
    test: &[usize],
    base: &[f32],
    other: &[f32],
) -> Result<Vec<SessionRanking>, crate::eval::RankingError> {
    let pos_in_test: HashMap<usize, usize> =
        test.iter().enumerate().map(|(k, &i)| (i, k)).collect();
    let mut out = Vec::new();
    for (s, page) in samples.sessions(test).into_iter().enumerate() {
        let first = page[0];
        let ks: Vec<usize> = page.iter().map(|i| pos_in_test[i]).collect();
        let items: Vec<u32> = page.iter().map(|&i| samples.item[i]).collect();
        let labels: Vec<bool> = page.iter().map(|&i| samples.label[i]).collect();
        let b: Vec<f32> = ks.iter().map(|&k| base[k]).collect();
        let o: Vec<f32> = ks.iter().map(|&k| other[k]).collect();
        let q = samples.query[first];
        let qid = if q as usize == samples.n_queries {
            NONE
        } else {
            q
        };
        let ranking = QueryRanking::compute(qid, &items, &labels, &b, &o)?;
        out.push(SessionRanking {
            session: s,
            user: data.users.name(samples.user[first]).to_string(),
            query_text: if qid == NONE {
                String::new()
            } else {
                data.queries.name(qid).to_string()
            },
            timestamp: samples.ts[first],
            item_names: items
                .iter()
                .map(|&i| data.items.name(i).to_string())
                .collect(),
            ranking,
            lum_features: Vec::new(),
        });
    }
    Ok(out)
}

/// Fills every page's `lum_features` from `extra` (a +LUM model's inputs for
/// all samples), reading its `sim` and `simtier[..]` columns; pages must come
/// from [`session_rankings`] over the same `test`. Returns false (and leaves
/// the pages alone) when `extra` lacks either feature.
pub fn attach_lum_features(pages: &mut [SessionRanking], samples: &CtrSamples, test: &[usize], extra: &ExtraInputs) -> bool {
    let sim_col = extra.columns.iter().position(|c| c == "sim");
    let tiers: Vec<usize> = (0..extra.columns.len()).filter(|&c| extra.columns[c].starts_with("simtier[")).collect();
    let Some(sim_col) = sim_col else { return false };
    if tiers.is_empty() {
        return false;
    }
    for (page, rows) in pages.iter_mut().zip(samples.sessions(test)) {
        page.lum_features = rows
            .iter()
            .map(|&i| {
                let row = extra.row(i);
                AdLumFeatures { sim: row[sim_col], simtier: tiers.iter().map(|&c| row[c]).collect() }
            })
            .collect();
    }
    true
}

/// Averages pages per query; sorted by delta, largest gain first (ties by text).
pub fn per_query(pages: &[SessionRanking]) -> Vec<QueryGain> {
    let mut by_query: HashMap<u32, QueryGain> = HashMap::new();
    for p in pages {
        let g = by_query
            .entry(p.ranking.query)
            .or_insert_with(|| QueryGain {
                query: p.ranking.query,
                text: p.query_text.clone(),
                pages: 0,
                pages_with_clicks: 0,
                mean_ndcg_base: 0.0,
                mean_ndcg_lum: 0.0,
                delta: 0.0,
            });
        g.pages += 1;
        if p.ranking.has_clicks {
            g.pages_with_clicks += 1;
            g.mean_ndcg_base += p.ranking.ndcg_base;
            g.mean_ndcg_lum += p.ranking.ndcg_lum;
        }
    }
    let mut out: Vec<QueryGain> = by_query
        .into_values()
        .filter(|g| g.pages_with_clicks > 0)
        .map(|mut g| {
            let n = g.pages_with_clicks as f64;
            g.mean_ndcg_base /= n;
            g.mean_ndcg_lum /= n;
            g.delta = g.mean_ndcg_lum - g.mean_ndcg_base;
            g
        })
        .collect();
    out.sort_by(|a, b| {
        b.delta
            .total_cmp(&a.delta)
            .then_with(|| a.text.cmp(&b.text))
    });
    out
}

/// A CSV-safe column name for a model (`+LUM` -> `lum`, `+LUM (sim only)` -> `lum_sim_only`).
pub fn column_slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.is_empty() && !s.ends_with('_') {
            s.push('_');
        }
    }
    s.trim_end_matches('_').to_string()
}

/// Quotes a CSV field when needed (queries may contain commas or quotes).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Writes `predictions.csv`: one row per test impression with every model's
/// probability (f32 shortest round-trip text, so metrics recompute exactly),
/// and the true probability when known.
///
/// Columns: `impression` (dataset row), `user`, `query`, `item`, `timestamp`,
/// `position`, `label`, `baseline`, `lum` (empty without LUM features), one
/// column per further model, `p_true`.
#[allow(clippy::too_many_arguments)]
pub fn write_predictions(
    path: &Path,
    data: &Dataset,
    samples: &CtrSamples,
    test: &[usize],
    models: &[(String, Vec<f32>)],
    truth: Option<&Truth>,
) -> std::io::Result<()> {
    let mut header =
        String::from("impression,user,query,item,timestamp,position,label,baseline,lum");
    // models[0] = baseline; models[1] (if any) fills `lum`; the rest get their own columns.
    for (name, _) in models.iter().skip(2) {
        let _ = write!(header, ",{}", column_slug(name));
    }
    header.push_str(",p_true\n");
    crate::util::atomic_write_with(path, |w| {
        w.write_all(header.as_bytes())?;
        let mut line = String::new();
        for (k, &i) in test.iter().enumerate() {
            line.clear();
            let q = samples.query[i];
            let qtext = if q as usize == samples.n_queries {
                ""
            } else {
                data.queries.name(q)
            };
            let user = data.users.name(samples.user[i]);
            let item = data.items.name(samples.item[i]);
            let _ = write!(
                line,
                "{},{},{},{},{},{},{}",
                samples.rows[i],
                csv_field(user),
                csv_field(qtext),
                csv_field(item),
                samples.ts[i],
                samples.position[i],
                samples.label[i] as u8
            );
            let _ = write!(line, ",{}", models[0].1[k]);
            match models.get(1) {
                Some((_, s)) => {
                    let _ = write!(line, ",{}", s[k]);
                }
                None => line.push(','),
            }
            for (_, s) in models.iter().skip(2) {
                let _ = write!(line, ",{}", s[k]);
            }
            let p = truth.and_then(|t| {
                t.get(&(
                    user.to_string(),
                    samples.ts[i],
                    item.to_string(),
                    samples.position[i],
                ))
            });
            match p {
                Some(p) => {
                    let _ = writeln!(line, ",{p}");
                }
                None => line.push_str(",\n"),
            }
            w.write_all(line.as_bytes())?;
        }
        Ok(())
    })
}

/// Writes `ranking.jsonl`: one [`SessionRanking`] per line, atomically.
pub fn write_ranking(path: &Path, pages: &[SessionRanking]) -> std::io::Result<()> {
    crate::util::atomic_write_with(path, |w| {
        for p in pages {
            let line = serde_json::to_string(p).map_err(std::io::Error::other)?;
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// The headline: AUC and GAUC(user) of every main model, RelaImpr, oracle AUC.
pub fn headline(models: &[ModelResult], oracle: Option<&OracleResult>) -> Vec<Metric> {
    let mut out = Vec::new();
    for m in models.iter().take(2) {
        let r = &m.report;
        out.push(Metric::new(
            format!("{} AUC", m.name),
            r.auc,
            format!("{}, ties count half", r.split),
        ));
        if let Some(g) = r.gauc_user.value {
            out.push(Metric::new(
                format!("{} GAUC(user)", m.name),
                g,
                format!(
                    "{}, by user, {} groups with both classes",
                    r.split, r.gauc_user.groups_used
                ),
            ));
        }
    }
    if let Some(m) = models.get(1)
        && let Some(ri) = m.report.rela_impr
    {
        out.push(Metric::new(
            format!("{} RelaImpr %", m.name),
            ri,
            format!("{}, AUC vs baseline", m.report.split),
        ));
    }
    if let Some(o) = oracle {
        out.push(Metric::new(
            "oracle AUC",
            o.report.auc,
            format!(
                "{}, true p_click, {} impressions",
                o.report.split, o.matched
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_csv_quoting() {
        assert_eq!(column_slug("+LUM"), "lum");
        assert_eq!(column_slug("+LUM (sim only)"), "lum_sim_only");
        assert_eq!(column_slug("+sanity"), "sanity");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("shoes"), "shoes");
    }
}
