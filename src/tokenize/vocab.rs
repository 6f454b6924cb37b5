//! The shared sub-token vocabulary and the flat ragged lists of sub-token ids.
//!
//! Items and conditions draw sub-tokens from one id space so the model needs a
//! single embedding table; each kind (item id, level-2 code, title word, query
//! word, action, ...) owns one contiguous id range, and id 0 is padding.

use crate::data::intern::StrPool;
use serde::{Deserialize, Serialize};

/// Flat ragged lists: entry e's ids are `ids[offsets[e] as usize .. offsets[e+1] as usize]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubTokens {
    /// Length = entries + 1, starting at 0, non-decreasing.
    pub offsets: Vec<u32>,
    pub ids: Vec<u32>,
}

impl SubTokens {
    /// An empty list of entries.
    pub fn new() -> Self {
        Self {
            offsets: vec![0],
            ids: Vec::new(),
        }
    }

    /// Appends one entry.
    pub fn push(&mut self, ids: &[u32]) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.ids.extend_from_slice(ids);
        self.offsets.push(self.ids.len() as u32);
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sub-token ids of entry `e` (empty if out of range).
    pub fn get(&self, e: usize) -> &[u32] {
        match (self.offsets.get(e), self.offsets.get(e + 1)) {
            (Some(a), Some(b)) => self.ids.get(*a as usize..*b as usize).unwrap_or(&[]),
            _ => &[],
        }
    }

    /// The longest entry.
    pub fn max_len(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| (w[1] - w[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// Whether offsets are well formed, every entry is non-empty and every id is in `1..vocab_len`.
    pub fn is_valid(&self, vocab_len: usize) -> bool {
        self.offsets.first() == Some(&0)
            && self.offsets.last().map(|l| *l as usize) == Some(self.ids.len())
            && self.offsets.windows(2).all(|w| w[0] < w[1])
            && self
                .ids
                .iter()
                .all(|i| *i != 0 && (*i as usize) < vocab_len)
    }
}

/// What a sub-token stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubKind {
    /// Id 0, never a real token.
    Pad,
    /// One item (or `<unk>`, shared by rare items under the `id` strategy).
    ItemId,
    /// A semantic code at level `n` (1-based).
    Code(u8),
    /// The collision suffix that makes a semantic code path unique.
    Suffix,
    Category,
    Brand,
    PriceBucket,
    TitleWord,
    /// One query (the whole query string).
    QueryId,
    /// One word of a query.
    QueryWord,
    Scenario,
    Action,
}

impl SubKind {
    /// Label used in statistics and on screen: "item_id", "code_l2", ...
    pub fn label(self) -> String {
        match self {
            SubKind::Pad => "pad".into(),
            SubKind::ItemId => "item_id".into(),
            SubKind::Code(l) => format!("code_l{l}"),
            SubKind::Suffix => "suffix".into(),
            SubKind::Category => "category".into(),
            SubKind::Brand => "brand".into(),
            SubKind::PriceBucket => "price_bucket".into(),
            SubKind::TitleWord => "title_word".into(),
            SubKind::QueryId => "query_id".into(),
            SubKind::QueryWord => "query_word".into(),
            SubKind::Scenario => "scenario".into(),
            SubKind::Action => "action".into(),
        }
    }

    /// Stable byte code for the binary cache.
    pub(crate) fn to_code(self) -> u16 {
        match self {
            SubKind::Pad => 0,
            SubKind::ItemId => 1,
            SubKind::Code(l) => 0x100 | l as u16,
            SubKind::Suffix => 3,
            SubKind::Category => 4,
            SubKind::Brand => 5,
            SubKind::PriceBucket => 6,
            SubKind::TitleWord => 7,
            SubKind::QueryId => 8,
            SubKind::QueryWord => 9,
            SubKind::Scenario => 10,
            SubKind::Action => 11,
        }
    }

    pub(crate) fn from_code(c: u16) -> Option<SubKind> {
        Some(match c {
            0 => SubKind::Pad,
            1 => SubKind::ItemId,
            3 => SubKind::Suffix,
            4 => SubKind::Category,
            5 => SubKind::Brand,
            6 => SubKind::PriceBucket,
            7 => SubKind::TitleWord,
            8 => SubKind::QueryId,
            9 => SubKind::QueryWord,
            10 => SubKind::Scenario,
            11 => SubKind::Action,
            c if c & 0xFF00 == 0x100 => SubKind::Code((c & 0xFF) as u8),
            _ => return None,
        })
    }
}

/// Names and kinds of every sub-token id.
#[derive(Clone, Debug, PartialEq)]
pub struct SubVocab {
    /// Name of every id (id 0 = "<pad>").
    pub(crate) names: StrPool,
    /// (kind, start, end) id ranges in id order, covering `0..len`.
    pub(crate) ranges: Vec<(SubKind, u32, u32)>,
}

impl SubVocab {
    /// Number of ids including padding: the embedding table's row count.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when only padding exists.
    pub fn is_empty(&self) -> bool {
        self.len() <= 1
    }

    /// The string a sub-token stands for, e.g. "red" for a title word (empty if out of range).
    pub fn name(&self, id: u32) -> String {
        self.names.get(id as usize).unwrap_or("").to_string()
    }

    /// The kind of a sub-token id ([`SubKind::Pad`] for 0 and out-of-range ids).
    pub fn kind(&self, id: u32) -> SubKind {
        let i = self.ranges.partition_point(|(_, _, end)| *end <= id);
        match self.ranges.get(i) {
            Some((k, start, _)) if *start <= id => *k,
            _ => SubKind::Pad,
        }
    }

    /// The id range of a kind (empty if the kind is absent).
    pub fn range(&self, kind: SubKind) -> std::ops::Range<u32> {
        self.ranges
            .iter()
            .find(|(k, _, _)| *k == kind)
            .map(|(_, a, b)| *a..*b)
            .unwrap_or(0..0)
    }

    /// (kind, start, end) of every kind present, in id order.
    pub fn ranges(&self) -> &[(SubKind, u32, u32)] {
        &self.ranges
    }

    /// "kind:name" for display, e.g. "code_l2:17", "title_word:red".
    pub fn display(&self, id: u32) -> String {
        format!("{}:{}", self.kind(id).label(), self.name(id))
    }

    /// Whether names and ranges agree (cache validation).
    pub(crate) fn is_consistent(&self) -> bool {
        let mut expect = 0u32;
        for (_, a, b) in &self.ranges {
            if *a != expect || b < a {
                return false;
            }
            expect = *b;
        }
        expect as usize == self.names.len()
            && self.ranges.first().map(|r| r.0) == Some(SubKind::Pad)
    }
}

/// Builds a [`SubVocab`] kind by kind so each kind's ids are contiguous.
pub(crate) struct VocabBuilder {
    names: StrPool,
    ranges: Vec<(SubKind, u32, u32)>,
}

impl VocabBuilder {
    pub fn new() -> Self {
        let mut names = StrPool::new();
        names.push("<pad>");
        Self {
            names,
            ranges: vec![(SubKind::Pad, 0, 1)],
        }
    }

    /// Adds the names of one kind; returns the id of the first one (ids are consecutive).
    pub fn add_kind<S: AsRef<str>>(
        &mut self,
        kind: SubKind,
        names: impl IntoIterator<Item = S>,
    ) -> u32 {
        let start = self.names.len() as u32;
        for n in names {
            self.names.push(n.as_ref());
        }
        let end = self.names.len() as u32;
        if end > start {
            self.ranges.push((kind, start, end));
        }
        start
    }

    pub fn finish(self) -> SubVocab {
        SubVocab {
            names: self.names,
            ranges: self.ranges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_contiguous_ranges() {
        let mut b = VocabBuilder::new();
        let items = b.add_kind(SubKind::ItemId, ["<unk>", "a", "b"]);
        let empty = b.add_kind(SubKind::Brand, Vec::<String>::new());
        let words = b.add_kind(SubKind::TitleWord, ["red"]);
        let v = b.finish();
        assert_eq!((items, empty, words), (1, 4, 4));
        assert_eq!(v.len(), 5);
        assert_eq!(v.kind(0), SubKind::Pad);
        assert_eq!(v.kind(3), SubKind::ItemId);
        assert_eq!(v.kind(4), SubKind::TitleWord);
        assert_eq!(v.kind(99), SubKind::Pad);
        assert_eq!(v.name(4), "red");
        assert_eq!(v.range(SubKind::Brand), 0..0);
        assert!(v.is_consistent());
        for k in [SubKind::Code(3), SubKind::Action, SubKind::Pad] {
            assert_eq!(SubKind::from_code(k.to_code()), Some(k));
        }
    }

    #[test]
    fn sub_tokens_ragged_access() {
        let mut s = SubTokens::new();
        s.push(&[3, 4]);
        s.push(&[5]);
        assert_eq!(s.len(), 2);
        assert_eq!(s.get(0), &[3, 4]);
        assert_eq!(s.get(1), &[5]);
        assert_eq!(s.get(2), &[] as &[u32]);
        assert!(s.is_valid(6));
        assert!(!s.is_valid(5));
        assert_eq!(s.max_len(), 2);
    }
}
