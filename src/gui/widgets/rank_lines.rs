//! Two rankings of the same ads side by side: a column of ad boxes per model,
//! a line joining each ad's two places (up in the positive colour, down in the
//! negative, width by the size of the move), clicked ads starred. Painted in
//! one pass, so a page of 100 ads costs well under a millisecond.

use egui::epaint::CubicBezierShape;
use egui::{Align2, Color32, FontId, Pos2, Rect, Role, Sense, Stroke, StrokeKind, Ui, WidgetInfo, pos2, vec2};

use crate::gui::theme::{self, GAP_M, Palette, RADIUS};

/// Height of one ad box plus its gap: at least the first, at most the second (short pages
/// fill the height they are given).
pub const ROW_PITCH: (f32, f32) = (24.0, 36.0);
/// Vertical gap between boxes.
const BOX_GAP: f32 = 3.0;
/// Widest an ad box gets; the rest of the width goes to the lines.
const MAX_BOX_WIDTH: f32 = 300.0;
/// Share of the width a box takes when the area is narrow.
const BOX_SHARE: f32 = 0.38;
/// Height of the column titles.
const TITLE_HEIGHT: f32 = 22.0;
/// Line width of an unmoved ad and the extra width of the largest possible move.
const BASE_LINE_WIDTH: f32 = 1.0;
const MOVE_LINE_WIDTH: f32 = 4.0;

/// One ad as both models place it (0-based ranks).
#[derive(Clone, Debug)]
pub struct RankedAd<'a> {
    pub label: &'a str,
    pub base_rank: usize,
    pub lum_rank: usize,
    pub base_score: f32,
    pub lum_score: f32,
    pub clicked: bool,
}

/// Paints a five-pointed star (the clicked-ad mark; the fonts have no ★ glyph).
pub fn star(painter: &egui::Painter, centre: Pos2, radius: f32, colour: Color32) {
    let point = |k: usize, r: f32| {
        let a = -std::f32::consts::FRAC_PI_2 + k as f32 * std::f32::consts::PI / 5.0;
        pos2(centre.x + r * a.cos(), centre.y + r * a.sin())
    };
    let inner: Vec<Pos2> = (0..5).map(|k| point(2 * k + 1, radius * 0.42)).collect();
    painter.add(egui::Shape::convex_polygon(inner.clone(), colour, Stroke::NONE));
    for k in 0..5 {
        let tip = point(2 * k, radius);
        painter.add(egui::Shape::convex_polygon(vec![tip, inner[k], inner[(k + 4) % 5]], colour, Stroke::NONE));
    }
}

/// Colour of a move: up (better under the second model), down, none.
pub fn move_colour(p: &Palette, base_rank: usize, lum_rank: usize) -> Color32 {
    match lum_rank.cmp(&base_rank) {
        std::cmp::Ordering::Less => p.positive,
        std::cmp::Ordering::Greater => p.negative,
        std::cmp::Ordering::Equal => p.text_weak,
    }
}

/// Draws both columns titled `titles`; returns the index of an ad the user clicked.
/// `selected` is drawn outlined with its line on top.
pub fn rank_lines_ui(ui: &mut Ui, ads: &[RankedAd<'_>], selected: Option<usize>, titles: [&str; 2]) -> Option<usize> {
    let p = Palette::of(ui);
    let n = ads.len();
    let width = ui.available_width();
    let pitch = ((ui.available_height() - TITLE_HEIGHT) / n.max(1) as f32).clamp(ROW_PITCH.0, ROW_PITCH.1);
    let height = TITLE_HEIGHT + n as f32 * pitch;
    let (rect, _) = ui.allocate_exact_size(vec2(width, height), Sense::hover());
    let box_w = (width * BOX_SHARE).min(MAX_BOX_WIDTH);
    let left_x = rect.left();
    let right_x = rect.right() - box_w;
    let top = rect.top() + TITLE_HEIGHT;
    let painter = ui.painter_at(rect.expand(2.0));
    let title_font = FontId::proportional(theme::SMALL_SIZE + 1.0);
    for (x, title) in [(left_x, titles[0]), (right_x, titles[1])] {
        painter.text(pos2(x + box_w / 2.0, rect.top() + TITLE_HEIGHT / 2.0), Align2::CENTER_CENTER, title, title_font.clone(), p.text_strong);
    }
    let box_at = |x: f32, rank: usize| Rect::from_min_size(pos2(x, top + rank as f32 * pitch), vec2(box_w, pitch - BOX_GAP));
    let max_move = n.saturating_sub(1).max(1) as f32;
    // Lines first (unselected, then the selected one on top), boxes over their ends.
    let mut order: Vec<usize> = (0..n).filter(|&i| Some(i) != selected).collect();
    order.extend(selected.filter(|&s| s < n));
    for &i in &order {
        let ad = &ads[i];
        let a = box_at(left_x, ad.base_rank);
        let b = box_at(right_x, ad.lum_rank);
        let moved = ad.base_rank.abs_diff(ad.lum_rank) as f32;
        let mut colour = move_colour(&p, ad.base_rank, ad.lum_rank);
        if !ad.clicked && Some(i) != selected {
            colour = colour.gamma_multiply(0.6);
        }
        let w = BASE_LINE_WIDTH + MOVE_LINE_WIDTH * moved / max_move + if Some(i) == selected { 1.5 } else { 0.0 };
        let from = pos2(a.right(), a.center().y);
        let to = pos2(b.left(), b.center().y);
        let dx = (to.x - from.x) * 0.45;
        let points: [Pos2; 4] = [from, pos2(from.x + dx, from.y), pos2(to.x - dx, to.y), to];
        painter.add(CubicBezierShape::from_points_stroke(points, false, Color32::TRANSPARENT, Stroke::new(w, colour)));
    }
    let text_font = FontId::proportional(theme::SMALL_SIZE + 1.0);
    let mono = FontId::monospace(theme::SMALL_SIZE);
    let mut clicked = None;
    for (i, ad) in ads.iter().enumerate() {
        for (side, x, rank, score) in [(0, left_x, ad.base_rank, ad.base_score), (1, right_x, ad.lum_rank, ad.lum_score)] {
            let r = box_at(x, rank);
            let id = egui::Id::unique(("rank_lines_ad", side, i));
            let response = ui.interact(r, id, Sense::click());
            let name = format!("{} ({} #{})", ad.label, titles[side], rank + 1);
            response.widget_info(|| WidgetInfo::selected(Role::Button, true, selected == Some(i), &name));
            if response.clicked() {
                clicked = Some(i);
            }
            let is_sel = selected == Some(i);
            let fill = if response.hovered() { p.tint(p.accent) } else { p.card };
            painter.rect_filled(r, RADIUS, fill);
            let stroke = if is_sel { Stroke::new(1.5, p.accent) } else { Stroke::new(1.0, p.card_stroke) };
            painter.rect_stroke(r, RADIUS, stroke, StrokeKind::Inside);
            if ad.clicked {
                painter.rect_filled(Rect::from_min_size(r.min, vec2(3.0, r.height())), RADIUS, p.warning);
            }
            let rank_text = format!("{:>3}", rank + 1);
            painter.text(pos2(r.left() + GAP_M, r.center().y), Align2::LEFT_CENTER, rank_text, mono.clone(), p.text_weak);
            let score_text = format!("{score:.3}");
            let score_w = painter.layout_no_wrap(score_text.clone(), mono.clone(), p.text).size().x;
            painter.text(pos2(r.right() - GAP_M, r.center().y), Align2::RIGHT_CENTER, score_text, mono.clone(), p.text);
            let mut label_left = r.left() + GAP_M + 30.0;
            if ad.clicked {
                star(&painter, pos2(label_left + 5.0, r.center().y), 6.0, p.warning);
                label_left += 14.0;
            }
            let label_w = (r.right() - GAP_M - score_w - GAP_M - label_left).max(10.0);
            let colour = if ad.clicked { p.warning } else { p.text_strong };
            let mut job = egui::text::LayoutJob::simple_singleline(ad.label.to_string(), text_font.clone(), colour);
            job.wrap = egui::text::TextWrapping::truncate_at_width(label_w);
            let galley = painter.layout_job(job);
            painter.galley(pos2(label_left, r.center().y - galley.size().y / 2.0), galley, colour);
            if response.hovered() {
                response.on_hover_text(format!(
                    "{}{}\nbaseline #{} ({:.4}) → {} #{} ({:.4})",
                    ad.label,
                    if ad.clicked { " · clicked" } else { "" },
                    ad.base_rank + 1,
                    ad.base_score,
                    titles[1],
                    ad.lum_rank + 1,
                    ad.lum_score
                ));
            }
        }
    }
    clicked
}
