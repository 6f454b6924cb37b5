//! Condition tokens: the context of the item that follows each behaviour.
//!
//! Choice (documented for users): a condition is the distinct combination
//! (query, scenario, action) of a behaviour row, with each part present only
//! when the log has it. Its sub-tokens are its parts: the query id, the query's
//! words, the scenario and the action, so "red shoes · search · buy" and
//! "red shoes · search · click" are two conditions that share most sub-tokens.
//! The condition's *kind* names its most specific part: `query` when the row has
//! one, else `scenario` when the scenario is known, else `action`; the log-level
//! [`ConditionSource`] is the most specific part any behaviour has.
//!
//! Every query of the log (including queries seen only on ad impressions) gets
//! the condition (query, search, click) up front, ids `0..n_queries` in query-id
//! order, so post-training can append "query q" conditions for any query.
//! Impression rows are CTR samples, not LUM behaviours: their condition is [`NONE`].

use super::ConditionSource;
use super::content::words;
use super::vocab::{SubKind, SubTokens, VocabBuilder};
use crate::data::{Action, Dataset, NONE, Scenario};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// The parts of one condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Condition {
    /// Query id or [`NONE`].
    pub query: u32,
    /// `Unknown` when the log has no scenario for it.
    pub scenario: Scenario,
    pub action: Action,
    /// Which part is the most specific (query > scenario > action).
    pub kind: ConditionSource,
}

impl Condition {
    fn new(query: u32, scenario: Scenario, action: Action) -> Self {
        let kind = if query != NONE {
            ConditionSource::Query
        } else if scenario != Scenario::Unknown {
            ConditionSource::Scenario
        } else {
            ConditionSource::Action
        };
        Self {
            query,
            scenario,
            action,
            kind,
        }
    }

    /// Human-readable, e.g. `query "red shoes" · search · click`.
    pub fn describe(&self, data: &Dataset) -> String {
        let mut parts = Vec::new();
        if self.query != NONE {
            parts.push(format!("query {:?}", data.queries.name(self.query)));
        }
        if self.scenario != Scenario::Unknown {
            parts.push(self.scenario.name().to_string());
        }
        parts.push(self.action.name().to_string());
        parts.join(" · ")
    }
}

/// Conditions of a dataset.
pub(crate) struct Conditions {
    pub list: Vec<Condition>,
    pub of_row: Vec<u32>,
    /// Condition id of (query q, search, click) per query id.
    pub query_cond: Vec<u32>,
    pub source: ConditionSource,
}

/// Assigns a condition to every non-impression row.
pub(crate) fn build_conditions(data: &Dataset) -> Conditions {
    let n_rows = data.n_behaviors();
    let query_scenario = if data.has_scenario() {
        Scenario::Search
    } else {
        Scenario::Unknown
    };
    let mut list = Vec::new();
    let mut index: HashMap<Condition, u32> = HashMap::new();
    let mut intern = |c: Condition, list: &mut Vec<Condition>| -> u32 {
        *index.entry(c).or_insert_with(|| {
            list.push(c);
            list.len() as u32 - 1
        })
    };
    let query_cond: Vec<u32> = (0..data.queries.len() as u32)
        .map(|q| intern(Condition::new(q, query_scenario, Action::Click), &mut list))
        .collect();
    let mut of_row = vec![NONE; n_rows];
    let (mut any_query, mut any_scenario) = (false, false);
    for (r, slot) in of_row.iter_mut().enumerate() {
        if data.is_impression(r) {
            continue;
        }
        let c = Condition::new(data.query_at(r), data.scenario_at(r), data.action_at(r));
        any_query |= c.query != NONE;
        any_scenario |= c.scenario != Scenario::Unknown;
        *slot = intern(c, &mut list);
    }
    let source = if any_query {
        ConditionSource::Query
    } else if any_scenario {
        ConditionSource::Scenario
    } else {
        ConditionSource::Action
    };
    Conditions {
        list,
        of_row,
        query_cond,
        source,
    }
}

/// Adds the condition sub-token kinds to the vocabulary and returns each condition's sub-tokens.
pub(crate) fn condition_sub_tokens(
    data: &Dataset,
    conds: &[Condition],
    max_words: usize,
    vb: &mut VocabBuilder,
) -> SubTokens {
    let n_queries = data.queries.len();
    let query_words: Vec<Vec<String>> = (0..n_queries as u32)
        .map(|q| words(data.queries.name(q), max_words))
        .collect();
    let word_set: BTreeSet<&str> = query_words.iter().flatten().map(String::as_str).collect();
    let word_ids: HashMap<&str, u32> = word_set
        .iter()
        .enumerate()
        .map(|(i, w)| (*w, i as u32))
        .collect();
    let scenarios: BTreeSet<Scenario> = conds
        .iter()
        .map(|c| c.scenario)
        .filter(|s| *s != Scenario::Unknown)
        .collect();
    let actions: BTreeSet<Action> = conds.iter().map(|c| c.action).collect();

    let q_base = vb.add_kind(
        SubKind::QueryId,
        (0..n_queries as u32).map(|q| data.queries.name(q).to_string()),
    );
    let w_base = vb.add_kind(SubKind::QueryWord, word_set.iter());
    let s_base = vb.add_kind(SubKind::Scenario, scenarios.iter().map(|s| s.name()));
    let a_base = vb.add_kind(SubKind::Action, actions.iter().map(|a| a.name()));
    let s_id: HashMap<Scenario, u32> = scenarios
        .iter()
        .enumerate()
        .map(|(i, s)| (*s, s_base + i as u32))
        .collect();
    let a_id: HashMap<Action, u32> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, a_base + i as u32))
        .collect();

    let mut sub = SubTokens::new();
    let mut ids = Vec::new();
    for c in conds {
        ids.clear();
        if c.query != NONE {
            ids.push(q_base + c.query);
            for w in &query_words[c.query as usize] {
                if let Some(i) = word_ids.get(w.as_str()) {
                    ids.push(w_base + i);
                }
            }
        }
        if let Some(s) = s_id.get(&c.scenario) {
            ids.push(*s);
        }
        if let Some(a) = a_id.get(&c.action) {
            ids.push(*a);
        }
        sub.push(&ids);
    }
    sub
}
