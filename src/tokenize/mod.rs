//! Tokenization (temporary stub while building).
pub mod kmeans;
pub mod stats;
pub mod vocab;
use serde::{Deserialize, Serialize};
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStrategy { Id, Semantic, Attributes }
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionSource { Query, Scenario, Action }
