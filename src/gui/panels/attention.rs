//! The Attention panel: for a trained run, a user and appended query
//! conditions, the layer × head grid of heatmaps, one head large and what the
//! query attends to. Attention comes only from a real forward pass of a
//! checkpoint; without one the panel says so and points to Train.

use egui::{RichText, Ui};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::theme::{GAP_M, Palette, TokenKind};
use crate::gui::widgets::{self, chip, section};
use crate::gui::workspace::{PanelId, Workspace};

/// UI state of the Attention panel.
#[derive(Default)]
pub struct AttentionPanel {
    run: Option<usize>,
    new_query: String,
    queries: Vec<String>,
}

impl Panel for AttentionPanel {
    fn id(&self) -> PanelId {
        PanelId::Attention
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        (ws.trained_runs().next().is_none()).then_some("no trained LUM yet")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::CentralPanel::default_margins().show(ui, |ui| self.body_ui(ui, cx));
    }
}

impl AttentionPanel {
    fn body_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        let trained: Vec<_> = ws.trained_runs().collect();
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            let label = ui.label("Run");
            let selected = self.run.and_then(|i| trained.get(i)).map(|r| r.name.clone()).unwrap_or_else(|| "no trained run".into());
            ui.add_enabled_ui(!trained.is_empty(), |ui| {
                egui::ComboBox::from_id_salt("attention_run")
                    .selected_text(selected)
                    .width(180.0)
                    .show_ui(ui, |ui| {
                        for (i, r) in trained.iter().enumerate() {
                            ui.selectable_value(&mut self.run, Some(i), r.name.as_str());
                        }
                    })
                    .response
                    .labelled_by(label.id)
                    .on_hover_text("The checkpoint whose attention is computed.");
            });
            ui.add_space(GAP_M);
            ui.label("User");
            match (ws.dataset(), ws.selected_user) {
                (Some(ds), Some(u)) if (u as usize) < ds.n_users() => {
                    ui.label(RichText::new(ds.users.name(u)).monospace().color(p.text_strong)).on_hover_text("Pick another user in the Data panel.");
                }
                _ => {
                    ui.label(RichText::new("none (pick one in Data)").color(p.text_weak));
                }
            }
            ui.add_space(GAP_M);
            ui.label("Appended queries");
            let mut remove = None;
            for (i, q) in self.queries.iter().enumerate() {
                if chip(ui, &format!("Q {q}  ×"), p.token(TokenKind::Query)).on_hover_text("Click to remove").interact(egui::Sense::click()).clicked() {
                    remove = Some(i);
                }
            }
            if let Some(i) = remove {
                self.queries.remove(i);
            }
            let field = widgets::text_field(ui, &mut self.new_query, "Add query", "add a query", 140.0, "A search query appended as a condition token after the history (group query).");
            let enter = field.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.button("Add").on_hover_text("Append this query").clicked() || enter) && !self.new_query.trim().is_empty() {
                self.queries.push(self.new_query.trim().to_string());
                self.new_query.clear();
            }
            let can = !trained.is_empty() && ws.selected_user.is_some();
            if ui.add_enabled(can, widgets::primary_button("Compute")).on_hover_text("Run the checkpoint on this user's sequence and capture every layer's attention (a background job).").clicked() && let Some(u) = ws.selected_user {
                cx.push(Command::ComputeAttention { user: u, queries: self.queries.clone() });
            }
        });
        ui.separator();
        if trained.is_empty() {
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
        ui.columns(3, |cols| {
            section(&mut cols[0], "Layer × head");
            widgets::empty_area(
                &mut cols[0],
                300.0,
                "Press Compute: one small heatmap per layer and head.",
            );
            section(&mut cols[1], "One head");
            widgets::empty_area(
                &mut cols[1],
                300.0,
                "Click a heatmap to see it large, tokens on both axes.",
            );
            section(&mut cols[2], "What the query attends to");
            widgets::empty_area(
                &mut cols[2],
                300.0,
                "Append a query: its attention over the history, as a sorted bar list.",
            );
        });
    }
}
