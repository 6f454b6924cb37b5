//! The Tokens panel: choose an item tokenization strategy and run it; its
//! statistics and codebook tree (after a tokenizer run); and the selected
//! user's sequence as condition and item tokens.

use egui::{RichText, Ui};

use super::{Panel, PanelCx};
use crate::data::{Dataset, NONE};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::theme::{self, GAP_L, GAP_M, Palette, TokenKind};
use crate::gui::widgets::table::{self, Cell, Column};
use crate::gui::widgets::{self, chip, section};
use crate::gui::workspace::{PanelId, Workspace};

/// Largest codebook size per level offered in the settings.
const MAX_CODES_PER_LEVEL: usize = 4096;
/// Width of the right (user tokens) column.
const RIGHT_WIDTH: f32 = 470.0;

/// How items become sub-tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemStrategy {
    /// One atomic id per item.
    Id,
    /// Hierarchical semantic ids from residual k-means over item vectors.
    Semantic,
    /// Category, brand, price bucket and title-word tokens.
    Attributes,
}

impl ItemStrategy {
    pub const ALL: [ItemStrategy; 3] = [
        ItemStrategy::Id,
        ItemStrategy::Semantic,
        ItemStrategy::Attributes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ItemStrategy::Id => "id",
            ItemStrategy::Semantic => "semantic",
            ItemStrategy::Attributes => "attributes",
        }
    }

    /// One sentence for the tooltip.
    pub fn help(self) -> &'static str {
        match self {
            ItemStrategy::Id => "One embedding row per item: exact, but rare items learn little.",
            ItemStrategy::Semantic => {
                "Residual k-means codes (level 1 → 2 → 3) over item content vectors: similar items share prefixes."
            }
            ItemStrategy::Attributes => {
                "Category, brand, price bucket and title words: new items get a usable embedding at once."
            }
        }
    }
}

/// Tokenizer settings the panel edits and `Command::RunTokenizer` carries.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerSettings {
    pub strategy: ItemStrategy,
    /// Codes per level of the semantic ids.
    pub levels: [usize; 3],
    /// Items seen fewer times share one "rare" token (id strategy).
    pub min_count: u32,
    pub seed: u64,
}

impl Default for TokenizerSettings {
    fn default() -> Self {
        TokenizerSettings {
            strategy: ItemStrategy::Semantic,
            levels: [64, 64, 64],
            min_count: 1,
            seed: 42,
        }
    }
}

/// UI state of the Tokens panel.
#[derive(Default)]
pub struct TokensPanel {
    settings: TokenizerSettings,
}

impl Panel for TokensPanel {
    fn id(&self) -> PanelId {
        PanelId::Tokens
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ws.data.is_none().then_some("no behaviour log loaded")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::Panel::left("tokens_settings")
            .exact_size(theme::SIDE_COLUMN_WIDTH)
            .resizable(false)
            .show(ui, |ui| {
                self.settings_ui(ui, cx);
            });
        egui::Panel::right("tokens_user")
            .exact_size(RIGHT_WIDTH)
            .resizable(false)
            .show(ui, |ui| {
                user_tokens_ui(ui, cx.workspace);
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            let has_data = cx.workspace.data.is_some();
            let (sentence, button) = if has_data {
                ("The codebook tree (level-1 cluster → level-2 → level-3 → items, with member counts and example titles) appears after a tokenizer run.", "Run tokenizer")
            } else {
                ("Tokenizing needs a behaviour log: load one in Data first.", "Open Data")
            };
            if widgets::empty_state(ui, "No tokenizer run yet", sentence, Some(button)) {
                cx.push(if has_data { Command::RunTokenizer(self.settings.clone()) } else { Command::ShowPanel(PanelId::Data) });
            }
        });
    }
}

impl TokensPanel {
    fn settings_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let p = Palette::of(ui);
        let s = &mut self.settings;
        ui.add_space(GAP_M);
        section(ui, "Item strategy");
        for st in ItemStrategy::ALL {
            ui.radio_value(&mut s.strategy, st, st.name())
                .on_hover_text(st.help());
        }
        ui.label(
            RichText::new(s.strategy.help())
                .color(p.text_weak)
                .size(theme::SMALL_SIZE),
        );
        ui.add_space(GAP_M);
        section(ui, "Settings");
        egui::Grid::new("tokenizer_settings").num_columns(2).spacing([GAP_M, 6.0]).show(ui, |ui| {
            if s.strategy == ItemStrategy::Semantic {
                for (i, level) in s.levels.iter_mut().enumerate() {
                    let label = ui.label(format!("level {} codes", i + 1));
                    ui.add(egui::DragValue::new(level).range(2..=MAX_CODES_PER_LEVEL))
                        .labelled_by(label.id)
                        .on_hover_text(format!("Number of k-means centroids at level {}; more codes, finer clusters.", i + 1));
                    ui.end_row();
                }
            }
            let label = ui.label("min item count");
            ui.add(egui::DragValue::new(&mut s.min_count).range(1..=1000))
                .labelled_by(label.id)
                .on_hover_text("Items seen fewer times than this share one rare-item token.");
            ui.end_row();
            let label = ui.label("seed");
            ui.add(egui::DragValue::new(&mut s.seed))
                .labelled_by(label.id)
                .on_hover_text("Seed of the k-means initialisation; the same seed gives the same codes.");
            ui.end_row();
        });
        ui.add_space(GAP_M);
        let has_data = cx.workspace.data.is_some();
        let run = ui
            .add_enabled(has_data, widgets::primary_button("Run tokenizer"))
            .on_hover_text("Tokenize the loaded log with these settings (a background job).")
            .on_disabled_hover_text("Load a behaviour log first (Data panel).");
        if run.clicked() {
            cx.push(Command::RunTokenizer(s.clone()));
        }
        ui.add_space(GAP_L);
        section(ui, "Statistics");
        widgets::empty_area(
            ui,
            110.0,
            "After a run: vocabulary per sub-token type, codebook usage per level, dead codes, collision rate and the largest collision group.",
        );
    }
}

/// The condition token a behaviour gets: the query if it has one, else its scenario, else its action.
/// This mirrors the tokenizer's rule for choosing the condition source per log.
pub fn condition_text(ds: &Dataset, r: usize) -> String {
    let q = ds.query_at(r);
    if q != NONE {
        format!("query: {}", ds.queries.name(q))
    } else if ds.has_scenario() {
        format!("scenario: {}", ds.scenario_at(r).name())
    } else {
        format!("action: {}", ds.action_at(r).name())
    }
}

const TOKEN_COLUMNS: [Column; 4] = [
    Column::number("#", 34.0),
    Column::text("condition token", 150.0),
    Column::text("item token", 170.0),
    Column::text("sub-tokens", 60.0),
];

fn user_tokens_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    ui.add_space(GAP_M);
    section(ui, "A user's tokens");
    let (Some(ds), Some(u)) = (ws.dataset(), ws.selected_user) else {
        widgets::empty_area(
            ui,
            90.0,
            "Load a log and pick a user in Data to see their sequence as tokens.",
        );
        return;
    };
    if u as usize >= ds.n_users() {
        return;
    }
    let rows: Vec<usize> = ds.user_range(u).filter(|r| !ds.is_impression(*r)).collect();
    ui.horizontal(|ui| {
        ui.label(
            RichText::new(ds.users.name(u))
                .monospace()
                .color(p.text_strong),
        );
        ui.label(
            RichText::new(format!(
                "{} behaviours → {} tokens",
                format::count(rows.len() as u64),
                format::count(2 * rows.len() as u64)
            ))
            .color(p.text_weak),
        );
    });
    ui.horizontal(|ui| {
        chip(ui, "C condition", p.token(TokenKind::Condition));
        chip(ui, "I item", p.token(TokenKind::Item));
        chip(ui, "Q appended query", p.token(TokenKind::Query));
    });
    ui.label(RichText::new("Each behaviour is a condition token then an item token (c1 i1 c2 i2 …). Sub-tokens appear after a tokenizer run.").color(p.text_weak).size(theme::SMALL_SIZE));
    ui.add_space(GAP_M);
    table::header(ui, &TOKEN_COLUMNS);
    let height = ui.available_height() - GAP_M;
    table::rows(
        ui,
        "user_tokens",
        &TOKEN_COLUMNS,
        rows.len(),
        height,
        None,
        |i| {
            let r = rows[i];
            let item = ds.item[r];
            let title = ds.item_table.title(item);
            let item_text = if title.is_empty() {
                ds.items.name(item).to_string()
            } else {
                title.to_string()
            };
            vec![
                Cell::Text((i + 1).to_string()),
                Cell::Chip(
                    format!("C {}", condition_text(ds, r)),
                    p.token(TokenKind::Condition),
                ),
                Cell::Chip(format!("I {item_text}"), p.token(TokenKind::Item)),
                Cell::Coloured("–".into(), p.text_weak),
            ]
        },
    );
}
