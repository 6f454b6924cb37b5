//! Views of the token hierarchy for the GUI's Tokens panel and `--json` output:
//! a user's sequence → behaviour → condition / item token → sub-tokens, and the
//! semantic codebook tree (level-1 cluster → level-2 → … → items).

use super::vocab::SubKind;
use super::{TokenType, Tokenized};
use crate::data::{Action, Dataset, NONE};
use serde::Serialize;

/// One sub-token with the string it stands for.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SubTokenView {
    pub id: u32,
    pub kind: SubKind,
    /// e.g. "code_l2", "title_word".
    pub kind_label: String,
    /// e.g. "17", "red", "search".
    pub name: String,
}

/// A condition or item token with its sub-tokens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenView {
    pub token_type: TokenType,
    /// Condition id or item id.
    pub id: u32,
    /// Condition description, or the item's id string.
    pub name: String,
    /// Item title ("" for conditions and untitled items).
    pub title: String,
    /// Conditions: "query" | "scenario" | "action"; items: the strategy, or "id-only".
    pub kind: String,
    pub sub: Vec<SubTokenView>,
    /// Semantic items: [code_l1, …, code_lL, suffix].
    pub semantic_path: Option<Vec<u32>>,
}

/// One behaviour: its condition token then its item token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BehaviourTokens {
    pub row: u32,
    /// Unix seconds.
    pub time: i64,
    pub action: Action,
    pub condition: TokenView,
    pub item: TokenView,
}

/// A user's whole token hierarchy.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UserHierarchy {
    pub user: u32,
    pub user_name: String,
    /// LUM behaviours of the user (impressions excluded).
    pub total_behaviours: usize,
    /// The behaviours shown (the most recent ones when a limit was given), in time order.
    pub behaviours: Vec<BehaviourTokens>,
}

/// One node of the codebook tree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodebookNode {
    /// 1-based level.
    pub level: usize,
    pub code: u32,
    /// Items under this node.
    pub count: usize,
    /// Titles (or ids) of up to `examples` items under this node.
    pub examples: Vec<String>,
    /// Nodes of the next level, by code.
    pub children: Vec<CodebookNode>,
    /// Last level only: item ids, in suffix order.
    pub items: Vec<u32>,
}

/// The semantic codebook tree.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CodebookTree {
    pub levels: Vec<usize>,
    pub items_coded: usize,
    pub items_id_only: usize,
    /// Used level-1 codes, by code.
    pub roots: Vec<CodebookNode>,
}

fn item_label(data: &Dataset, i: u32) -> String {
    let t = data.item_table.title(i);
    if t.is_empty() {
        data.items.name(i).to_string()
    } else {
        t.to_string()
    }
}

impl Tokenized {
    fn sub_views(&self, ids: &[u32]) -> Vec<SubTokenView> {
        ids.iter()
            .map(|id| {
                let kind = self.vocab.kind(*id);
                SubTokenView {
                    id: *id,
                    kind,
                    kind_label: kind.label(),
                    name: self.vocab.name(*id),
                }
            })
            .collect()
    }

    /// The item token of item `i` with its sub-tokens.
    pub fn item_view(&self, data: &Dataset, i: u32) -> TokenView {
        let path = self.semantic.as_ref().and_then(|s| {
            let p = s.path(i)?;
            let mut v = p.to_vec();
            v.push(*s.suffix.get(i as usize)?);
            Some(v)
        });
        let ids = self.item_sub.get(i as usize);
        let id_only = ids.len() == 1 && self.vocab.kind(ids[0]) == SubKind::ItemId;
        let kind = if id_only && self.config.strategy != super::ItemStrategy::Id {
            "id-only".to_string()
        } else {
            self.config.strategy.name().to_string()
        };
        TokenView {
            token_type: TokenType::Item,
            id: i,
            name: data.items.name(i).to_string(),
            title: data.item_table.title(i).to_string(),
            kind,
            sub: self.sub_views(ids),
            semantic_path: path,
        }
    }

    /// The condition token `c` with its sub-tokens.
    pub fn condition_view(&self, data: &Dataset, c: u32) -> TokenView {
        TokenView {
            token_type: TokenType::Condition,
            id: c,
            name: self.condition_name(data, c),
            title: String::new(),
            kind: self
                .conditions
                .get(c as usize)
                .map(|k| k.kind.name().to_string())
                .unwrap_or_default(),
            sub: self.sub_views(self.cond_sub.get(c as usize)),
            semantic_path: None,
        }
    }

    /// User `u`'s token hierarchy; `last` keeps only the most recent behaviours.
    pub fn user_hierarchy(&self, data: &Dataset, u: u32, last: Option<usize>) -> UserHierarchy {
        let rows: Vec<usize> = if (u as usize) < data.n_users() {
            data.user_range(u)
                .filter(|r| {
                    self.cond_of_row
                        .get(*r)
                        .map(|c| *c != NONE)
                        .unwrap_or(false)
                })
                .collect()
        } else {
            Vec::new()
        };
        let skip = last.map(|l| rows.len().saturating_sub(l)).unwrap_or(0);
        let behaviours = rows[skip..]
            .iter()
            .map(|&r| BehaviourTokens {
                row: r as u32,
                time: data.time(r),
                action: data.action_at(r),
                condition: self.condition_view(data, self.cond_of_row[r]),
                item: self.item_view(data, data.item[r]),
            })
            .collect();
        UserHierarchy {
            user: u,
            user_name: data.users.name(u).to_string(),
            total_behaviours: rows.len(),
            behaviours,
        }
    }

    /// The codebook tree with up to `examples` example titles per node; None unless `semantic`.
    pub fn codebook_tree(&self, data: &Dataset, examples: usize) -> Option<CodebookTree> {
        let s = self.semantic.as_ref()?;
        let nl = s.levels.len();
        let mut coded: Vec<u32> = (0..data.n_items() as u32)
            .filter(|i| s.path(*i).is_some())
            .collect();
        coded.sort_by(|a, b| {
            s.path(*a)
                .cmp(&s.path(*b))
                .then(s.suffix[*a as usize].cmp(&s.suffix[*b as usize]))
        });
        let items_id_only = data.n_items() - coded.len();

        // Items sharing a prefix are contiguous after the sort: split runs level by level.
        fn build(
            items: &[u32],
            level: usize,
            nl: usize,
            s: &super::SemanticCodes,
            data: &Dataset,
            examples: usize,
        ) -> Vec<CodebookNode> {
            let mut out = Vec::new();
            let mut start = 0;
            while start < items.len() {
                let code = s.codes[items[start] as usize * nl + level];
                let mut end = start + 1;
                while end < items.len() && s.codes[items[end] as usize * nl + level] == code {
                    end += 1;
                }
                let run = &items[start..end];
                let last = level + 1 == nl;
                out.push(CodebookNode {
                    level: level + 1,
                    code,
                    count: run.len(),
                    examples: run
                        .iter()
                        .take(examples)
                        .map(|i| item_label(data, *i))
                        .collect(),
                    children: if last {
                        Vec::new()
                    } else {
                        build(run, level + 1, nl, s, data, examples)
                    },
                    items: if last { run.to_vec() } else { Vec::new() },
                });
                start = end;
            }
            out
        }
        let roots = build(&coded, 0, nl, s, data, examples);
        Some(CodebookTree {
            levels: s.levels.clone(),
            items_coded: coded.len(),
            items_id_only,
            roots,
        })
    }
}
