//! The Ranking panel: per query, how the baseline and the +LUM CTR model
//! order the ads of one result page, side by side with rank-move lines, NDCG@10
//! of each, the delta and Kendall tau; the query list sortable by gain or loss
//! with a search box; for one ad, why it moved (sim(o(u,q), e_t) and its
//! SimTier histogram beside both scores); and the page's user's interest
//! vectors projected with the catalogue ([`detail`]).
//!
//! A query has many pages (user, time); NDCG is computed per page and averaged
//! over the pages with clicks, so the centre shows one page at a time: pooling
//! pages of different users would mix rankings no model ever produced.

mod detail;

use std::sync::Arc;

use egui::{Align, Layout, RichText, Sense, Ui, vec2};

use super::{Panel, PanelCx};
use crate::data::Dataset;
use crate::eval::ranking::QUERY_NDCG_PROTOCOL;
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::ranking_data::{self, QuerySort, RankingRun};
use crate::gui::theme::{self, GAP_M, GAP_S, Palette, ROW_HEIGHT};
use crate::gui::widgets::rank_lines::{RankedAd, rank_lines_ui, star};
use crate::gui::widgets::table::{self, Cell, Column};
use crate::gui::widgets::{self, badge, section};
use crate::gui::workspace::{PanelId, Workspace};

/// Width of the query list: this share of the panel, within these bounds.
const QUERY_LIST_WIDTH: (f32, f32, f32) = (0.19, 200.0, 270.0);
/// Width of the detail column (why it moved, interest map), likewise.
const DETAIL_WIDTH: (f32, f32, f32) = (0.28, 300.0, 400.0);
/// Height of the pages table.
const PAGES_HEIGHT: f32 = 150.0;
/// Width of the Δ bar in a query row.
const DELTA_BAR_WIDTH: f32 = 44.0;

const PAGE_COLUMNS: [Column; 8] = [
    Column::text("user", 58.0),
    Column::text("time (UTC)", 118.0),
    Column::number("ads", 28.0),
    Column::number("clicks", 38.0),
    Column::number("NDCG base", 62.0),
    Column::number("+LUM", 46.0),
    Column::number("Δ", 50.0),
    Column::number("τ", 36.0),
];

/// UI state of the Ranking panel: the search text, the sort and what is selected.
#[derive(Default)]
pub struct RankingPanel {
    search: String,
    sort: QuerySort,
    /// Queries with fewer pages with clicks are hidden (0 and 1 show all).
    min_pages: usize,
    /// The run the selection below belongs to.
    run: Option<std::path::PathBuf>,
    /// Index into the run's `queries`.
    query: Option<usize>,
    /// Index into the run's `pages`.
    page: Option<usize>,
    /// Index into the page's ads.
    ad: Option<usize>,
    /// The run creation time a re-read was last asked for.
    reloaded_for: Option<i64>,
}

impl Panel for RankingPanel {
    fn id(&self) -> PanelId {
        PanelId::Ranking
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ranking_data::ctr_run_for(ws).is_none().then_some("no CTR run with rankings yet")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let Some(info) = ranking_data::ctr_run_for(ws) else {
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
            return;
        };
        let path = info.path.clone();
        let run = match ws.ranking.run_at(&path).map(|s| &s.value) {
            None => {
                cx.push(Command::LoadRanking(path));
                None
            }
            Some(None) => None,
            Some(Some(Err(e))) => {
                let e = e.clone();
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    widgets::empty_state(ui, "Could not read the rankings", &e, None);
                });
                return;
            }
            Some(Some(Ok(run))) => {
                // The folder was written again since it was read (a new flow run into it).
                // Once per creation time, so files that disagree with the scan cannot loop.
                if run.created_unix < info.summary.created_unix && self.reloaded_for != info.summary.created_unix {
                    self.reloaded_for = info.summary.created_unix;
                    cx.push(Command::LoadRanking(path));
                }
                Some(run.clone())
            }
        };
        let Some(run) = run else {
            egui::CentralPanel::default_margins().show(ui, |ui| {
                ui.add_space(GAP_M);
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Reading the rankings of {}…", info.name));
                });
            });
            return;
        };
        self.sync_selection(&run);
        if let Some(req) = self.page.and_then(|pg| ranking_data::map_request(&run, pg))
            && ws.ranking.map_for(&req).is_none()
        {
            cx.push(Command::ComputeInterestMap(req));
        }
        let data = ws.dataset().filter(|d| same_items(d, &run));
        let share = |(f, lo, hi): (f32, f32, f32)| (ui.available_width() * f).clamp(lo, hi);
        let (list_w, detail_w) = (share(QUERY_LIST_WIDTH), share(DETAIL_WIDTH));
        egui::Panel::left("ranking_queries").exact_size(list_w).resizable(false).show(ui, |ui| {
            self.query_list_ui(ui, &run);
        });
        egui::Panel::right("ranking_detail").exact_size(detail_w).resizable(false).show(ui, |ui| {
            egui::ScrollArea::vertical().id_salt("ranking_detail_scroll").show(ui, |ui| {
                detail::detail_ui(ui, ws, &run, self.page, self.ad, data);
            });
        });
        egui::CentralPanel::default_margins().show(ui, |ui| self.centre_ui(ui, &run, data));
    }
}

/// Whether `data` is the log the CTR run ranked (its item ids name the same items).
fn same_items(data: &Dataset, run: &RankingRun) -> bool {
    run.pages.first().is_some_and(|p| {
        p.ranking.ads.iter().zip(&p.item_names).all(|(a, name)| (a.item as usize) < data.n_items() && data.items.name(a.item) == name)
    })
}

/// An ad's label: its title when the loaded log describes it, else its id.
fn ad_label<'a>(data: Option<&'a Dataset>, item: u32, name: &'a str) -> &'a str {
    match data.map(|d| d.item_table.title(item)) {
        Some(t) if !t.is_empty() => t,
        _ => name,
    }
}

/// `+0.123` / `−0.045` (a signed delta as the panel writes it).
pub fn signed(x: f64) -> String {
    if x < 0.0 { format!("−{:.3}", -x) } else { format!("+{x:.3}") }
}

impl RankingPanel {
    /// Resets the selection for a new run; picks the defaults where nothing is chosen.
    fn sync_selection(&mut self, run: &Arc<RankingRun>) {
        if self.run.as_deref() != Some(run.path.as_path()) {
            self.run = Some(run.path.clone());
            self.query = None;
            self.page = None;
            self.ad = None;
        }
        if self.query.is_none_or(|q| q >= run.queries.len()) {
            self.query = run.query_rows_with(&self.search, self.sort, self.min_pages).first().copied();
            self.page = None;
        }
        if self.page.is_none_or(|p| p >= run.pages.len()) {
            self.page = self.query.and_then(|q| run.default_page(q));
            self.ad = None;
        }
        let n_ads = self.page.map_or(0, |p| run.pages[p].ranking.ads.len());
        if self.ad.is_none_or(|a| a >= n_ads) {
            self.ad = self.page.and_then(|p| run.default_ad(p));
        }
    }

    fn select_query(&mut self, run: &RankingRun, q: usize) {
        self.query = Some(q);
        self.page = run.default_page(q);
        self.ad = self.page.and_then(|p| run.default_ad(p));
    }

    fn query_list_ui(&mut self, ui: &mut Ui, run: &RankingRun) {
        let p = Palette::of(ui);
        ui.add_space(GAP_M);
        section(ui, "Queries");
        widgets::text_field(ui, &mut self.search, "Search queries", "search queries", f32::INFINITY, "Filter queries by text.");
        ui.add_space(GAP_S);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Sort").color(p.text_weak));
            for (sort, text, tip) in [
                (QuerySort::Gain, "gain", "Largest mean NDCG@10 gain of +LUM first"),
                (QuerySort::Loss, "loss", "Largest mean NDCG@10 loss of +LUM first"),
                (QuerySort::Pages, "pages", "Most result pages first"),
            ] {
                ui.selectable_value(&mut self.sort, sort, text).on_hover_text(tip);
            }
        });
        ui.horizontal(|ui| {
            let label = ui.label(RichText::new("Min. pages with clicks").color(p.text_weak));
            ui.add(egui::DragValue::new(&mut self.min_pages).range(1..=50))
                .labelled_by(label.id)
                .on_hover_text("Hide queries whose mean NDCG rests on fewer result pages with clicks.");
        });
        let rows = run.query_rows_with(&self.search, self.sort, self.min_pages);
        ui.label(
            RichText::new(format!("{} of {} queries with clicks", format::count(rows.len() as u64), format::count(run.queries.len() as u64)))
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        ui.add_space(GAP_S);
        let max_delta = rows.iter().map(|&q| run.queries[q].delta.abs()).fold(1e-9, f64::max);
        let previous_spacing = ui.spacing().item_spacing.y;
        ui.spacing_mut().item_spacing.y = 0.0;
        let mut clicked = None;
        egui::ScrollArea::vertical().id_salt("ranking_query_list").auto_shrink([false, false]).show_rows(ui, ROW_HEIGHT, rows.len(), |ui, range| {
            for &q in &rows[range] {
                let g = &run.queries[q];
                let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), ROW_HEIGHT), Sense::click());
                let selected = self.query == Some(q);
                response.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, selected, &g.text));
                if selected {
                    ui.painter().rect_filled(rect, 2, ui.visuals().selection.bg_fill);
                } else if response.hovered() {
                    ui.painter().rect_filled(rect, 2, ui.visuals().widgets.hovered.weak_bg_fill.gamma_multiply(0.5));
                }
                let colour = if g.delta > 0.0 { p.positive } else if g.delta < 0.0 { p.negative } else { p.text_weak };
                let painter = ui.painter_at(rect);
                let font = egui::FontId::proportional(theme::BODY_SIZE - 1.0);
                let text_w = rect.width() - DELTA_BAR_WIDTH - 62.0;
                let mut job = egui::text::LayoutJob::simple_singleline(g.text.clone(), font, p.text);
                job.wrap = egui::text::TextWrapping::truncate_at_width(text_w);
                let galley = painter.layout_job(job);
                painter.galley(egui::pos2(rect.left() + GAP_S, rect.center().y - galley.size().y / 2.0), galley, p.text);
                let mono = egui::FontId::monospace(theme::SMALL_SIZE);
                painter.text(egui::pos2(rect.right() - DELTA_BAR_WIDTH - 8.0, rect.center().y), egui::Align2::RIGHT_CENTER, signed(g.delta), mono, colour);
                // The Δ bar: centred on zero, half the width for the largest |Δ| in the list.
                let bar = egui::Rect::from_center_size(egui::pos2(rect.right() - DELTA_BAR_WIDTH / 2.0 - 2.0, rect.center().y), vec2(DELTA_BAR_WIDTH, 6.0));
                painter.rect_filled(bar, 2, p.tint(p.text_weak));
                let half = (g.delta.abs() / max_delta) as f32 * DELTA_BAR_WIDTH / 2.0;
                let (x0, x1) = if g.delta >= 0.0 { (bar.center().x, bar.center().x + half) } else { (bar.center().x - half, bar.center().x) };
                painter.rect_filled(egui::Rect::from_x_y_ranges(x0..=x1, bar.y_range()), 2, colour);
                let response = response.on_hover_text(format!(
                    "{}\n{} pages ({} with clicks)\nmean NDCG@10 baseline {:.3} → {} {:.3}",
                    g.text, g.pages, g.pages_with_clicks, g.mean_ndcg_base, run.model, g.mean_ndcg_lum
                ));
                if response.clicked() {
                    clicked = Some(q);
                }
            }
        });
        ui.spacing_mut().item_spacing.y = previous_spacing;
        if let Some(q) = clicked {
            self.select_query(run, q);
        }
    }

    fn centre_ui(&mut self, ui: &mut Ui, run: &RankingRun, data: Option<&Dataset>) {
        let p = Palette::of(ui);
        ui.add_space(GAP_M);
        let Some(q) = self.query else {
            widgets::empty_area(ui, 200.0, "No query matches the search, or no query had a click on the test days.");
            return;
        };
        let g = &run.queries[q];
        // Wrapped, never wider than the column: an overflowing row would widen the whole column.
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("“{}”", g.text)).size(theme::HEADING_SIZE).color(p.text_strong));
            ui.add_space(GAP_M);
            ui.label(
                RichText::new(format!(
                    "{} pages · mean NDCG@10 baseline {:.3} → {} {:.3}",
                    g.pages, g.mean_ndcg_base, run.model, g.mean_ndcg_lum
                ))
                .color(p.text),
            );
            let colour = if g.delta >= 0.0 { p.positive } else { p.negative };
            ui.label(RichText::new(format!("mean Δ {}", signed(g.delta))).color(colour).strong());
            badge(ui, "test pages with clicks").on_hover_text(QUERY_NDCG_PROTOCOL);
        });
        ui.label(
            RichText::new(
                "A page is one result page (user, query, time): both models re-rank the ads shown on it. Pick a page; lines join each ad's two places.",
            )
            .size(theme::SMALL_SIZE)
            .color(p.text_weak),
        );
        ui.add_space(GAP_S);
        let pages = run.pages_of_query(q);
        let selected_row = self.page.and_then(|pg| pages.iter().position(|&x| x == pg));
        // Scrolls sideways in a narrow window rather than widening the column under the detail.
        let clicked = egui::ScrollArea::horizontal().id_salt("ranking_pages_h").show(ui, |ui| {
            table::header(ui, &PAGE_COLUMNS);
            table::rows(ui, "ranking_pages", &PAGE_COLUMNS, pages.len(), PAGES_HEIGHT, selected_row, |i| {
            let page = &run.pages[pages[i]];
            let r = &page.ranking;
            let dc = if r.delta > 0.0 { p.positive } else if r.delta < 0.0 { p.negative } else { p.text_weak };
            vec![
                Cell::Mono(page.user.clone()),
                Cell::Text(format::datetime(page.timestamp)),
                Cell::Text(r.n_ads.to_string()),
                Cell::Text(r.clicks.to_string()),
                Cell::Text(if r.has_clicks { format!("{:.3}", r.ndcg_base) } else { "–".into() }),
                Cell::Text(if r.has_clicks { format!("{:.3}", r.ndcg_lum) } else { "–".into() }),
                Cell::Coloured(if r.has_clicks { signed(r.delta) } else { "–".into() }, dc),
                Cell::Text(r.tau.map_or("–".into(), |t| format!("{t:.2}"))),
            ]
            })
        })
        .inner;
        if let Some(i) = clicked {
            self.page = Some(pages[i]);
            self.ad = run.default_ad(pages[i]);
            // The detail column was drawn before this one: show the new page next frame.
            ui.ctx().request_repaint();
        }
        ui.add_space(GAP_M);
        let Some(pg) = self.page else { return };
        let page = &run.pages[pg];
        let r = &page.ranking;
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(&page.user).monospace().color(p.text_strong));
            ui.label(RichText::new(format::datetime(page.timestamp)).color(p.text_weak));
            ui.add_space(GAP_M);
            let metric = |ui: &mut Ui, name: &str, value: String, colour| {
                ui.label(RichText::new(name).color(p.text_weak));
                ui.label(RichText::new(value).font(theme::mono_font()).color(colour));
                ui.add_space(GAP_S);
            };
            metric(ui, "NDCG@10 baseline", format!("{:.3}", r.ndcg_base), p.text_strong);
            metric(ui, &format!("NDCG@10 {}", run.model), format!("{:.3}", r.ndcg_lum), p.text_strong);
            let dc = if r.delta > 0.0 { p.positive } else if r.delta < 0.0 { p.negative } else { p.text };
            ui.label(RichText::new(format!("Δ {}", signed(r.delta))).font(theme::mono_font()).color(dc).strong());
            ui.add_space(GAP_S);
            metric(ui, "Kendall τ", r.tau.map_or("undefined".into(), |t| format!("{t:.3}")), p.text_strong);
            badge(ui, "NDCG@10, one page").on_hover_text(QUERY_NDCG_PROTOCOL);
        });
        ui.add_space(GAP_S);
        let ads: Vec<RankedAd<'_>> = r
            .ads
            .iter()
            .zip(&page.item_names)
            .map(|(a, name)| RankedAd {
                label: ad_label(data, a.item, name),
                base_rank: a.base_rank,
                lum_rank: a.lum_rank,
                base_score: a.base_score,
                lum_score: a.lum_score,
                clicked: a.label,
            })
            .collect();
        ui.with_layout(Layout::top_down(Align::Min), |ui| {
            ui.horizontal_wrapped(|ui| {
                let small = |t: &str, c| RichText::new(t.to_string()).size(theme::SMALL_SIZE).color(c);
                ui.label(small(&format!("▲ up under {}", run.model), p.positive));
                ui.label(small("▼ down", p.negative));
                let (rect, _) = ui.allocate_exact_size(vec2(12.0, 12.0), Sense::hover());
                star(ui.painter(), rect.center(), 5.5, p.warning);
                ui.label(small("clicked", p.warning));
                ui.label(small("· line width = size of the move · click an ad for why it moved", p.text_weak));
            });
            egui::ScrollArea::vertical().id_salt("ranking_lines").auto_shrink([false, false]).show(ui, |ui| {
                if let Some(i) = rank_lines_ui(ui, &ads, self.ad, ["Baseline", run.model.as_str()]) {
                    self.ad = Some(i);
                    ui.ctx().request_repaint();
                }
            });
        });
    }
}
