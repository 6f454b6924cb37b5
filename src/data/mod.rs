//! Behaviour logs: formats and presets, interning, the compact columnar
//! [`Dataset`], its binary cache, inspection statistics and the synthetic
//! search-advertising world.
//!
//! Everything downstream (tokenizers, models, metrics, GUI) reads a `Dataset`:
//! users are dense `u32` ids whose behaviours sit contiguously, sorted by time
//! with a stable sort, in parallel columns.

pub mod builder;
pub mod cache;
pub mod column;
pub mod error;
pub mod formats;
pub mod intern;
pub mod load;
pub mod parse;
pub mod sample;
pub mod stats;
pub mod taobao;
pub mod time;

pub use column::Column;
pub use error::DataError;
pub use formats::Format;
pub use intern::{Interner, StrPool};
pub use load::{LoadOptions, LoadReport, load};

use serde::{Deserialize, Serialize};

/// Marks a missing interned id (no query on this row, no brand for this item, ...).
pub const NONE: u32 = u32::MAX;

/// What the user did. Stored as one byte per behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Action {
    /// An ad (or item) was shown; `label` says whether it was clicked.
    Impression = 0,
    Click = 1,
    Cart = 2,
    Fav = 3,
    Buy = 4,
    /// A rating or any other interaction a preset cannot name more precisely.
    Other = 5,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Impression, Action::Click, Action::Cart, Action::Fav, Action::Buy, Action::Other];

    /// The lower-case name used in files and on screen.
    pub fn name(self) -> &'static str {
        match self {
            Action::Impression => "impression",
            Action::Click => "click",
            Action::Cart => "cart",
            Action::Fav => "fav",
            Action::Buy => "buy",
            Action::Other => "other",
        }
    }

    /// Parses the names used by the native format and the presets (Taobao's `pv`, ...).
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "impression" | "imp" | "show" | "expose" | "exposure" => Action::Impression,
            "click" | "clk" | "pv" | "view" => Action::Click,
            "cart" | "add_to_cart" | "addtocart" => Action::Cart,
            "fav" | "favorite" | "favourite" | "like" => Action::Fav,
            "buy" | "purchase" | "order" => Action::Buy,
            "other" | "rating" | "rate" => Action::Other,
            _ => return None,
        })
    }

    /// From the stored byte; unknown bytes read as `Other`.
    pub fn from_u8(b: u8) -> Action {
        Action::ALL.get(b as usize).copied().unwrap_or(Action::Other)
    }
}

/// Where a behaviour happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Scenario {
    Unknown = 0,
    Search = 1,
    Feed = 2,
}

impl Scenario {
    pub const ALL: [Scenario; 3] = [Scenario::Unknown, Scenario::Search, Scenario::Feed];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Unknown => "unknown",
            Scenario::Search => "search",
            Scenario::Feed => "feed",
        }
    }

    pub fn parse(s: &str) -> Option<Scenario> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "" | "unknown" => Scenario::Unknown,
            "search" => Scenario::Search,
            "feed" | "recommend" | "home" | "browse" => Scenario::Feed,
            _ => return None,
        })
    }

    pub fn from_u8(b: u8) -> Scenario {
        Scenario::ALL.get(b as usize).copied().unwrap_or(Scenario::Unknown)
    }
}

/// Item attributes, indexed by dense item id (same ids as `Dataset::items`).
/// Items never described by the items table have `described[i] == false`.
#[derive(Clone, Debug, Default)]
pub struct ItemTable {
    pub titles: StrPool,
    pub categories: Interner,
    pub brands: Interner,
    /// Category id per item, or [`NONE`].
    pub category: Vec<u32>,
    /// Brand id per item, or [`NONE`].
    pub brand: Vec<u32>,
    /// Price per item, NaN when unknown.
    pub price: Vec<f32>,
    /// Whether an items table (or the log itself, for presets) described the item.
    pub described: Vec<bool>,
}

/// Bitwise equality of float columns, so that NaN ("unknown") equals NaN.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

impl PartialEq for ItemTable {
    fn eq(&self, o: &Self) -> bool {
        self.titles == o.titles
            && self.categories == o.categories
            && self.brands == o.brands
            && self.category == o.category
            && self.brand == o.brand
            && same_bits(&self.price, &o.price)
            && self.described == o.described
    }
}

impl PartialEq for Dataset {
    fn eq(&self, o: &Self) -> bool {
        self.format == o.format
            && self.users == o.users
            && self.items == o.items
            && self.queries == o.queries
            && self.user_offsets == o.user_offsets
            && self.base_ts == o.base_ts
            && self.ts == o.ts
            && self.item == o.item
            && self.action == o.action
            && self.query == o.query
            && self.scenario == o.scenario
            && self.position == o.position
            && self.label == o.label
            && same_bits(&self.rating, &o.rating)
            && self.item_table == o.item_table
    }
}

impl ItemTable {
    /// Title of item `i` ("" when unknown).
    pub fn title(&self, i: u32) -> &str {
        self.titles.get(i as usize).unwrap_or("")
    }

    /// Category name of item `i`, if known.
    pub fn category_name(&self, i: u32) -> Option<&str> {
        self.category.get(i as usize).filter(|c| **c != NONE).map(|c| self.categories.name(*c))
    }

    /// Brand name of item `i`, if known.
    pub fn brand_name(&self, i: u32) -> Option<&str> {
        self.brand.get(i as usize).filter(|b| **b != NONE).map(|b| self.brands.name(*b))
    }
}

/// A loaded behaviour log in compact columnar form.
///
/// Behaviours of user `u` are rows `user_offsets[u]..user_offsets[u+1]`, sorted
/// by timestamp with a stable sort (ties keep file order). Optional columns are
/// empty columns when the source had no such column, so a Taobao log costs
/// 4 (time) + 4 (item) + 1 (action) bytes per behaviour.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    pub format: Format,
    pub users: Interner,
    pub items: Interner,
    pub queries: Interner,
    /// Length `users.len() + 1`.
    pub user_offsets: Column<u32>,
    /// Seconds since the Unix epoch of `ts == 0`; per-row times are offsets from it.
    pub base_ts: i64,
    /// Seconds since `base_ts` (millisecond inputs are floored to seconds after sorting).
    pub ts: Column<u32>,
    /// Dense item id per behaviour.
    pub item: Column<u32>,
    /// [`Action`] byte per behaviour.
    pub action: Column<u8>,
    /// Query id per behaviour or [`NONE`]; empty when the log has no query column.
    pub query: Column<u32>,
    /// [`Scenario`] byte per behaviour; empty when the log has no scenario column.
    pub scenario: Column<u8>,
    /// Ad position (1..=255, 0 = none); empty when absent.
    pub position: Column<u8>,
    /// 0/1 click label, -1 = none; empty when absent.
    pub label: Column<i8>,
    /// Rating value per behaviour (MovieLens); empty when absent.
    pub rating: Column<f32>,
    /// Item attributes, indexed by item id.
    pub item_table: ItemTable,
}

impl Dataset {
    pub fn n_users(&self) -> usize {
        self.users.len()
    }
    pub fn n_items(&self) -> usize {
        self.items.len()
    }
    pub fn n_behaviors(&self) -> usize {
        self.item.len()
    }
    /// Row range of user `u`'s behaviours (time order).
    pub fn user_range(&self, u: u32) -> std::ops::Range<usize> {
        self.user_offsets[u as usize] as usize..self.user_offsets[u as usize + 1] as usize
    }
    /// Number of behaviours of user `u`.
    pub fn seq_len(&self, u: u32) -> usize {
        self.user_range(u).len()
    }
    pub fn has_query(&self) -> bool {
        !self.query.is_empty()
    }
    pub fn has_scenario(&self) -> bool {
        !self.scenario.is_empty()
    }
    pub fn has_label(&self) -> bool {
        !self.label.is_empty()
    }
    pub fn has_position(&self) -> bool {
        !self.position.is_empty()
    }
    /// Absolute Unix time (seconds) of row `r`.
    pub fn time(&self, r: usize) -> i64 {
        self.base_ts + self.ts[r] as i64
    }
    pub fn action_at(&self, r: usize) -> Action {
        Action::from_u8(self.action[r])
    }
    /// Query id of row `r` or [`NONE`].
    pub fn query_at(&self, r: usize) -> u32 {
        self.query.get(r).copied().unwrap_or(NONE)
    }
    pub fn scenario_at(&self, r: usize) -> Scenario {
        self.scenario.get(r).map(|b| Scenario::from_u8(*b)).unwrap_or(Scenario::Unknown)
    }
    /// Ad position of row `r` (0 = none).
    pub fn position_at(&self, r: usize) -> u8 {
        self.position.get(r).copied().unwrap_or(0)
    }
    /// Click label of row `r`: Some(0|1) or None.
    pub fn label_at(&self, r: usize) -> Option<u8> {
        self.label.get(r).and_then(|l| (*l >= 0).then_some(*l as u8))
    }
    /// True when row `r` is an ad impression (a CTR sample), not a behaviour the user chose.
    pub fn is_impression(&self, r: usize) -> bool {
        self.action[r] == Action::Impression as u8
    }
    /// Bytes held by the per-behaviour columns and offsets (the memory figure of `bench load`).
    pub fn column_bytes(&self) -> usize {
        self.user_offsets.len() * 4
            + self.ts.len() * 4
            + self.item.len() * 4
            + self.action.len()
            + self.query.len() * 4
            + self.scenario.len()
            + self.position.len()
            + self.label.len()
            + self.rating.len() * 4
    }
}
