//! Small reusable pieces every panel draws with: chips and badges, cards,
//! stat cards, empty states, section headings and a dense table.

pub mod heatmap;
pub mod rank_lines;
pub mod table;

use egui::{
    Align2, Color32, FontId, Frame, Margin, Response, RichText, Role, Sense, Stroke, Ui,
    WidgetInfo, vec2,
};

use crate::gui::theme::{self, GAP_M, Palette, RADIUS};

/// Widest line of an empty-area sentence, so short paragraphs sit centred.
const EMPTY_TEXT_WIDTH: f32 = 460.0;

/// A small rounded label tinted with `colour` (actions, token types, statuses).
pub fn chip(ui: &mut Ui, text: &str, colour: Color32) -> Response {
    let p = Palette::of(ui);
    chip_with_fill(ui, text, colour, p.tint(colour))
}

/// A chip with explicit text and fill colours.
pub fn chip_with_fill(ui: &mut Ui, text: &str, colour: Color32, fill: Color32) -> Response {
    chip_fit(ui, text, colour, fill, f32::INFINITY)
}

/// A chip at most `max_width` wide: longer text is cut with "…" (the full text is its tooltip).
pub fn chip_fit(
    ui: &mut Ui,
    text: &str,
    colour: Color32,
    fill: Color32,
    max_width: f32,
) -> Response {
    let pad = vec2(6.0, 2.0);
    let mut job = egui::text::LayoutJob::simple_singleline(
        text.to_owned(),
        FontId::proportional(theme::SMALL_SIZE + 0.5),
        colour,
    );
    job.wrap = egui::text::TextWrapping::truncate_at_width((max_width - 2.0 * pad.x).max(8.0));
    let galley = ui.painter().layout_job(job);
    let elided = galley.elided;
    let (rect, response) = ui.allocate_exact_size(galley.size() + 2.0 * pad, Sense::hover());
    if ui.is_rect_visible(rect) {
        ui.painter().rect_filled(rect, RADIUS, fill);
        ui.painter().galley(rect.min + pad, galley, colour);
    }
    response.widget_info(|| WidgetInfo::labeled(Role::Label, true, text));
    if elided {
        response.on_hover_text(text)
    } else {
        response
    }
}

/// A grey badge naming the protocol of a metric ("full", "sampled100", "test").
pub fn badge(ui: &mut Ui, text: &str) -> Response {
    let p = Palette::of(ui);
    chip_with_fill(ui, text, p.text_weak, p.tint(p.text_weak))
}

/// A framed card with the theme's fill, stroke and padding.
pub fn card_frame(ui: &Ui) -> Frame {
    let p = Palette::of(ui);
    Frame::new()
        .fill(p.card)
        .stroke(Stroke::new(1.0, p.card_stroke))
        .corner_radius(RADIUS)
        .inner_margin(Margin::same(12))
}

/// A small upper-case heading that opens a section of a column.
pub fn section(ui: &mut Ui, title: &str) {
    let p = Palette::of(ui);
    ui.add_space(theme::GAP_S);
    ui.label(
        RichText::new(title.to_uppercase())
            .size(theme::SMALL_SIZE)
            .color(p.text_weak)
            .strong(),
    );
    ui.add_space(2.0);
}

/// A stat card: a small label, a big number and a grey line under it.
pub fn stat_card(ui: &mut Ui, label: &str, value: &str, sub: &str, width: f32) {
    let p = Palette::of(ui);
    card_frame(ui)
        .inner_margin(Margin::symmetric(12, 10))
        .show(ui, |ui| {
            ui.set_width(width - 26.0);
            ui.vertical(|ui| {
                ui.spacing_mut().item_spacing.y = 2.0;
                ui.label(
                    RichText::new(label)
                        .size(theme::SMALL_SIZE)
                        .color(p.text_weak),
                );
                ui.label(
                    RichText::new(value)
                        .font(theme::metric_font())
                        .color(p.text_strong),
                );
                ui.label(
                    RichText::new(sub)
                        .size(theme::SMALL_SIZE)
                        .color(p.text_weak),
                );
            });
        });
}

/// An empty state: says in one sentence what is missing and offers the button
/// that makes it. Returns true when the button was clicked.
pub fn empty_state(ui: &mut Ui, title: &str, sentence: &str, button: Option<&str>) -> bool {
    let p = Palette::of(ui);
    let mut clicked = false;
    ui.vertical_centered(|ui| {
        ui.add_space((ui.available_height() * 0.3).min(220.0));
        ui.label(
            RichText::new(title)
                .size(theme::HEADING_SIZE)
                .color(p.text_strong),
        );
        ui.add_space(GAP_M);
        ui.label(RichText::new(sentence).color(p.text_weak));
        if let Some(text) = button {
            ui.add_space(GAP_M * 1.5);
            clicked = ui.add(primary_button(text)).clicked();
        }
    });
    clicked
}

/// A smaller empty state for one area of a panel (a plot, a list).
pub fn empty_area(ui: &mut Ui, height: f32, sentence: &str) {
    let p = Palette::of(ui);
    let (rect, _) = ui.allocate_exact_size(vec2(ui.available_width(), height), Sense::hover());
    ui.painter().rect(
        rect,
        RADIUS,
        Color32::TRANSPARENT,
        Stroke::new(1.0, p.card_stroke),
        egui::StrokeKind::Inside,
    );
    let galley = ui.painter().layout(
        sentence.to_owned(),
        FontId::proportional(theme::BODY_SIZE),
        p.text_weak,
        (rect.width() - 2.0 * GAP_M).min(EMPTY_TEXT_WIDTH),
    );
    let pos = Align2::CENTER_CENTER
        .anchor_size(rect.center(), galley.size())
        .min;
    ui.painter().galley(pos, galley, p.text_weak);
}

/// The accent-filled button for a panel's main action.
pub fn primary_button(text: &str) -> egui::Button<'_> {
    egui::Button::new(RichText::new(text).color(Color32::WHITE).strong()).fill(Palette::DARK.accent)
}

/// A label and a value on one line, the value right-aligned (settings summaries, key figures).
pub fn key_value(ui: &mut Ui, key: &str, value: impl Into<egui::WidgetText>) -> Response {
    let p = Palette::of(ui);
    ui.horizontal(|ui| {
        ui.label(RichText::new(key).color(p.text_weak));
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            ui.label(value);
        });
    })
    .response
}

/// A thin horizontal bar of `fraction` of the available width (usage bars, Δ bars).
pub fn thin_bar(ui: &mut Ui, fraction: f32, colour: Color32, width: f32) -> Response {
    let p = Palette::of(ui);
    let (rect, response) = ui.allocate_exact_size(vec2(width, 6.0), Sense::hover());
    ui.painter().rect_filled(rect, 2, p.tint(p.text_weak));
    let mut fill = rect;
    fill.set_width(rect.width() * fraction.clamp(0.0, 1.0));
    ui.painter().rect_filled(fill, 2, colour);
    response
}

/// A one-line text field with a hint inside, whose accessible name is `name`
/// (the hint alone would become its name), and a tooltip.
pub fn text_field(
    ui: &mut Ui,
    text: &mut String,
    name: &str,
    hint: &str,
    width: f32,
    tooltip: &str,
) -> Response {
    let response = ui
        .add(
            egui::TextEdit::singleline(text)
                .hint_text(hint.to_owned())
                .desired_width(width),
        )
        .on_hover_text(tooltip);
    ui.ctx()
        .accesskit_node_builder(response.id, |node| node.set_label(name.to_owned()));
    response
}
