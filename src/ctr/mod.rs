//! The CTR stage ("knowledge utilization"): a DIN-style baseline click model
//! and the same model with frozen LUM features, trained side by side on one
//! time-based split, evaluated with `eval::ctr` and compared query by query.
//!
//! Flow: [`data::CtrSamples::build`] turns a log's labelled ad impressions
//! into samples (ids, position, the recent behaviour window strictly before
//! each impression, the time split); [`features`] turns [`LumFeatures`] into
//! per-sample dense inputs (o(u,q), sim(o, e_t), SimTier); [`model::DinModel`]
//! is the candle network; [`train::train_ctr`] trains baseline and +LUM with
//! the same seed, data order, optimiser and budget and writes the run folder
//! through [`report`].
//!
//! Why a module of its own (not `model/`): the CTR model, its samples and its
//! report belong together and do not depend on the LUM code; the LUM reaches
//! this stage only as a [`LumFeatures`] value.

pub mod batch;
pub mod config;
pub mod context;
pub mod data;
pub mod features;
pub mod model;
pub mod report;
pub mod sanity;
pub mod train;
pub mod whiten;

#[cfg(test)]
mod tests;

pub use config::{CtrConfig, FeatureSet, LumFeature};
pub use data::{CtrDataError, CtrSamples, SplitInfo, impression_rows};
pub use features::LumFeatures;
pub use report::{CtrResult, ModelResult, OracleResult, QueryGain, SessionRanking, Truth};
pub use train::{train_ctr, train_ctr_on};
