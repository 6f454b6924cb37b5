//! Evaluation: retrieval metrics (leave-one-out, `full` / `sampled100`), CTR
//! metrics (AUC, GAUC, logloss, RelaImpr, calibration), per-query ranking diffs
//! and a 2-D PCA for embedding plots.
//!
//! Everything here is a pure function over plain slices, so the metrics can be
//! checked against hand-computed cases without a model. Every reported number
//! carries its protocol string (DESIGN.md §1: a number is never shown without
//! its protocol).

pub mod ctr;
pub mod pca;
pub mod ranking;
pub mod retrieval;

pub use ctr::{Calibration, CtrError, CtrReport, GaucResult, auc, calibration, gauc, logloss, rela_impr};
pub use pca::{Pca2, PcaError, pca_2d};
pub use ranking::{
    AdMove, QueryRanking, RankingError, RankingSummary, kendall_tau_b, ndcg_at_k, ranking_order, ranks_from_order,
};
pub use retrieval::{
    Protocol, RetrievalAccumulator, RetrievalReport, rank_in_candidates, rank_of_target, sampled_candidates,
};

use serde::{Deserialize, Serialize};

/// One named number with the protocol that produced it, e.g.
/// `{ name: "HR@10", value: 0.42, protocol: "full, leave-one-out, seen removed" }`.
///
/// This is the unit that eval events, run metrics and report tables carry, so
/// a consumer can never print a value without its protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Short metric name: `HR@10`, `NDCG@10`, `MRR`, `AUC`, `GAUC(user)`, `logloss`.
    pub name: String,
    /// The value (fractions, not percent, unless the name says `%`).
    pub value: f64,
    /// How the value was measured (split, candidates, conventions).
    pub protocol: String,
}

impl Metric {
    /// A metric from its parts.
    pub fn new(name: impl Into<String>, value: f64, protocol: impl Into<String>) -> Self {
        Self { name: name.into(), value, protocol: protocol.into() }
    }

    /// Display label `NAME (PROTOCOL)`, e.g. `HR@10 (full, leave-one-out, seen removed)`.
    pub fn label(&self) -> String {
        format!("{} ({})", self.name, self.protocol)
    }
}
