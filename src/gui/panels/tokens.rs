//! The Tokens panel: pick an item tokenization strategy and run the engine's
//! tokenizer (a job, cached); its statistics (vocabulary per sub-token type,
//! codebook usage per level, dead codes, collisions); the semantic codebook
//! tree (searchable); and the selected user's sequence as condition / item
//! tokens with their sub-tokens. Clicking an item shows its path in the tree.

use std::sync::Arc;

use egui::{RichText, Ui, vec2};

use super::{Panel, PanelCx};
use crate::data::{Dataset, NONE};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::panels::train::strategy_help;
use crate::gui::theme::{self, GAP_L, GAP_M, GAP_S, Palette, ROW_HEIGHT, TokenKind};
use crate::gui::widgets::table::{self, Cell, Column};
use crate::gui::widgets::{self, chip, chip_fit, section};
use crate::gui::workspace::{PanelId, TokenizerRun, Workspace};
use crate::tokenize::hierarchy::{CodebookNode, TokenView, UserHierarchy};
use crate::tokenize::{ItemStrategy, TokenizerConfig};

/// Width of the right (user tokens) column.
const RIGHT_WIDTH: f32 = 480.0;
/// Most recent behaviours shown in a user's hierarchy.
const MAX_BEHAVIOURS_SHOWN: usize = 400;
/// Items listed under a last-level node of the tree.
const MAX_LEAF_ITEMS: usize = 12;
/// Height of one behaviour (condition line + item line) in the hierarchy.
const BEHAVIOUR_HEIGHT: f32 = 2.0 * ROW_HEIGHT + 6.0;
/// Room for a tree node's title before its count bar.
const NODE_TITLE_WIDTH: f32 = 96.0;
/// Width of a condition / item token chip at most.
const TOKEN_CHIP_WIDTH: f32 = 190.0;
/// Narrowest room worth another sub-token chip.
const MIN_SUB_CHIP_WIDTH: f32 = 44.0;
/// Width of a sub-token chip at most.
const SUB_CHIP_WIDTH: f32 = 110.0;
/// Strategies in picker order.
const STRATEGIES: [ItemStrategy; 3] = [
    ItemStrategy::Id,
    ItemStrategy::Semantic,
    ItemStrategy::Attributes,
];

/// A user's hierarchy, cached per (tokenizer run, user).
struct HierarchyCache {
    key: (usize, u32),
    hierarchy: UserHierarchy,
}

/// Roots of the tree matching the search box, cached per (tree, query).
struct SearchCache {
    key: (usize, String),
    roots: Vec<usize>,
}

/// UI state of the Tokens panel.
pub struct TokensPanel {
    config: TokenizerConfig,
    search: String,
    /// The item whose code path is highlighted in the tree, and whether the tree must open to it.
    focus: Option<(u32, bool)>,
    hierarchy: Option<HierarchyCache>,
    matches: Option<SearchCache>,
}

impl Default for TokensPanel {
    fn default() -> Self {
        TokensPanel {
            config: TokenizerConfig {
                strategy: ItemStrategy::Semantic,
                ..TokenizerConfig::default()
            },
            search: String::new(),
            focus: None,
            hierarchy: None,
            matches: None,
        }
    }
}

impl Panel for TokensPanel {
    fn id(&self) -> PanelId {
        PanelId::Tokens
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        if ws.data.is_none() {
            Some("no behaviour log loaded")
        } else {
            ws.tokens_for_data()
                .is_none()
                .then_some("no tokenizer run yet")
        }
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let run = cx.workspace.tokens_for_data().cloned();
        egui::Panel::left("tokens_settings").exact_size(theme::SIDE_COLUMN_WIDTH).resizable(false).show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt("tokens_settings_scroll").show(ui, |ui| {
                self.settings_ui(ui, cx);
                ui.add_space(GAP_L);
                section(ui, "Statistics");
                match &run {
                    Some(run) => stats_ui(ui, run),
                    None => widgets::empty_area(
                        ui,
                        110.0,
                        "After a run: vocabulary per sub-token type, codebook usage per level, dead codes, collision rate and the largest collision group.",
                    ),
                }
            });
        });
        egui::Panel::right("tokens_user")
            .exact_size(RIGHT_WIDTH)
            .resizable(false)
            .show(ui, |ui| match (&run, cx.workspace.dataset()) {
                (Some(run), Some(ds)) => self.user_hierarchy_ui(ui, cx.workspace, ds, run),
                _ => user_preview_ui(ui, cx.workspace),
            });
        egui::CentralPanel::default_margins().show(ui, |ui| match &run {
            Some(run) => self.tree_ui(ui, cx.workspace, run),
            None => {
                let has_data = cx.workspace.data.is_some();
                let (sentence, button) = if has_data {
                    ("The codebook tree (level-1 cluster → level-2 → level-3 → items, with member counts and example titles) appears after a tokenizer run.", "Run tokenizer")
                } else {
                    ("Tokenizing needs a behaviour log: load one in Data first.", "Open Data")
                };
                if widgets::empty_state(ui, "No tokenizer run yet", sentence, Some(button)) {
                    cx.push(if has_data { Command::RunTokenizer(self.config.clone()) } else { Command::ShowPanel(PanelId::Data) });
                }
            }
        });
    }
}

impl TokensPanel {
    fn settings_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let p = Palette::of(ui);
        let c = &mut self.config;
        ui.add_space(GAP_M);
        section(ui, "Item strategy");
        for st in STRATEGIES {
            ui.radio_value(&mut c.strategy, st, st.name())
                .on_hover_text(strategy_help(st));
        }
        ui.label(
            RichText::new(strategy_help(c.strategy))
                .color(p.text_weak)
                .size(theme::SMALL_SIZE),
        );
        ui.add_space(GAP_M);
        section(ui, "Settings");
        egui::Grid::new("tokenizer_settings").num_columns(2).spacing([GAP_M, 6.0]).show(ui, |ui| {
            if c.strategy == ItemStrategy::Semantic {
                for (i, level) in c.levels.iter_mut().enumerate() {
                    let label = ui.label(format!("level {} codes", i + 1));
                    ui.add(egui::DragValue::new(level).range(2..=4096))
                        .labelled_by(label.id)
                        .on_hover_text(format!("Number of k-means centroids at level {}; more codes, finer clusters.", i + 1));
                    ui.end_row();
                }
            }
            let label = ui.label("min item count");
            ui.add(egui::DragValue::new(&mut c.min_count).range(1..=1000))
                .labelled_by(label.id)
                .on_hover_text("Items seen fewer times than this share one rare-item token (id strategy).");
            ui.end_row();
            let label = ui.label("seed");
            ui.add(egui::DragValue::new(&mut c.seed))
                .labelled_by(label.id)
                .on_hover_text("Seed of the k-means initialisation; the same seed gives the same codes.");
            ui.end_row();
        });
        ui.add_space(GAP_M);
        let has_data = cx.workspace.data.is_some();
        let busy = cx.workspace.jobs.iter().any(|j| j.name == "tokenize");
        let run = ui
            .add_enabled(has_data && !busy, widgets::primary_button("Run tokenizer"))
            .on_hover_text("Tokenize the loaded log with these settings (a background job; cached per data and settings).")
            .on_disabled_hover_text(if busy { "The tokenizer is running." } else { "Load a behaviour log first (Data panel)." });
        if run.clicked() {
            cx.push(Command::RunTokenizer(c.clone()));
        }
        if let Some(job) = cx.workspace.jobs.iter().find(|j| j.name == "tokenize") {
            ui.add(
                egui::ProgressBar::new(job.progress)
                    .desired_height(12.0)
                    .text(job.message.clone()),
            );
        }
    }

    fn tree_ui(&mut self, ui: &mut Ui, ws: &Workspace, run: &TokenizerRun) {
        let p = Palette::of(ui);
        let s = &run.tokenized.stats;
        let Some(tree) = run.tree.clone() else {
            ui.label(
                RichText::new("Codebook tree")
                    .size(theme::HEADING_SIZE)
                    .color(p.text_strong),
            );
            ui.add_space(GAP_M);
            let what = match s.strategy {
                ItemStrategy::Id => "every item is one atomic token, so there is no tree",
                _ => {
                    "items are built from category, brand, price-bucket and title-word tokens, so there is no code tree"
                }
            };
            widgets::empty_area(
                ui,
                140.0,
                &format!(
                    "This run used the `{}` strategy: {what}. Run the `semantic` strategy to browse level-1 → level-2 → level-3 clusters.",
                    s.strategy.name()
                ),
            );
            return;
        };
        let tree_key = Arc::as_ptr(&tree) as usize;
        let levels: Vec<String> = tree.levels.iter().map(|l| l.to_string()).collect();
        ui.horizontal(|ui| {
            ui.label(
                RichText::new("Codebook tree")
                    .size(theme::HEADING_SIZE)
                    .color(p.text_strong),
            );
            widgets::badge(ui, &format!("{} codes", levels.join(" × ")));
            ui.label(
                RichText::new(format!(
                    "{} items coded · {} used level-1 clusters",
                    format::count(tree.items_coded as u64),
                    tree.roots.len()
                ))
                .color(p.text_weak),
            );
        });
        ui.horizontal(|ui| {
            widgets::text_field(
                ui,
                &mut self.search,
                "Search the tree",
                "search item titles",
                260.0,
                "Show only clusters holding an item whose title contains this text.",
            );
            if let Some((item, _)) = self.focus {
                let name = ws.dataset().map(|d| item_name(d, item)).unwrap_or_default();
                ui.label(RichText::new(format!("path of {name}")).color(p.accent));
                if ui
                    .small_button("Clear")
                    .on_hover_text("Stop highlighting this item's path")
                    .clicked()
                {
                    self.focus = None;
                }
            }
        });
        ui.add_space(GAP_S);
        let query = self.search.trim().to_lowercase();
        if self
            .matches
            .as_ref()
            .is_none_or(|m| m.key != (tree_key, query.clone()))
        {
            let roots = match ws.dataset() {
                Some(ds) if !query.is_empty() => (0..tree.roots.len())
                    .filter(|i| node_matches(&tree.roots[*i], ds, &query))
                    .collect(),
                _ => (0..tree.roots.len()).collect(),
            };
            self.matches = Some(SearchCache {
                key: (tree_key, query.clone()),
                roots,
            });
        }
        let roots: Vec<usize> = self
            .matches
            .as_ref()
            .map(|m| m.roots.clone())
            .unwrap_or_default();
        let path: Option<Vec<u32>> = self.focus.and_then(|(item, _)| {
            run.tokenized
                .semantic
                .as_ref()?
                .path(item)
                .map(<[u32]>::to_vec)
        });
        let open_now = self.focus.is_some_and(|(_, open)| open);
        let max_count = tree.roots.iter().map(|n| n.count).max().unwrap_or(1);
        if roots.is_empty() {
            ui.label(RichText::new("No cluster holds a matching title.").color(p.text_weak));
        }
        egui::ScrollArea::vertical()
            .id_salt("codebook_tree")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for i in roots {
                    node_ui(
                        ui,
                        ws.dataset(),
                        &tree.roots[i],
                        max_count,
                        path.as_deref(),
                        open_now,
                        p,
                    );
                }
            });
        if let Some(f) = self.focus.as_mut() {
            f.1 = false;
        }
    }

    fn user_hierarchy_ui(&mut self, ui: &mut Ui, ws: &Workspace, ds: &Dataset, run: &TokenizerRun) {
        let p = Palette::of(ui);
        ui.add_space(GAP_M);
        section(ui, "A user's tokens");
        let Some(u) = ws.selected_user.filter(|u| (*u as usize) < ds.n_users()) else {
            widgets::empty_area(
                ui,
                90.0,
                "Pick a user in Data to see their sequence as tokens.",
            );
            return;
        };
        let key = (Arc::as_ptr(&run.tokenized) as usize, u);
        if self.hierarchy.as_ref().is_none_or(|h| h.key != key) {
            let hierarchy = run
                .tokenized
                .user_hierarchy(ds, u, Some(MAX_BEHAVIOURS_SHOWN));
            self.hierarchy = Some(HierarchyCache { key, hierarchy });
        }
        let Some(cache) = &self.hierarchy else { return };
        let h = &cache.hierarchy;
        ui.horizontal(|ui| {
            ui.label(RichText::new(&h.user_name).monospace().color(p.text_strong));
            ui.label(
                RichText::new(format!(
                    "{} behaviours → {} tokens",
                    format::count(h.total_behaviours as u64),
                    format::count(2 * h.total_behaviours as u64)
                ))
                .color(p.text_weak),
            );
        });
        if h.behaviours.len() < h.total_behaviours {
            ui.label(
                RichText::new(format!("showing the last {}", h.behaviours.len()))
                    .size(theme::SMALL_SIZE)
                    .color(p.text_weak),
            );
        }
        ui.horizontal(|ui| {
            chip(ui, "C condition", p.token(TokenKind::Condition));
            chip(ui, "I item", p.token(TokenKind::Item));
            widgets::badge(ui, "sub-token");
        });
        ui.label(
            RichText::new("Each behaviour is a condition token then an item token; each token is pooled from its sub-tokens (hover one for its type). Click an item to see its path in the tree.")
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        ui.add_space(GAP_S);
        let mut clicked_item = None;
        let previous_spacing = ui.spacing().item_spacing.y;
        ui.spacing_mut().item_spacing.y = 0.0;
        egui::ScrollArea::vertical()
            .id_salt("user_hierarchy")
            .auto_shrink([false, false])
            .show_rows(ui, BEHAVIOUR_HEIGHT, h.behaviours.len(), |ui, range| {
                for i in range {
                    let b = &h.behaviours[i];
                    ui.allocate_ui(vec2(ui.available_width(), BEHAVIOUR_HEIGHT), |ui| {
                        ui.spacing_mut().item_spacing = vec2(4.0, 2.0);
                        ui.horizontal(|ui| {
                            ui.add_sized(
                                [30.0, ROW_HEIGHT],
                                egui::Label::new(
                                    RichText::new(format!("{}", i + 1))
                                        .size(theme::SMALL_SIZE)
                                        .color(p.text_weak),
                                ),
                            );
                            token_line_ui(ui, &b.condition, TokenKind::Condition, p);
                        });
                        ui.horizontal(|ui| {
                            ui.add_space(34.0);
                            if token_line_ui(ui, &b.item, TokenKind::Item, p) {
                                clicked_item = Some(b.item.id);
                            }
                        });
                        ui.add_space(4.0);
                    });
                }
            });
        ui.spacing_mut().item_spacing.y = previous_spacing;
        if let Some(item) = clicked_item {
            self.focus = Some((item, true));
        }
    }
}

/// One token chip and its sub-token chips; returns true when the token chip was clicked.
fn token_line_ui(ui: &mut Ui, token: &TokenView, kind: TokenKind, p: Palette) -> bool {
    let colour = p.token(kind);
    let letter = if kind == TokenKind::Condition {
        "C"
    } else {
        "I"
    };
    let text = if token.title.is_empty() {
        format!("{letter} {}", token.name)
    } else {
        format!("{letter} {}", token.title)
    };
    let response = chip_fit(
        ui,
        &text,
        colour,
        p.tint(colour),
        TOKEN_CHIP_WIDTH.min(ui.available_width()),
    );
    let response = if kind == TokenKind::Item {
        let path = token
            .semantic_path
            .as_ref()
            .map(|c| format!(" · path {c:?}"))
            .unwrap_or_default();
        response
            .interact(egui::Sense::click())
            .on_hover_text(format!(
                "item {} ({}){path}: click to show it in the tree",
                token.name, token.kind
            ))
    } else {
        response.on_hover_text(format!("condition from the {}: {}", token.kind, token.name))
    };
    // Sub-token chips fill the line; what does not fit is counted, never drawn past the panel.
    for (i, sub) in token.sub.iter().enumerate() {
        let room = ui.available_width();
        if room < MIN_SUB_CHIP_WIDTH {
            let rest = token.sub.len() - i;
            ui.label(
                RichText::new(format!("+{rest}"))
                    .size(theme::SMALL_SIZE)
                    .color(p.text_weak),
            )
            .on_hover_text(
                token.sub[i..]
                    .iter()
                    .map(|s| format!("{}: {}", s.kind_label, s.name))
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
            break;
        }
        chip_fit(
            ui,
            &sub.name,
            p.text_weak,
            p.tint(p.text_weak),
            SUB_CHIP_WIDTH.min(room - 20.0),
        )
        .on_hover_text(format!("{}: {}", sub.kind_label, sub.name));
    }
    response.clicked()
}

fn item_name(ds: &Dataset, item: u32) -> String {
    let title = ds.item_table.title(item);
    if title.is_empty() {
        ds.items.name(item).to_string()
    } else {
        title.to_string()
    }
}

/// Whether any item under `node` has a title (or id) containing `query` (lower-case).
fn node_matches(node: &CodebookNode, ds: &Dataset, query: &str) -> bool {
    node.items
        .iter()
        .any(|i| item_name(ds, *i).to_lowercase().contains(query))
        || node.children.iter().any(|c| node_matches(c, ds, query))
}

/// One node of the codebook tree (recursively), with its count bar and examples.
fn node_ui(
    ui: &mut Ui,
    ds: Option<&Dataset>,
    node: &CodebookNode,
    max_count: usize,
    path: Option<&[u32]>,
    open_now: bool,
    p: Palette,
) {
    let on_path = path.is_some_and(|p| p.get(node.level - 1) == Some(&node.code));
    let colour = if on_path { p.accent } else { p.text_strong };
    let title = RichText::new(format!("L{} · code {}", node.level, node.code))
        .color(colour)
        .strong();
    let mut header = egui::CollapsingHeader::new(title).id_salt((
        "node",
        node.level,
        node.code,
        node.count,
        node.examples.first(),
    ));
    if open_now && on_path {
        header = header.open(Some(true));
    }
    let response = header.show(ui, |ui| {
        let child_max = node.children.iter().map(|c| c.count).max().unwrap_or(1);
        let children_path = if on_path { path } else { None };
        for child in &node.children {
            node_ui(ui, ds, child, child_max, children_path, open_now, p);
        }
        if let Some(ds) = ds {
            for item in node.items.iter().take(MAX_LEAF_ITEMS) {
                ui.label(
                    RichText::new(format!("• {}", item_name(ds, *item)))
                        .color(p.token(TokenKind::Item)),
                );
            }
            if node.items.len() > MAX_LEAF_ITEMS {
                ui.label(
                    RichText::new(format!("… and {} more", node.items.len() - MAX_LEAF_ITEMS))
                        .color(p.text_weak),
                );
            }
        }
    });
    let rect = response.header_response.rect;
    // Bars start at one x per level so the counts line up down the tree.
    let x = (rect.left() + NODE_TITLE_WIDTH).max(rect.right()) + GAP_M;
    let mut ui_bar = ui.new_child(
        egui::UiBuilder::new()
            .max_rect(egui::Rect::from_min_size(
                egui::pos2(x, rect.top() + 6.0),
                vec2((ui.max_rect().right() - x).max(0.0), ROW_HEIGHT),
            ))
            .layout(egui::Layout::left_to_right(egui::Align::Center)),
    );
    widgets::thin_bar(
        &mut ui_bar,
        node.count as f32 / max_count.max(1) as f32,
        p.accent,
        80.0,
    );
    ui_bar.label(
        RichText::new(format!("{} items", format::count(node.count as u64)))
            .monospace()
            .size(theme::SMALL_SIZE),
    );
    ui_bar.add(
        egui::Label::new(
            RichText::new(node.examples.join(" · "))
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        )
        .truncate(),
    );
}

fn stats_ui(ui: &mut Ui, run: &TokenizerRun) {
    let p = Palette::of(ui);
    let s = &run.tokenized.stats;
    let how = if run.from_cache {
        "reopened from the cache".to_string()
    } else {
        format!("computed in {:.1} s", run.secs)
    };
    ui.label(RichText::new(format!("{} strategy · {how}", s.strategy.name())).color(p.text));
    widgets::key_value(
        ui,
        "vocabulary",
        RichText::new(format::count(s.vocab_size as u64))
            .monospace()
            .color(p.text_strong),
    );
    for k in s.vocab_by_kind.iter().filter(|k| k.kind != "pad") {
        widgets::key_value(
            ui,
            &format!("  {}", k.kind),
            RichText::new(format::count(k.size as u64)).monospace(),
        );
    }
    widgets::key_value(
        ui,
        "sub-tokens per item",
        RichText::new(format!(
            "{:.2} (max {})",
            s.mean_sub_tokens_per_item, s.max_sub_tokens_per_item
        ))
        .monospace(),
    );
    widgets::key_value(
        ui,
        "conditions",
        RichText::new(
            format!(
                "{} from {:?}",
                format::count(s.n_conditions as u64),
                s.condition_source
            )
            .to_lowercase(),
        )
        .monospace(),
    );
    if let Some(sem) = &s.semantic {
        ui.add_space(GAP_M);
        section(ui, "Codebook usage");
        for (i, l) in sem.levels.iter().enumerate() {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("level {}", i + 1)).color(p.text_weak));
                widgets::thin_bar(ui, l.used as f32 / l.size.max(1) as f32, p.accent, 90.0)
                    .on_hover_text(format!(
                        "{} of {} codes used; perplexity {:.1}",
                        l.used, l.size, l.perplexity
                    ));
                ui.label(RichText::new(format!("{}/{}", l.used, l.size)).monospace());
                let dead_colour = if l.dead > 0 { p.warning } else { p.text_weak };
                ui.label(
                    RichText::new(format!("{} dead", l.dead))
                        .size(theme::SMALL_SIZE)
                        .color(dead_colour),
                );
            });
        }
        widgets::key_value(
            ui,
            "collision rate",
            RichText::new(format!("{:.2}%", 100.0 * sem.collision_rate)).monospace(),
        );
        widgets::key_value(
            ui,
            "largest collision group",
            RichText::new(format::count(sem.largest_collision_group as u64)).monospace(),
        );
        widgets::key_value(
            ui,
            "item vectors",
            RichText::new(format!("{} (dim {})", sem.vector_source, sem.vector_dim))
                .size(theme::SMALL_SIZE),
        );
    }
    if let Some(id) = &s.id {
        widgets::key_value(
            ui,
            "items below min count",
            RichText::new(format::count(id.items_below_min_count as u64)).monospace(),
        );
    }
    if let Some(a) = &s.attributes {
        widgets::key_value(
            ui,
            "collision rate",
            RichText::new(format!("{:.2}%", 100.0 * a.collision_rate)).monospace(),
        );
        widgets::key_value(
            ui,
            "items with a category",
            RichText::new(format::count(a.items_with_category as u64)).monospace(),
        );
    }
    for n in &s.notes {
        ui.label(
            RichText::new(format!("· {n}"))
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
    }
}

/// The condition token a behaviour gets before any tokenizer run: the query if it has
/// one, else its scenario, else its action (a preview of the tokenizer's rule).
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

/// Before a tokenizer run: the selected user's behaviours as C / I tokens, without sub-tokens.
fn user_preview_ui(ui: &mut Ui, ws: &Workspace) {
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
    ui.label(
        RichText::new("Each behaviour is a condition token then an item token (c1 i1 c2 i2 …). Sub-tokens appear after a tokenizer run.")
            .color(p.text_weak)
            .size(theme::SMALL_SIZE),
    );
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
            vec![
                Cell::Text((i + 1).to_string()),
                Cell::Chip(
                    format!("C {}", condition_text(ds, r)),
                    p.token(TokenKind::Condition),
                ),
                Cell::Chip(
                    format!("I {}", item_name(ds, item)),
                    p.token(TokenKind::Item),
                ),
                Cell::Coloured("–".into(), p.text_weak),
            ]
        },
    );
}
