//! The Attention panel: for a trained run, a user and appended query
//! conditions, the layer × head grid of heatmaps, one head large (zoom and pan,
//! hover for tokens and weight, the group-query mask drawn) and what an appended
//! query attends to, as a bar list of behaviours. Attention comes only from a real
//! forward pass of a checkpoint, computed as a job; without one the panel says so.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Color32, RichText, Sense, TextureHandle, Ui, vec2};

use super::{Panel, PanelCx};
use crate::data::NONE;
use crate::gui::command::Command;
use crate::gui::theme::{self, GAP_M, GAP_S, Palette, TokenKind};
use crate::gui::widgets::heatmap::{self, ZoomView};
use crate::gui::widgets::{self, chip, section};
use crate::gui::workspace::{PanelId, Workspace};
use crate::posttrain::attention::{AttentionMap, TokenRole};

/// Pixels a side of a grid thumbnail at most (larger maps are max-pooled).
const THUMB_PX: usize = 96;
/// Largest side of a grid cell on screen.
const THUMB_MAX_SIDE: f32 = 150.0;
/// Queries of the user offered as one-click suggestions.
const SUGGESTIONS: usize = 5;
/// Width of the token-role strips along the large view.
const STRIP: f32 = 6.0;
/// Widest the bar list column gets.
const READS_WIDTH: f32 = 360.0;

/// Textures of the map on screen, rebuilt when the map, the theme or the head changes.
struct Textures {
    key: usize,
    dark: bool,
    grid: Vec<TextureHandle>,
    block: usize,
    large: TextureHandle,
    large_head: (usize, usize),
}

/// UI state of the Attention panel.
#[derive(Default)]
pub struct AttentionPanel {
    run: Option<PathBuf>,
    new_query: String,
    queries: Vec<String>,
    /// The head shown large (layer, head).
    selected: (usize, usize),
    /// The appended query whose reads are listed.
    query: usize,
    /// Layer of the bar list (None = mean over layers).
    reads_layer: Option<usize>,
    view: ZoomView,
    textures: Option<Textures>,
    /// (user, queries) the suggestions were computed for.
    suggestions: Option<(u32, Vec<String>)>,
}

impl Panel for AttentionPanel {
    fn id(&self) -> PanelId {
        PanelId::Attention
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        (lum_runs(ws).next().is_none()).then_some("no trained LUM yet")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::CentralPanel::default_margins().show(ui, |ui| self.body_ui(ui, cx));
    }
}

/// Pre-training runs with a checkpoint (the ones attention can be read from).
fn lum_runs(ws: &Workspace) -> impl Iterator<Item = &crate::gui::runs::RunInfo> {
    ws.trained_runs().filter(|r| r.summary.kind.starts_with("pretrain") && r.config_value("model") != Some("sasrec"))
}

/// The user's most recent distinct search queries, newest first.
fn recent_queries(ws: &Workspace, user: u32, n: usize) -> Vec<String> {
    let Some(ds) = ws.dataset() else { return Vec::new() };
    if user as usize >= ds.n_users() || !ds.has_query() {
        return Vec::new();
    }
    let mut out: Vec<String> = Vec::new();
    for r in ds.user_range(user).rev() {
        let q = ds.query_at(r);
        if q != NONE {
            let text = ds.queries.name(q);
            if !text.is_empty() && !out.iter().any(|o| o == text) {
                out.push(text.to_string());
                if out.len() == n {
                    break;
                }
            }
        }
    }
    out
}

impl AttentionPanel {
    fn body_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        let runs: Vec<_> = lum_runs(ws).collect();
        if self.run.as_ref().is_none_or(|r| !runs.iter().any(|x| &x.path == r)) {
            self.run = ws
                .latest_lum_run()
                .filter(|r| r.has_checkpoint)
                .or(runs.first().copied())
                .map(|r| r.path.clone());
        }
        ui.add_space(GAP_M);
        self.controls_ui(ui, cx, &runs);
        if runs.is_empty() && ws.attention.is_none() {
            ui.separator();
            if widgets::empty_state(
                ui,
                "No trained LUM yet",
                "Attention comes from a real forward pass of a trained checkpoint. Train a LUM first: open Train.",
                Some("Open Train"),
            ) {
                cx.push(Command::ShowPanel(PanelId::Train));
            }
            return;
        }
        if let Some(err) = &ws.attention_error {
            ui.label(RichText::new(format!("× {err}")).color(p.error));
        }
        let Some(view) = &ws.attention else {
            ui.separator();
            let busy = ws.jobs.iter().any(|j| j.name == "attention");
            let sentence = if busy {
                "Computing: opening the checkpoint and running the user's sequence through it…"
            } else {
                "Pick a user in Data, append one or more of their queries, then press Compute: one heatmap per layer and head, one head large, and what each appended query reads from the history."
            };
            widgets::empty_area(ui, 320.0, sentence);
            return;
        };
        let map = view.map.clone();
        self.info_line(ui, &map, view.run.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
        ui.separator();
        self.ensure_textures(ui, &map);
        let avail = ui.available_size();
        let height = (avail.y - GAP_M).max(200.0);
        let reads_w = (avail.x * 0.25).clamp(220.0, READS_WIDTH);
        let grid_w = ((avail.x - reads_w) * 0.36).max(180.0);
        let large_w = (avail.x - reads_w - grid_w - 3.0 * GAP_M).max(200.0);
        let column = egui::Layout::top_down(egui::Align::Min);
        ui.horizontal_top(|ui| {
            ui.allocate_ui_with_layout(vec2(grid_w, height), column, |ui| {
                ui.set_width(grid_w);
                self.grid_ui(ui, &map)
            });
            ui.add_space(GAP_M);
            ui.allocate_ui_with_layout(vec2(large_w, height), column, |ui| {
                ui.set_width(large_w);
                self.large_ui(ui, &map)
            });
            ui.add_space(GAP_M);
            ui.allocate_ui_with_layout(vec2(reads_w, height), column, |ui| {
                ui.set_width(reads_w);
                self.reads_ui(ui, &map)
            });
        });
    }

    fn controls_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>, runs: &[&crate::gui::runs::RunInfo]) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        ui.horizontal_wrapped(|ui| {
            let label = ui.label("Run");
            let selected = self
                .run
                .as_ref()
                .and_then(|r| runs.iter().find(|x| &x.path == r))
                .map(|r| r.name.clone())
                .unwrap_or_else(|| "no trained run".into());
            ui.add_enabled_ui(!runs.is_empty(), |ui| {
                egui::ComboBox::from_id_salt("attention_run")
                    .selected_text(selected)
                    .width(200.0)
                    .show_ui(ui, |ui| {
                        for r in runs {
                            ui.selectable_value(&mut self.run, Some(r.path.clone()), r.name.as_str());
                        }
                    })
                    .response
                    .labelled_by(label.id)
                    .on_hover_text("The LUM checkpoint whose attention is computed.");
            });
            ui.add_space(GAP_M);
            ui.label("User");
            match (ws.dataset(), ws.selected_user) {
                (Some(ds), Some(u)) if (u as usize) < ds.n_users() => {
                    ui.label(RichText::new(ds.users.name(u)).monospace().color(p.text_strong))
                        .on_hover_text("Pick another user in the Data panel.");
                }
                _ => {
                    ui.label(RichText::new("none (pick one in Data)").color(p.text_weak));
                }
            }
            ui.add_space(GAP_M);
            ui.label("Appended queries");
            let mut remove = None;
            for (i, q) in self.queries.iter().enumerate() {
                if chip(ui, &format!("Q {q}  ×"), p.token(TokenKind::Query))
                    .on_hover_text("Click to remove")
                    .interact(Sense::click())
                    .clicked()
                {
                    remove = Some(i);
                }
            }
            if let Some(i) = remove {
                self.queries.remove(i);
            }
            let field = widgets::text_field(
                ui,
                &mut self.new_query,
                "Add query",
                "add a query",
                140.0,
                "A search query of the log, appended as a condition token after the history (group query: each query sees the history and itself, not the other queries).",
            );
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add").on_hover_text("Append this query").clicked() || enter) && !self.new_query.trim().is_empty() {
                let q = self.new_query.trim().to_string();
                if !self.queries.contains(&q) {
                    self.queries.push(q);
                }
                self.new_query.clear();
            }
            let can = self.run.is_some() && ws.selected_user.is_some() && ws.data.is_some();
            let compute = ui
                .add_enabled(can, widgets::primary_button("Compute"))
                .on_hover_text("Run the checkpoint on this user's most recent behaviours with the queries appended, capturing every layer's attention (a background job).")
                .on_disabled_hover_text("Needs a trained LUM run, loaded data and a user (Data panel).");
            if compute.clicked()
                && let (Some(run), Some(u)) = (self.run.clone(), ws.selected_user)
            {
                cx.push(Command::ComputeAttention { run, user: u, queries: self.queries.clone() });
            }
        });
        // One-click suggestions: this user's own recent searches.
        if let Some(u) = ws.selected_user {
            if self.suggestions.as_ref().is_none_or(|(su, _)| *su != u) {
                self.suggestions = Some((u, recent_queries(ws, u, SUGGESTIONS)));
            }
            let list = self.suggestions.as_ref().map(|(_, l)| l.clone()).unwrap_or_default();
            let fresh: Vec<&String> = list.iter().filter(|q| !self.queries.contains(q)).collect();
            if !fresh.is_empty() {
                ui.horizontal_wrapped(|ui| {
                    ui.label(RichText::new("This user's recent searches:").size(theme::SMALL_SIZE).color(p.text_weak));
                    for q in fresh {
                        if ui.small_button(format!("+ {q}")).on_hover_text("Append this query").clicked() {
                            self.queries.push(q.clone());
                        }
                    }
                });
            }
        }
    }

    fn info_line(&self, ui: &mut Ui, map: &AttentionMap, run: String) {
        let p = Palette::of(ui);
        let window = if map.behaviours_shown < map.behaviours_total {
            format!(
                "the {} most recent of {} behaviours (the model's window; older ones are not read)",
                map.behaviours_shown, map.behaviours_total
            )
        } else {
            format!("all {} behaviours", map.behaviours_total)
        };
        let queries = match map.queries.len() {
            0 => "no query appended".to_string(),
            1 => "1 query appended".to_string(),
            n => format!("{n} queries appended (group query)"),
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("User {}", map.user_name)).strong().color(p.text_strong));
            ui.label(RichText::new(format!(
                "· {window} · {queries} · {} layers × {} heads · {} tokens · run {run}",
                map.n_layers,
                map.n_heads,
                map.len()
            ))
            .color(p.text_weak));
        });
    }

    fn ensure_textures(&mut self, ui: &Ui, map: &Arc<AttentionMap>) {
        let key = Arc::as_ptr(map) as usize;
        let dark = ui.visuals().dark_mode;
        let (layers, heads) = (map.n_layers, map.n_heads);
        if self.selected.0 >= layers || self.selected.1 >= heads {
            self.selected = (0, 0);
        }
        let masked_colour = masked_colour(dark);
        let n = map.len();
        let masked = |r: usize, c: usize| map.is_masked(r, c);
        let stale = self.textures.as_ref().is_none_or(|t| t.key != key || t.dark != dark);
        if stale {
            self.query = 0;
            if self.queries.is_empty() {
                self.queries = map.queries.clone();
            }
            self.view = ZoomView::default();
            let mut grid = Vec::with_capacity(layers * heads);
            let mut block = 1;
            for l in 0..layers {
                for h in 0..heads {
                    let (img, b) = heatmap::heat_image(map.head(l, h), n, &masked, masked_colour, THUMB_PX);
                    block = b;
                    grid.push(heatmap::texture(ui, &format!("attn-thumb-{l}-{h}"), img));
                }
            }
            let (img, _) = heatmap::heat_image(map.head(self.selected.0, self.selected.1), n, &masked, masked_colour, n);
            let large = heatmap::texture(ui, "attn-large", img);
            self.textures = Some(Textures { key, dark, grid, block, large, large_head: self.selected });
        } else if let Some(t) = &mut self.textures
            && t.large_head != self.selected
        {
            let (img, _) = heatmap::heat_image(map.head(self.selected.0, self.selected.1), n, &masked, masked_colour, n);
            t.large = heatmap::texture(ui, "attn-large", img);
            t.large_head = self.selected;
        }
    }

    fn grid_ui(&mut self, ui: &mut Ui, map: &AttentionMap) {
        let p = Palette::of(ui);
        section(ui, "Layer × head");
        let Some(t) = &self.textures else { return };
        let (layers, heads) = (map.n_layers, map.n_heads);
        let label_h = 22.0;
        let side = ((ui.available_width() - GAP_S * heads as f32) / heads as f32)
            .min((ui.available_height() - 60.0) / layers as f32 - label_h)
            .clamp(24.0, THUMB_MAX_SIDE);
        let mut clicked = None;
        egui::Grid::new("attention_grid").spacing(vec2(GAP_S, GAP_S)).show(ui, |ui| {
            for l in 0..layers {
                for h in 0..heads {
                    ui.vertical(|ui| {
                        let selected = self.selected == (l, h);
                        if ui.selectable_label(selected, format!("L{} H{}", l + 1, h + 1)).on_hover_text("Show this head large").clicked() {
                            clicked = Some((l, h));
                        }
                        let (rect, resp) = ui.allocate_exact_size(vec2(side, side), Sense::click());
                        ui.painter().image(t.grid[l * heads + h].id(), rect, egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), Color32::WHITE);
                        if selected {
                            ui.painter().rect_stroke(rect.expand(1.5), 2, egui::Stroke::new(2.0, p.accent), egui::StrokeKind::Outside);
                        }
                        if resp.on_hover_text(format!("layer {} · head {}: click to show large", l + 1, h + 1)).clicked() {
                            clicked = Some((l, h));
                        }
                    });
                }
                ui.end_row();
            }
        });
        if let Some(sel) = clicked {
            self.selected = sel;
        }
        ui.add_space(GAP_M);
        let pooled = if t.block > 1 {
            format!("Thumbnails max-pool {}×{} cells per pixel ({} tokens); the large view shows every cell.", t.block, t.block, map.len())
        } else {
            "Every cell shown.".to_string()
        };
        ui.label(RichText::new(pooled).size(theme::SMALL_SIZE).color(p.text_weak));
        legend_ui(ui, p);
    }

    fn large_ui(&mut self, ui: &mut Ui, map: &AttentionMap) {
        let p = Palette::of(ui);
        let (l, h) = self.selected;
        ui.horizontal(|ui| {
            section(ui, &format!("Layer {} · head {}", l + 1, h + 1));
            if !self.view.is_reset() && ui.small_button("Reset zoom").clicked() {
                self.view = ZoomView::default();
            }
        });
        ui.label(RichText::new("rows attend to columns · wheel: zoom · drag: pan · double-click: reset").size(theme::SMALL_SIZE).color(p.text_weak));
        let Some(t) = &self.textures else { return };
        let n = map.len();
        let side = (ui.available_width().min(ui.available_height() - 40.0) - STRIP - GAP_S).max(120.0);
        ui.add_space(STRIP + GAP_S);
        ui.horizontal(|ui| {
            ui.add_space(STRIP + GAP_S);
            let (resp, rect, cell) = heatmap::zoomable_matrix(ui, &t.large, n, side, &mut self.view);
            // Token roles along both axes, following the zoom.
            let painter = ui.painter().with_clip_rect(rect.expand2(vec2(STRIP + GAP_S, STRIP + GAP_S)));
            let first = (self.view.uv.min.x * n as f32).floor() as usize;
            let last = ((self.view.uv.max.x * n as f32).ceil() as usize).min(n);
            let first_y = (self.view.uv.min.y * n as f32).floor() as usize;
            let last_y = ((self.view.uv.max.y * n as f32).ceil() as usize).min(n);
            for i in first..last {
                let x0 = self.view.cell_edge(rect, i, n, false).max(rect.left());
                let x1 = self.view.cell_edge(rect, i + 1, n, false).min(rect.right());
                painter.rect_filled(egui::Rect::from_min_max(egui::pos2(x0, rect.top() - STRIP - GAP_S), egui::pos2(x1, rect.top() - GAP_S)), 0, role_colour(p, map.tokens[i].role));
            }
            for i in first_y..last_y {
                let y0 = self.view.cell_edge(rect, i, n, true).max(rect.top());
                let y1 = self.view.cell_edge(rect, i + 1, n, true).min(rect.bottom());
                painter.rect_filled(egui::Rect::from_min_max(egui::pos2(rect.left() - STRIP - GAP_S, y0), egui::pos2(rect.left() - GAP_S, y1)), 0, role_colour(p, map.tokens[i].role));
            }
            // The group-query block: queries see the history and themselves only.
            let hist = map.n_history();
            if map.queries.len() > 1 {
                let x = self.view.cell_edge(rect, hist, n, false);
                let y = self.view.cell_edge(rect, hist, n, true);
                if x < rect.right() && y < rect.bottom() {
                    let block = egui::Rect::from_min_max(egui::pos2(x.max(rect.left()), y.max(rect.top())), rect.max);
                    ui.painter().with_clip_rect(rect).rect_stroke(block, 0, egui::Stroke::new(1.5, p.token(TokenKind::Query)), egui::StrokeKind::Inside);
                }
            }
            if let Some((r, c)) = cell {
                let w = map.weight(l, h, r, c);
                let masked = map.is_masked(r, c);
                resp.on_hover_ui_at_pointer(|ui| {
                    token_line(ui, p, "row", &map.tokens[r], r);
                    token_line(ui, p, "reads", &map.tokens[c], c);
                    if masked {
                        ui.label(RichText::new(if r >= hist { "masked: a query sees the history and itself, not the other queries" } else { "masked: causal, the future is not visible" }).color(p.text_weak));
                    } else {
                        ui.label(RichText::new(format!("weight {w:.4} ({:.1} % of the row)", 100.0 * w)).strong());
                    }
                });
            }
        });
    }

    fn reads_ui(&mut self, ui: &mut Ui, map: &AttentionMap) {
        let p = Palette::of(ui);
        section(ui, "What the query attends to");
        if map.queries.is_empty() {
            ui.label(RichText::new("Append a query and press Compute: its attention over the history appears here as a sorted bar list.").color(p.text_weak));
            return;
        }
        if self.query >= map.queries.len() {
            self.query = 0;
        }
        ui.horizontal_wrapped(|ui| {
            for (i, q) in map.queries.iter().enumerate() {
                if ui.selectable_label(self.query == i, format!("Q {q}")).on_hover_text("List what this query reads").clicked() {
                    self.query = i;
                }
            }
        });
        let layer_text = |l: Option<usize>| l.map_or("mean of all layers".to_string(), |l| format!("layer {}", l + 1));
        egui::ComboBox::from_id_salt("attention_reads_layer")
            .selected_text(layer_text(self.reads_layer))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.reads_layer, None, layer_text(None));
                for l in 0..map.n_layers {
                    ui.selectable_value(&mut self.reads_layer, Some(l), layer_text(Some(l)));
                }
            })
            .response
            .on_hover_text("Attention averaged over heads; each behaviour counts its condition and item tokens.");
        let reads = map.query_reads(self.query, self.reads_layer);
        let top = reads.first().map_or(1.0, |r| r.weight).max(1e-9);
        let history_share: f32 = reads.iter().map(|r| r.weight).sum();
        ui.label(RichText::new(format!("{:.1} % on the history, {:.1} % on itself", 100.0 * history_share, 100.0 * (1.0 - history_share).max(0.0))).size(theme::SMALL_SIZE).color(p.text_weak));
        ui.add_space(GAP_S);
        let row_h = 34.0;
        egui::ScrollArea::vertical().id_salt("attention_reads").auto_shrink([false, false]).show_rows(ui, row_h, reads.len(), |ui, range| {
            for r in &reads[range] {
                ui.allocate_ui(vec2(ui.available_width(), row_h), |ui| {
                    ui.vertical(|ui| {
                        ui.horizontal(|ui| {
                            ui.label(RichText::new(format!("{:>5.1} %", 100.0 * r.weight)).monospace().color(p.text_strong));
                            widgets::thin_bar(ui, r.weight / top, p.token(TokenKind::Query), (ui.available_width() - GAP_M).max(40.0));
                        });
                        let age = map.behaviours_shown - r.behaviour;
                        ui.label(RichText::new(format!("{} · {} · {} back", r.item, r.condition, age)).size(theme::SMALL_SIZE).color(p.text))
                            .on_hover_text(map.tokens[2 * r.behaviour + 1].detail.clone());
                    });
                });
            }
        });
    }
}

fn masked_colour(dark: bool) -> Color32 {
    if dark { Color32::from_rgb(0x2a, 0x2f, 0x38) } else { Color32::from_rgb(0xd9, 0xdd, 0xe4) }
}

fn role_colour(p: Palette, role: TokenRole) -> Color32 {
    p.token(match role {
        TokenRole::Condition => TokenKind::Condition,
        TokenRole::Item => TokenKind::Item,
        TokenRole::Query => TokenKind::Query,
    })
}

fn token_line(ui: &mut Ui, p: Palette, what: &str, t: &crate::posttrain::attention::AttentionToken, i: usize) {
    let role = match t.role {
        TokenRole::Condition => "condition",
        TokenRole::Item => "item",
        TokenRole::Query => "query",
    };
    ui.horizontal(|ui| {
        ui.label(RichText::new(format!("{what} #{i}")).color(p.text_weak));
        chip(ui, role, role_colour(p, t.role));
        ui.label(RichText::new(&t.label).color(p.text_strong));
    });
    ui.label(RichText::new(&t.detail).size(theme::SMALL_SIZE).color(p.text_weak));
}

fn legend_ui(ui: &mut Ui, p: Palette) {
    ui.add_space(GAP_S);
    ui.horizontal_wrapped(|ui| {
        let (rect, _) = ui.allocate_exact_size(vec2(120.0, 10.0), Sense::hover());
        let steps = 24;
        for i in 0..steps {
            let x0 = rect.left() + rect.width() * i as f32 / steps as f32;
            let x1 = rect.left() + rect.width() * (i + 1) as f32 / steps as f32;
            ui.painter().rect_filled(egui::Rect::from_min_max(egui::pos2(x0, rect.top()), egui::pos2(x1, rect.bottom())), 0, heatmap::ramp(i as f32 / (steps - 1) as f32));
        }
        ui.label(RichText::new("√(weight / head's 99th percentile)").size(theme::SMALL_SIZE).color(p.text_weak));
        let (sw, _) = ui.allocate_exact_size(vec2(10.0, 10.0), Sense::hover());
        ui.painter().rect_filled(sw, 0, masked_colour(p.dark));
        ui.label(RichText::new("masked").size(theme::SMALL_SIZE).color(p.text_weak));
    });
    ui.horizontal_wrapped(|ui| {
        for (role, name) in [(TokenRole::Condition, "condition"), (TokenRole::Item, "item"), (TokenRole::Query, "query")] {
            chip(ui, name, role_colour(p, role));
        }
        ui.label(RichText::new("token strips along the axes").size(theme::SMALL_SIZE).color(p.text_weak));
    });
}
