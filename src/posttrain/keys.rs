//! The search ad sessions of a log and the history each one may read.
//!
//! A session is the set of impression rows sharing (user, query, timestamp): one page of
//! ads shown for one query. Its interest vector o(u, q) may read only the user's LUM
//! behaviours strictly before that timestamp: rows at the same second are excluded, since
//! a click logged in the same second as the page could be a reaction to it (leakage).
//! Because each user's rows are sorted by time, that history is a prefix of the user's
//! LUM sequence, so a key stores only its length.

use super::PosttrainError;
use crate::data::{Dataset, NONE};
use crate::tokenize::Tokenized;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One search ad session: the key of one interest vector o(u, q).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionKey {
    /// Dense user id.
    pub user: u32,
    /// Dense query id.
    pub query: u32,
    /// Absolute Unix time (seconds) of the session's impressions.
    pub timestamp: i64,
    /// The user's LUM behaviours strictly before `timestamp`: the history is the first
    /// `history_len` entries of the user's sequence (the model reads its most recent window).
    pub history_len: u32,
    /// Impression rows in the session.
    pub impressions: u32,
}

/// Counts that come with the keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionCounts {
    /// Impression rows with a query (the rows the keys cover).
    pub impressions_with_query: u64,
    /// Impression rows without a query (not search sessions; no key).
    pub impressions_without_query: u64,
    /// Sessions whose user had no LUM behaviour before them (history_len 0).
    pub keys_without_history: usize,
}

/// Every search ad session of `data`, ordered by (user, timestamp, query id).
///
/// Errors: the log has no query column, or no impression row with a query.
pub fn session_keys(data: &Dataset, tok: &Tokenized) -> Result<(Vec<SessionKey>, SessionCounts), PosttrainError> {
    if !data.has_query() {
        return Err(PosttrainError::NoQueryColumn);
    }
    let mut counts = SessionCounts::default();
    let mut keys = Vec::new();
    let mut lum_ts: Vec<u32> = Vec::new();
    let mut sessions: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for u in 0..data.n_users() as u32 {
        lum_ts.clear();
        sessions.clear();
        for r in data.user_range(u) {
            if tok.cond_of_row.get(r).is_some_and(|c| *c != NONE) {
                lum_ts.push(data.ts[r]);
            } else if data.is_impression(r) {
                let q = data.query_at(r);
                if q == NONE {
                    counts.impressions_without_query += 1;
                } else {
                    counts.impressions_with_query += 1;
                    *sessions.entry((data.ts[r], q)).or_default() += 1;
                }
            }
        }
        for (&(ts, query), &n) in &sessions {
            // Rows are sorted by time, so the behaviours strictly before `ts` are a prefix.
            let history_len = lum_ts.partition_point(|&t| t < ts) as u32;
            counts.keys_without_history += (history_len == 0) as usize;
            keys.push(SessionKey { user: u, query, timestamp: data.base_ts + ts as i64, history_len, impressions: n });
        }
    }
    if keys.is_empty() {
        let impressions = (0..data.n_behaviors()).filter(|&r| data.is_impression(r)).count() as u64;
        return Err(PosttrainError::NoSearchImpressions { impressions });
    }
    Ok((keys, counts))
}
