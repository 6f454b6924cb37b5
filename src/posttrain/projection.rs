//! A 2-D picture of one user's interests: the user's o(u, q) vectors across
//! their search sessions, projected by one PCA together with a sample of LUM
//! item embeddings, so a reader sees which part of the catalogue each query
//! pulls the user's interest towards. Both live in the same (L2-normalised)
//! space, so one projection fitted on their union places them comparably.

use super::extract::{ExtractOptions, extract_grouped};
use super::keys::SessionKey;
use super::table::InterestTable;
use crate::data::{Dataset, NONE};
use crate::job::CancelToken;
use crate::model::Lum;
use crate::tokenize::Tokenized;
use crate::train::split::UserSeq;
use crate::eval::{Pca2, PcaError, pca_2d};
use crate::util::Rng;

/// Seed of the item sample, so the same table always gives the same picture.
const SAMPLE_SEED: u64 = 0x1A7E_5E55;

/// Why a projection could not be made.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ProjectionError {
    #[error("user `{0}` has no search session in the interest table")]
    UnknownUser(String),
    #[error("projecting interest vectors: {0}")]
    Pca(#[from] PcaError),
}

/// What a projected point stands for.
#[derive(Clone, Debug, PartialEq)]
pub enum PointKind {
    /// The user's o(u, q) for one session.
    Interest { query: String, timestamp: i64 },
    /// o(u, q) under a query the user did not search at that time (a probe, read by
    /// group query after the same history as the page).
    Probe { query: String },
    /// A catalogue item's LUM embedding (`highlighted`: one of the caller's items of interest).
    Item { item: u32, highlighted: bool },
}

/// One point of the picture.
#[derive(Clone, Debug, PartialEq)]
pub struct MapPoint {
    pub kind: PointKind,
    /// Hover text: the query and date, or the item's title (its id without a title).
    pub label: String,
    /// Colour group: `query` for interest points, the item's category (or `item`).
    pub group: String,
    /// Coordinates on the two principal components.
    pub xy: [f32; 2],
}

/// One user's interest vectors and a sample of items on two principal components.
#[derive(Clone, Debug, PartialEq)]
pub struct InterestMap {
    pub user: String,
    /// Interest points first (session order), then items.
    pub points: Vec<MapPoint>,
    /// The fitted PCA (its `coords` are the points' `xy`).
    pub pca: Pca2,
}

impl InterestMap {
    /// Number of interest points.
    pub fn n_interest(&self) -> usize {
        self.points.iter().filter(|p| matches!(p.kind, PointKind::Interest { .. })).count()
    }
}

/// o(u, q) of dense `user` under each dense query id in `queries`, read after the user's
/// LUM behaviours strictly before Unix second `timestamp` (as post-training reads a
/// session), all queries sharing one history in one group-query pass.
/// -> (queries.len(), d) row-major, L2-normalised. Queries without a condition token are
/// an error (filter with `tok.query_condition`).
pub fn probe_interests(lum: &Lum, tok: &Tokenized, seqs: &[UserSeq], data: &Dataset, user: u32, queries: &[u32], timestamp: i64) -> anyhow::Result<Vec<f32>> {
    anyhow::ensure!((user as usize) < data.n_users(), "user id {user} is not in the log");
    let rel = timestamp - data.base_ts;
    // A user's rows are in time order, so the LUM behaviours before `timestamp` are a prefix.
    let history_len = data.user_range(user).filter(|&r| tok.cond_of_row.get(r).is_some_and(|c| *c != NONE) && (data.ts[r] as i64) < rel).count() as u32;
    let keys: Vec<SessionKey> = queries.iter().map(|&query| SessionKey { user, query, timestamp, history_len, impressions: 0 }).collect();
    let ex = extract_grouped(lum, tok, seqs, &keys, &ExtractOptions::default(), &mut |_| {}, &CancelToken::new())?;
    Ok(ex.vectors)
}

/// Projects `user_id`'s interest vectors (at most `max_sessions`, the latest), the
/// `probes` (query text, o(u, q) read for another query), `max_items` uniformly sampled
/// items and every item of `highlight` onto the top two principal components of their
/// union. `data` (the log the table was extracted from) names items and categories;
/// without it items are labelled by id.
pub fn interest_map(
    table: &InterestTable,
    data: Option<&Dataset>,
    user_id: &str,
    max_sessions: usize,
    max_items: usize,
    highlight: &[u32],
    probes: &[(String, Vec<f32>)],
) -> Result<InterestMap, ProjectionError> {
    let mut rows: Vec<usize> = (0..table.len()).filter(|&r| table.keys[r].user_id == user_id).collect();
    if rows.is_empty() {
        return Err(ProjectionError::UnknownUser(user_id.to_string()));
    }
    rows.sort_by_key(|&r| table.keys[r].timestamp);
    let rows = &rows[rows.len().saturating_sub(max_sessions.max(1))..];
    let n_items = table.n_items();
    let mut items: Vec<u32> = highlight.iter().copied().filter(|&i| (i as usize) < n_items).collect();
    items.sort_unstable();
    items.dedup();
    let n_highlight = items.len();
    if n_items > 0 {
        let mut pool: Vec<u32> = (0..n_items as u32).filter(|i| items.binary_search(i).is_err()).collect();
        Rng::new(SAMPLE_SEED).shuffle(&mut pool);
        items.extend(pool.into_iter().take(max_items));
    }
    let dim = table.dim;
    let mut matrix = Vec::with_capacity((rows.len() + items.len()) * dim);
    for &r in rows {
        matrix.extend_from_slice(table.vector(r).unwrap_or(&[]));
    }
    let probes: Vec<&(String, Vec<f32>)> = probes.iter().filter(|(_, v)| v.len() == dim).collect();
    for (_, v) in &probes {
        matrix.extend_from_slice(v);
    }
    for &i in &items {
        matrix.extend_from_slice(table.item(i).unwrap_or(&[]));
    }
    let n = rows.len() + probes.len() + items.len();
    let pca = pca_2d(&matrix, n, dim)?;
    let described = data.filter(|d| d.n_items() == n_items);
    let mut points = Vec::with_capacity(n);
    for (k, &r) in rows.iter().enumerate() {
        let key = &table.keys[r];
        points.push(MapPoint {
            kind: PointKind::Interest { query: key.query.clone(), timestamp: key.timestamp },
            label: format!("o(u, \"{}\") · {}", key.query, &crate::data::time::format_utc(key.timestamp)[..16]),
            group: "query".to_string(),
            xy: pca.coords[k],
        });
    }
    for (k, (query, _)) in probes.iter().enumerate() {
        points.push(MapPoint {
            kind: PointKind::Probe { query: query.clone() },
            label: format!("o(u, \"{query}\") · probe: this history, another query"),
            group: "probe".to_string(),
            xy: pca.coords[rows.len() + k],
        });
    }
    let first_item = rows.len() + probes.len();
    for (k, &i) in items.iter().enumerate() {
        let (label, group) = match described {
            Some(d) => {
                let title = d.item_table.title(i);
                let label = if title.is_empty() { d.items.name(i).to_string() } else { title.to_string() };
                let cat = d.item_table.category.get(i as usize).copied().unwrap_or(NONE);
                (label, if cat == NONE { "item".to_string() } else { d.item_table.categories.name(cat).to_string() })
            }
            None => (format!("item #{i}"), "item".to_string()),
        };
        points.push(MapPoint { kind: PointKind::Item { item: i, highlighted: k < n_highlight }, label, group, xy: pca.coords[first_item + k] });
    }
    Ok(InterestMap { user: user_id.to_string(), points, pca })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::posttrain::InterestKey;

    fn key(row: usize, user: &str, query: &str, ts: i64) -> InterestKey {
        InterestKey { row, user_id: user.into(), query: query.into(), timestamp: ts, history_len: 3, impressions: 2 }
    }

    #[test]
    fn projects_one_users_sessions_with_items_and_matches_a_direct_pca() {
        // 3-D space; user a has three sessions, user b one; four items.
        let keys = vec![key(0, "a", "shoes", 30), key(1, "b", "tea", 10), key(2, "a", "tent", 10), key(3, "a", "shoes", 20)];
        let interest = vec![1.0, 0.0, 0.0, /* b */ 0.0, 0.0, 1.0, /* a tent */ 0.0, 1.0, 0.0, /* a shoes */ 0.6, 0.8, 0.0];
        let item_emb = vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.6, 0.0, 0.8];
        let table = InterestTable::new(keys, 3, interest.clone(), item_emb.clone()).unwrap();
        let map = interest_map(&table, None, "a", 10, 2, &[3], &[]).unwrap();
        // Two latest-first-capped sessions when max_sessions = 2: rows 3 (ts 20) and 0 (ts 30).
        let capped = interest_map(&table, None, "a", 2, 0, &[], &[]).unwrap();
        let qs: Vec<i64> = capped.points.iter().filter_map(|p| match &p.kind { PointKind::Interest { timestamp, .. } => Some(*timestamp), _ => None }).collect();
        assert_eq!(qs, vec![20, 30]);
        // Sessions of a in time order (rows 2, 3, 0), the highlighted item 3, then 2 sampled items.
        assert_eq!(map.n_interest(), 3);
        assert_eq!(map.points.len(), 6);
        assert!(matches!(map.points[3].kind, PointKind::Item { item: 3, highlighted: true }));
        let sampled: Vec<u32> = map.points[4..].iter().map(|p| match p.kind { PointKind::Item { item, highlighted: false } => item, _ => panic!("{p:?}") }).collect();
        assert!(sampled.iter().all(|&i| i < 3) && sampled[0] != sampled[1]);
        // The same PCA computed directly on the stacked vectors gives the same coordinates.
        let mut stacked = Vec::new();
        for r in [2usize, 3, 0] {
            stacked.extend_from_slice(&interest[r * 3..r * 3 + 3]);
        }
        for i in std::iter::once(3u32).chain(sampled.iter().copied()) {
            stacked.extend_from_slice(&item_emb[i as usize * 3..i as usize * 3 + 3]);
        }
        let direct = pca_2d(&stacked, 6, 3).unwrap();
        for (p, c) in map.points.iter().zip(&direct.coords) {
            assert_eq!(p.xy, *c);
        }
        assert!(map.pca.explained_variance_ratio[0] >= map.pca.explained_variance_ratio[1]);
        assert_eq!(map.points[0].label, format!("o(u, \"tent\") · {}", &crate::data::time::format_utc(10)[..16]));
        // A probe sits between the sessions and the items, and the PCA includes it.
        let probe = vec![("tea".to_string(), vec![0.0, 0.6, 0.8])];
        let with = interest_map(&table, None, "a", 10, 2, &[3], &probe).unwrap();
        assert_eq!(with.points.len(), 7);
        assert!(matches!(&with.points[3].kind, PointKind::Probe { query } if query == "tea"));
        assert_eq!(with.n_interest(), 3);
        // A probe sits between the sessions and the items, and the PCA includes it.
        let probe = vec![("tea".to_string(), vec![0.0, 0.6, 0.8])];
        let with = interest_map(&table, None, "a", 10, 2, &[3], &probe).unwrap();
        assert_eq!(with.points.len(), 7);
        assert!(matches!(&with.points[3].kind, PointKind::Probe { query } if query == "tea"));
        assert_eq!(with.n_interest(), 3);
        assert_eq!(interest_map(&table, None, "zed", 10, 2, &[], &[]), Err(ProjectionError::UnknownUser("zed".into())));
    }
}
