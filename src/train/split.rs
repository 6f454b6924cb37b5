//! Leave-one-out split of each user's LUM sequence: the last behaviour is the
//! test target, the second last the validation target, and training sees only
//! what comes before the validation target.

use crate::data::Dataset;
use crate::tokenize::Tokenized;

/// A user's sequence (conditions and items, impressions left out) and its split points.
#[derive(Clone, Debug)]
pub struct UserSeq {
    pub user: u32,
    pub conds: Vec<u32>,
    pub items: Vec<u32>,
}

impl UserSeq {
    /// Behaviours the training split may read: all but the last two.
    pub fn train_len(&self) -> usize {
        self.items.len().saturating_sub(2)
    }
    /// Index of the target behaviour for `valid` (second last) or `test` (last).
    pub fn target_index(&self, split: EvalSplit) -> Option<usize> {
        let n = self.items.len();
        match split {
            EvalSplit::Valid if n >= 3 => Some(n - 2),
            EvalSplit::Test if n >= 3 => Some(n - 1),
            _ => None,
        }
    }
}

/// Which held-out behaviour to rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EvalSplit {
    Valid,
    Test,
}

impl EvalSplit {
    pub fn name(self) -> &'static str {
        match self {
            EvalSplit::Valid => "valid",
            EvalSplit::Test => "test",
        }
    }
}

/// All users' sequences. Users with fewer than 3 behaviours are kept for training
/// only if they have 2 (one input, one target) and never evaluated.
pub fn user_sequences(data: &Dataset, tok: &Tokenized) -> Vec<UserSeq> {
    (0..data.n_users() as u32)
        .map(|u| {
            let (conds, items) = tok.user_sequence(data, u);
            UserSeq { user: u, conds, items }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_last_and_second_last() {
        let s = UserSeq { user: 0, conds: vec![0; 5], items: vec![10, 11, 12, 13, 14] };
        assert_eq!(s.train_len(), 3);
        assert_eq!(s.target_index(EvalSplit::Valid), Some(3));
        assert_eq!(s.target_index(EvalSplit::Test), Some(4));
        let short = UserSeq { user: 0, conds: vec![0; 2], items: vec![1, 2] };
        assert_eq!(short.target_index(EvalSplit::Test), None);
    }
}
