//! The Ranking panel: per query, the baseline and +LUM rankings of its ad
//! impressions side by side with rank-move lines, NDCG@10 of each and Kendall
//! tau. It needs both CTR models; until the CTR stage has run it says so.

use egui::{RichText, Ui};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::theme::{GAP_M, Palette};
use crate::gui::widgets::{self, section};
use crate::gui::workspace::{PanelId, StageStatus, Workspace};

/// UI state of the Ranking panel.
#[derive(Default)]
pub struct RankingPanel {
    search: String,
}

impl Panel for RankingPanel {
    fn id(&self) -> PanelId {
        PanelId::Ranking
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        (!matches!(ws.stages[2], StageStatus::Done { .. })).then_some("no CTR models trained yet")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        egui::Panel::left("ranking_queries").exact_size(260.0).resizable(false).show(ui, |ui| {
            ui.add_space(GAP_M);
            section(ui, "Queries");
            widgets::text_field(ui, &mut self.search, "Search queries", "search queries", f32::INFINITY, "Filter queries by text.");
            ui.add_space(GAP_M);
            let n_queries = ws.data.as_ref().map(|d| d.stats.queries).unwrap_or(0);
            let sentence = if n_queries > 0 {
                format!("{} queries in the log. Sorted by NDCG gain or loss once both CTR models are trained.", crate::gui::format::count(n_queries))
            } else {
                "Queries with ad impressions are listed here, sorted by NDCG gain or loss.".to_string()
            };
            ui.label(RichText::new(sentence).color(p.text_weak));
        });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            if widgets::empty_state(
                ui,
                "No CTR run yet",
                "Per-query rankings need the baseline and the +LUM CTR models. Run the CTR stage first: open Flow.",
                Some("Open Flow"),
            ) {
                cx.push(Command::ShowPanel(PanelId::Flow));
            }
        });
    }
}
