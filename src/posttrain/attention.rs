//! What a trained LUM attends to for one user: one forward pass over the user's
//! most recent behaviours (the model's window) with query conditions appended as a
//! group query, capturing every layer's and head's attention probabilities, plus a
//! label for every token. The Attention panel and `lumlab screenshot` draw it.

use std::fmt;

use candle_core::DType;

use crate::data::{Dataset, NONE};
use crate::model::Lum;
use crate::tokenize::Tokenized;

/// What a token position holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenRole {
    /// A behaviour's condition token (query, scenario, action).
    Condition,
    /// A behaviour's item token.
    Item,
    /// An appended query condition (group query).
    Query,
}

/// One token of the captured sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionToken {
    pub role: TokenRole,
    /// Short text for axes and bars (`red shoes · click`, an item title, `Q red shoes`).
    pub label: String,
    /// Longer text for tooltips (time, action, item id).
    pub detail: String,
    /// Index of the behaviour in the window (history tokens only).
    pub behaviour: Option<usize>,
}

/// A behaviour and the attention one token gives it (its condition plus its item).
#[derive(Clone, Debug, PartialEq)]
pub struct BehaviourWeight {
    /// Index of the behaviour in the window, oldest first.
    pub behaviour: usize,
    pub weight: f32,
    /// The item's label.
    pub item: String,
    /// The condition's label.
    pub condition: String,
}

/// Why attention could not be computed.
#[derive(Debug)]
pub enum AttentionError {
    NoUser(u32),
    /// A query text that is not a query of the log (the LUM has no condition for it).
    UnknownQuery(String),
    /// The user has no behaviours the LUM reads, and no query was appended.
    Empty(String),
    Model(candle_core::Error),
}

impl fmt::Display for AttentionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttentionError::NoUser(u) => write!(f, "user #{u} is not in the log"),
            AttentionError::UnknownQuery(q) => write!(f, "query \"{q}\" does not occur in the log, so the LUM has no condition token for it"),
            AttentionError::Empty(u) => write!(f, "user {u} has no behaviours the LUM reads; append a query to see what it attends to"),
            AttentionError::Model(e) => write!(f, "forward pass failed: {e}"),
        }
    }
}

impl std::error::Error for AttentionError {}

impl From<candle_core::Error> for AttentionError {
    fn from(e: candle_core::Error) -> Self {
        AttentionError::Model(e)
    }
}

/// Every layer's and head's attention over one user's sequence.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionMap {
    pub user: u32,
    pub user_name: String,
    pub n_layers: usize,
    pub n_heads: usize,
    /// Tokens: `2 * behaviours_shown` history tokens, then one per query.
    pub tokens: Vec<AttentionToken>,
    /// The user's behaviours the LUM reads (all of them).
    pub behaviours_total: usize,
    /// The most recent ones inside the model's window (what was run).
    pub behaviours_shown: usize,
    /// The appended query texts, in token order.
    pub queries: Vec<String>,
    /// `[layer][head][row][col]`, row-major; rows are probability distributions.
    probs: Vec<f32>,
}

impl AttentionMap {
    /// Assembles a map from its parts (`probs` is `[layer][head][row][col]`); None when
    /// the sizes disagree. The engine builds maps with [`attention_map`]; this is for
    /// fixed test data.
    pub fn from_parts(user: u32, user_name: String, n_layers: usize, n_heads: usize, tokens: Vec<AttentionToken>, behaviours_total: usize, queries: Vec<String>, probs: Vec<f32>) -> Option<Self> {
        let l = tokens.len();
        let n_query = tokens.iter().filter(|t| t.role == TokenRole::Query).count();
        let ok = probs.len() == n_layers * n_heads * l * l && n_query == queries.len() && (l - n_query).is_multiple_of(2);
        ok.then(|| AttentionMap { user, user_name, n_layers, n_heads, behaviours_shown: (l - n_query) / 2, tokens, behaviours_total, queries, probs })
    }

    /// Sequence length (tokens).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// History tokens (the ones before the appended queries).
    pub fn n_history(&self) -> usize {
        2 * self.behaviours_shown
    }

    /// One head's (L, L) matrix, row-major.
    pub fn head(&self, layer: usize, head: usize) -> &[f32] {
        let l = self.len();
        let at = (layer * self.n_heads + head) * l * l;
        self.probs.get(at..at + l * l).unwrap_or(&[])
    }

    /// Attention of token `row` to token `col` in one head (0 outside the map).
    pub fn weight(&self, layer: usize, head: usize, row: usize, col: usize) -> f32 {
        let l = self.len();
        if row >= l || col >= l {
            return 0.0;
        }
        self.head(layer, head).get(row * l + col).copied().unwrap_or(0.0)
    }

    /// Whether the mask forbids `row` from reading `col`: history is causal, an
    /// appended query sees the history and itself, not the other queries.
    pub fn is_masked(&self, row: usize, col: usize) -> bool {
        let h = self.n_history();
        if row < h { col > row } else { col >= h && col != row }
    }

    /// What query `q` (index into [`AttentionMap::queries`]) reads from each behaviour:
    /// its condition's plus its item's weight, averaged over heads (and over layers when
    /// `layer` is None), largest first; the query's weight on itself is left out.
    pub fn query_reads(&self, q: usize, layer: Option<usize>) -> Vec<BehaviourWeight> {
        let row = self.n_history() + q;
        if q >= self.queries.len() {
            return Vec::new();
        }
        let layers: Vec<usize> = match layer {
            Some(l) if l < self.n_layers => vec![l],
            Some(_) => return Vec::new(),
            None => (0..self.n_layers).collect(),
        };
        let scale = 1.0 / (layers.len() * self.n_heads).max(1) as f32;
        let mut out: Vec<BehaviourWeight> = (0..self.behaviours_shown)
            .map(|b| {
                let mut w = 0.0;
                for &l in &layers {
                    for h in 0..self.n_heads {
                        w += self.weight(l, h, row, 2 * b) + self.weight(l, h, row, 2 * b + 1);
                    }
                }
                BehaviourWeight { behaviour: b, weight: w * scale, item: self.tokens[2 * b + 1].label.clone(), condition: self.tokens[2 * b].label.clone() }
            })
            .collect();
        out.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.behaviour.cmp(&b.behaviour)));
        out
    }
}

/// The query ids of `texts` in `data` (exact text), or the first unknown one.
pub fn resolve_queries(data: &Dataset, texts: &[String]) -> Result<Vec<u32>, AttentionError> {
    texts.iter().map(|t| data.queries.get(t.trim()).ok_or_else(|| AttentionError::UnknownQuery(t.clone()))).collect()
}

/// Runs `lum` on user `user`'s most recent behaviours with `queries` (query ids)
/// appended as a group query, capturing every layer's attention.
pub fn attention_map(lum: &Lum, tok: &Tokenized, data: &Dataset, user: u32, queries: &[u32]) -> Result<AttentionMap, AttentionError> {
    if user as usize >= data.n_users() {
        return Err(AttentionError::NoUser(user));
    }
    let user_name = data.users.name(user).to_string();
    let mut rows = Vec::new();
    let (mut conds, mut items) = (Vec::new(), Vec::new());
    for r in data.user_range(user) {
        let c = tok.cond_of_row.get(r).copied().unwrap_or(NONE);
        if c != NONE {
            rows.push(r);
            conds.push(c);
            items.push(data.item[r]);
        }
    }
    let mut query_conds = Vec::with_capacity(queries.len());
    let mut query_texts = Vec::with_capacity(queries.len());
    for &q in queries {
        let text = data.queries.name(q).to_string();
        query_conds.push(tok.query_condition(q).ok_or_else(|| AttentionError::UnknownQuery(text.clone()))?);
        query_texts.push(text);
    }
    let keep = rows.len().min(lum.config().max_behaviors - 1);
    if keep == 0 && queries.is_empty() {
        return Err(AttentionError::Empty(user_name));
    }
    let skip = rows.len() - keep;
    let (_, attn) = lum.group_query_with_attention(&conds[skip..], &items[skip..], &query_conds)?;
    let mut tokens = Vec::with_capacity(2 * keep + queries.len());
    for (b, &r) in rows[skip..].iter().enumerate() {
        let when = crate::data::time::format_utc(data.time(r));
        let c = conds[skip + b];
        tokens.push(AttentionToken { role: TokenRole::Condition, label: tok.condition_name(data, c), detail: format!("behaviour {} of {} · {when}", skip + b + 1, rows.len()), behaviour: Some(b) });
        let item = data.item[r];
        let title = data.item_table.title(item);
        let label = if title.is_empty() { data.items.name(item).to_string() } else { title.to_string() };
        tokens.push(AttentionToken { role: TokenRole::Item, label, detail: format!("item {} · {when}", data.items.name(item)), behaviour: Some(b) });
    }
    for text in &query_texts {
        tokens.push(AttentionToken { role: TokenRole::Query, label: format!("Q {text}"), detail: "appended query condition (group query)".into(), behaviour: None });
    }
    let l = tokens.len();
    let (n_layers, n_heads) = (attn.len(), lum.config().n_heads);
    let mut probs = Vec::with_capacity(n_layers * n_heads * l * l);
    for layer in &attn {
        // (1, H, L, L) -> H*L*L values in head, row, column order.
        let v = layer.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if v.len() != n_heads * l * l {
            return Err(AttentionError::Model(candle_core::Error::Msg(format!("attention of {} values, expected {n_heads}×{l}×{l}", v.len()))));
        }
        probs.extend_from_slice(&v);
    }
    Ok(AttentionMap { user, user_name, n_layers, n_heads, tokens, behaviours_total: rows.len(), behaviours_shown: keep, queries: query_texts, probs })
}
