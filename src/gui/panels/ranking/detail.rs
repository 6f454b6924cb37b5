//! The Ranking panel's right column: for the selected ad, why it moved (both
//! scores and ranks, sim(o(u,q), e_t) and its SimTier histogram against the
//! page's other ads), then the page's user's interest vectors o(u,q) across
//! their sessions, projected by PCA with a sample of item embeddings.

use std::collections::HashMap;

use egui::{Align2, FontId, Rect, RichText, Sense, Stroke, Ui, pos2, vec2};
use egui_plot::{HoverPosition, MarkerShape, Plot, Points};

use crate::ctr::SessionRanking;
use crate::data::Dataset;
use crate::gui::ranking_data::{self, RankingRun};
use crate::gui::theme::{self, GAP_M, GAP_S, Palette, series_colour};
use crate::gui::widgets::rank_lines::move_colour;
use crate::gui::widgets::{self, key_value, section};
use crate::gui::workspace::Workspace;
use crate::posttrain::{InterestMap, PointKind};

/// Height of the SimTier histogram.
const HIST_HEIGHT: f32 = 90.0;
/// Height of the sim scale.
const SIM_SCALE_HEIGHT: f32 = 26.0;
/// Height of the interest map.
const MAP_HEIGHT: f32 = 330.0;

/// Draws the column for ad `ad` of page `page`.
pub fn detail_ui(ui: &mut Ui, ws: &Workspace, run: &RankingRun, page: Option<usize>, ad: Option<usize>, data: Option<&Dataset>) {
    ui.add_space(GAP_M);
    section(ui, "Why it moved");
    match (page.and_then(|p| run.pages.get(p)), ad) {
        (Some(pg), Some(a)) if a < pg.ranking.ads.len() => why_ui(ui, run, pg, a, data),
        _ => widgets::empty_area(ui, 80.0, "Click an ad in either column."),
    }
    ui.add_space(GAP_M);
    let pg = page.and_then(|p| run.pages.get(p));
    section(ui, &format!("Interest vectors of {}", pg.map_or("the user", |p| p.user.as_str())));
    let Some(pg) = pg else { return };
    let Some(req) = page.and_then(|p| ranking_data::map_request(run, p)) else {
        widgets::empty_area(ui, 80.0, "The post-trained LUM run behind this CTR run was not found, so its interest vectors cannot be shown.");
        return;
    };
    match ws.ranking.map_for(&req).and_then(|s| s.value.as_ref()) {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Projecting the interest vectors…");
            });
        }
        Some(Err(e)) => widgets::empty_area(ui, 80.0, e),
        Some(Ok(m)) => {
            map_ui(ui, &m.map, pg);
            if let Some(note) = &m.note {
                ui.label(RichText::new(note).size(theme::SMALL_SIZE).color(Palette::of(ui).warning));
            }
        }
    }
}

fn why_ui(ui: &mut Ui, run: &RankingRun, page: &SessionRanking, a: usize, data: Option<&Dataset>) {
    let p = Palette::of(ui);
    let ad = &page.ranking.ads[a];
    let name = &page.item_names[a];
    let title = data.map(|d| d.item_table.title(ad.item)).filter(|t| !t.is_empty()).unwrap_or(name);
    ui.label(RichText::new(title).strong().color(p.text_strong));
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(name).monospace().color(p.text_weak));
        if let Some(d) = data {
            let t = &d.item_table;
            let mut parts: Vec<String> = [t.category_name(ad.item), t.brand_name(ad.item)].into_iter().flatten().map(str::to_string).collect();
            if let Some(price) = t.price.get(ad.item as usize).filter(|x| x.is_finite()) {
                parts.push(format!("{price:.2}"));
            }
            ui.label(RichText::new(parts.join(" · ")).color(p.text));
        }
        if ad.label {
            widgets::chip(ui, "clicked", p.warning);
        }
    });
    ui.add_space(GAP_S);
    let mc = move_colour(&p, ad.base_rank, ad.lum_rank);
    let arrow = match ad.rank_move {
        m if m > 0 => format!("▲ {m}"),
        m if m < 0 => format!("▼ {}", -m),
        _ => "no move".into(),
    };
    key_value(ui, "rank", RichText::new(format!("#{} → #{}  {arrow}", ad.base_rank + 1, ad.lum_rank + 1)).font(theme::mono_font()).color(mc));
    key_value(ui, "baseline score", RichText::new(format!("{:.4}", ad.base_score)).font(theme::mono_font()));
    key_value(ui, &format!("{} score", run.model), RichText::new(format!("{:.4}", ad.lum_score)).font(theme::mono_font()));
    let Some(f) = page.lum_features.get(a) else {
        ui.label(
            RichText::new("This run's ranking.jsonl has no per-ad LUM features (written before they were recorded): run the CTR stage again to see sim and SimTier.")
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        return;
    };
    let sims: Vec<f32> = page.lum_features.iter().map(|x| x.sim).collect();
    let sim_rank = sims.iter().filter(|&&s| s > f.sim).count() + 1;
    key_value(ui, "sim(o(u,q), e_t)", RichText::new(format!("{:.3}", f.sim)).font(theme::mono_font()).color(p.token_query))
        .on_hover_text("Cosine of the user's interest under this query, o(u,q), and the ad's LUM item embedding e_t: an input of the +LUM model.");
    sim_scale_ui(ui, &sims, a);
    ui.label(
        RichText::new(format!("{} highest sim of the page's {} ads (others as ticks)", ordinal(sim_rank), sims.len()))
            .size(theme::SMALL_SIZE)
            .color(p.text_weak),
    );
    ui.add_space(GAP_S);
    let (title, how) = if run.simtier_whitened {
        ("SimTier: history items by cos(e_t, e_h), whitened", "Cosines of the ad's LUM item embedding with each earlier behaviour's, after whitening the item embeddings (centred, unit variance per principal direction) so that brand and price show beside the category.")
    } else {
        ("SimTier: history items by cos(e_t, e_h)", "Raw cosines of the ad's LUM item embedding with each earlier behaviour's.")
    };
    ui.label(RichText::new(title).color(p.text)).on_hover_text(how);
    simtier_ui(ui, page, a);
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, r) if r != 11 => "st",
        (2, r) if r != 12 => "nd",
        (3, r) if r != 13 => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A [-1, 1] scale with a tick per ad of the page and the selected ad's marker.
fn sim_scale_ui(ui: &mut Ui, sims: &[f32], selected: usize) {
    let p = Palette::of(ui);
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), SIM_SCALE_HEIGHT), Sense::hover());
    let painter = ui.painter_at(rect);
    let axis_y = rect.top() + 10.0;
    let x_of = |s: f32| rect.left() + 6.0 + (s.clamp(-1.0, 1.0) + 1.0) / 2.0 * (rect.width() - 12.0);
    painter.line_segment([pos2(x_of(-1.0), axis_y), pos2(x_of(1.0), axis_y)], Stroke::new(1.0, p.card_stroke));
    for (i, &s) in sims.iter().enumerate() {
        if i != selected {
            painter.line_segment([pos2(x_of(s), axis_y - 4.0), pos2(x_of(s), axis_y + 4.0)], Stroke::new(1.0, p.text_weak));
        }
    }
    if let Some(&s) = sims.get(selected) {
        painter.circle_filled(pos2(x_of(s), axis_y), 4.5, p.token_query);
    }
    let font = FontId::proportional(theme::SMALL_SIZE - 1.0);
    for (v, text) in [(-1.0, "−1"), (0.0, "0"), (1.0, "1")] {
        painter.text(pos2(x_of(v), rect.bottom()), Align2::CENTER_BOTTOM, text, font.clone(), p.text_weak);
    }
}

/// The ad's SimTier histogram as bars, with the page's mean as a line per tier.
fn simtier_ui(ui: &mut Ui, page: &SessionRanking, a: usize) {
    let p = Palette::of(ui);
    let hist = &page.lum_features[a].simtier;
    let bins = hist.len();
    if bins == 0 {
        return;
    }
    let n = page.lum_features.len() as f32;
    let mean: Vec<f32> = (0..bins).map(|b| page.lum_features.iter().map(|f| f.simtier.get(b).copied().unwrap_or(0.0)).sum::<f32>() / n).collect();
    let top = hist.iter().chain(&mean).copied().fold(1e-6f32, f32::max);
    let (rect, response) = ui.allocate_exact_size(vec2(ui.available_width(), HIST_HEIGHT + 14.0), Sense::hover());
    let painter = ui.painter_at(rect);
    let plot = Rect::from_min_max(rect.min, pos2(rect.right(), rect.top() + HIST_HEIGHT));
    let w = plot.width() / bins as f32;
    for b in 0..bins {
        let x0 = plot.left() + b as f32 * w;
        let h = hist[b] / top * (plot.height() - 4.0);
        painter.rect_filled(Rect::from_min_max(pos2(x0 + 1.5, plot.bottom() - h), pos2(x0 + w - 1.5, plot.bottom())), 2, p.token_item);
        let mh = plot.bottom() - mean[b] / top * (plot.height() - 4.0);
        painter.line_segment([pos2(x0 + 1.0, mh), pos2(x0 + w - 1.0, mh)], Stroke::new(1.5, p.text_strong));
    }
    painter.line_segment([plot.left_bottom(), plot.right_bottom()], Stroke::new(1.0, p.card_stroke));
    let font = FontId::proportional(theme::SMALL_SIZE - 1.0);
    for (x, text) in [(plot.left(), "−1"), (plot.center().x, "0"), (plot.right(), "1")] {
        let align = if x == plot.left() { Align2::LEFT_BOTTOM } else if x == plot.right() { Align2::RIGHT_BOTTOM } else { Align2::CENTER_BOTTOM };
        painter.text(pos2(x, rect.bottom()), align, text, font.clone(), p.text_weak);
    }
    if let Some(pos) = response.hover_pos() {
        let b = (((pos.x - plot.left()) / w).floor().max(0.0) as usize).min(bins - 1);
        let lo = -1.0 + 2.0 * b as f32 / bins as f32;
        let hi = lo + 2.0 / bins as f32;
        response.on_hover_text(format!("cos in [{lo:.1}, {hi:.1}): {:.1}% of history items (page mean {:.1}%)", hist[b] * 100.0, mean[b] * 100.0));
    }
    ui.label(RichText::new("bars: this ad · lines: mean over the page's ads").size(theme::SMALL_SIZE).color(p.text_weak));
}

/// The interest map: items by category, the page's ads, the user's o(u,q) per session.
fn map_ui(ui: &mut Ui, map: &InterestMap, page: &SessionRanking) {
    let p = Palette::of(ui);
    let r = &map.pca.explained_variance_ratio;
    let n_probes = map.points.iter().filter(|m| matches!(m.kind, PointKind::Probe { .. })).count();
    ui.label(
        RichText::new(format!(
            "One PCA of the user's o(u,q): {} from their search sessions and {} probes (the same history as this page, the run's most frequent other queries), with {} item embeddings (the page's ads and a fixed sample). PC1 {:.0}%, PC2 {:.0}% of variance. Hover a point for its label.",
            map.n_interest(),
            n_probes,
            map.points.len() - map.n_interest() - n_probes,
            r[0] * 100.0,
            r[1] * 100.0
        ))
        .size(theme::SMALL_SIZE)
        .color(p.text_weak),
    );
    // Series: one per category (sorted), the page's ads, the user's sessions, this page's session.
    const ADS: &str = "this page's ads";
    const SESSIONS: &str = "o(u,q), other sessions";
    const THIS: &str = "o(u,q), this page";
    const PROBES: &str = "o(u,q), other queries";
    let mut groups: Vec<&str> = map.points.iter().filter(|m| matches!(m.kind, PointKind::Item { highlighted: false, .. })).map(|m| m.group.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    let mut series: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, m) in map.points.iter().enumerate() {
        let name = match &m.kind {
            PointKind::Item { highlighted: true, .. } => ADS.to_string(),
            PointKind::Item { .. } => m.group.clone(),
            PointKind::Interest { query, timestamp } if *query == page.query_text && *timestamp == page.timestamp => THIS.to_string(),
            PointKind::Interest { .. } => SESSIONS.to_string(),
            PointKind::Probe { .. } => PROBES.to_string(),
        };
        series.entry(name).or_default().push(i);
    }
    let coords = |name: &str| -> Vec<[f64; 2]> {
        series.get(name).map_or_else(Vec::new, |ix| ix.iter().map(|&i| [map.points[i].xy[0] as f64, map.points[i].xy[1] as f64]).collect())
    };
    let labels = |name: &str, index: usize| series.get(name).and_then(|ix| ix.get(index)).map(|&i| map.points[i].label.clone());
    Plot::new("interest_map")
        .height(MAP_HEIGHT)
        .data_aspect(1.0)
        .show_axes([false, false])
        .label_formatter(|pos| match pos {
            HoverPosition::NearDataPoint { plot_name, index, .. } => labels(plot_name, *index).map(|l| {
                if *plot_name == ADS || plot_name.starts_with("o(u,q)") { l } else { format!("{l}\n{plot_name}") }
            }),
            HoverPosition::Elsewhere { .. } => None,
        })
        .show(ui, |plot| {
            for (k, g) in groups.iter().enumerate() {
                let colour = series_colour(k).gamma_multiply(0.55);
                plot.points(Points::new(*g, coords(g)).radius(2.0).color(colour));
            }
            plot.points(Points::new(ADS, coords(ADS)).shape(MarkerShape::Diamond).radius(4.5).color(p.warning));
            plot.points(Points::new(PROBES, coords(PROBES)).shape(MarkerShape::Square).radius(3.5).color(p.text_strong));
            plot.points(Points::new(SESSIONS, coords(SESSIONS)).radius(3.5).color(p.token_query.gamma_multiply(0.7)));
            plot.points(Points::new(THIS, coords(THIS)).shape(MarkerShape::Circle).filled(false).radius(7.0).color(p.token_query));
        });
    // A compact key instead of the plot legend (one entry per category would cover the plot).
    ui.horizontal_wrapped(|ui| {
        let small = |t: &str, c| RichText::new(t.to_string()).size(theme::SMALL_SIZE).color(c);
        ui.label(small("○ o(u,q) of this page", p.token_query));
        ui.label(small("● other sessions", p.token_query.gamma_multiply(0.7)));
        ui.label(small("■ other queries (probes)", p.text_strong));
        ui.label(small("◆ this page's ads", p.warning));
        ui.label(small(&format!("· {} categories of items, one colour each", groups.len()), p.text_weak));
    });
}
