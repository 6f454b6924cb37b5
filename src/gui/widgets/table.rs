//! A dense, virtualised table: fixed column widths, one row height, only the
//! visible rows are laid out (so 100k users scroll at full frame rate).

use std::borrow::Cow;

use egui::{Align, Color32, Layout, RichText, Sense, Ui, vec2};

use crate::gui::theme::{self, Palette, ROW_HEIGHT};

/// Horizontal gap between cells.
const CELL_GAP: f32 = 6.0;

/// One column: its title, width in points and alignment (numbers right-aligned).
#[derive(Clone, Debug)]
pub struct Column {
    pub title: Cow<'static, str>,
    pub width: f32,
    pub align: Align,
}

impl Column {
    /// A left-aligned text column.
    pub const fn text(title: &'static str, width: f32) -> Self {
        Self {
            title: Cow::Borrowed(title),
            width,
            align: Align::Min,
        }
    }
    /// A right-aligned number column.
    pub const fn number(title: &'static str, width: f32) -> Self {
        Self {
            title: Cow::Borrowed(title),
            width,
            align: Align::Max,
        }
    }
}

/// One cell of a row.
pub enum Cell {
    /// Plain text in the normal colour.
    Text(String),
    /// An id or other fixed-width value.
    Mono(String),
    /// Text in a colour.
    Coloured(String, Color32),
    /// A chip (action, token type).
    Chip(String, Color32),
    /// Nothing.
    Empty,
}

/// Draws the column titles.
pub fn header(ui: &mut Ui, columns: &[Column]) {
    let p = Palette::of(ui);
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = CELL_GAP;
        for c in columns {
            cell_ui(ui, c, |ui| {
                let title = RichText::new(c.title.as_ref())
                    .size(theme::SMALL_SIZE)
                    .color(p.text_weak)
                    .strong();
                ui.add(egui::Label::new(title).truncate());
            });
        }
    });
    ui.separator();
}

/// Draws `n_rows` rows in a scroll area of at most `max_height`; `row(i)` gives row i's cells.
/// Returns the index of a clicked row. `selected` rows get the selection fill.
pub fn rows(
    ui: &mut Ui,
    id_salt: &str,
    columns: &[Column],
    n_rows: usize,
    max_height: f32,
    selected: Option<usize>,
    mut row: impl FnMut(usize) -> Vec<Cell>,
) -> Option<usize> {
    let mut clicked = None;
    let width: f32 = columns.iter().map(|c| c.width).sum::<f32>() + CELL_GAP * columns.len() as f32;
    // `show_rows` adds the item spacing to the row height when it picks the visible rows,
    // so the spacing must already be zero here, not only inside.
    let previous_spacing = ui.spacing().item_spacing.y;
    ui.spacing_mut().item_spacing.y = 0.0;
    egui::ScrollArea::vertical()
        .id_salt(id_salt)
        .max_height(max_height)
        .auto_shrink([false, true])
        .show_rows(ui, ROW_HEIGHT, n_rows, |ui, range| {
            for i in range {
                let (rect, response) = ui.allocate_exact_size(
                    vec2(width.max(ui.available_width()), ROW_HEIGHT),
                    Sense::click(),
                );
                let v = ui.visuals();
                if selected == Some(i) {
                    ui.painter().rect_filled(rect, 2, v.selection.bg_fill);
                } else if response.hovered() {
                    ui.painter().rect_filled(
                        rect,
                        2,
                        v.widgets.hovered.weak_bg_fill.gamma_multiply(0.5),
                    );
                } else if i % 2 == 1 {
                    ui.painter()
                        .rect_filled(rect, 0, v.faint_bg_color.gamma_multiply(0.5));
                }
                if response.clicked() {
                    clicked = Some(i);
                }
                let cells = row(i);
                // Rows are named by their first id cell (else first text), so tests and screen readers can find them.
                let name = cells
                    .iter()
                    .find_map(|c| {
                        if let Cell::Mono(t) = c {
                            Some(t.clone())
                        } else {
                            None
                        }
                    })
                    .or_else(|| {
                        cells.iter().find_map(|c| match c {
                            Cell::Text(t) | Cell::Coloured(t, _) | Cell::Chip(t, _) => {
                                Some(t.clone())
                            }
                            _ => None,
                        })
                    });
                response.widget_info(|| {
                    egui::WidgetInfo::selected(
                        egui::Role::Button,
                        true,
                        selected == Some(i),
                        name.clone().unwrap_or_default(),
                    )
                });
                let mut child = ui.new_child(
                    egui::UiBuilder::new()
                        .max_rect(rect)
                        .layout(Layout::left_to_right(Align::Center)),
                );
                child.spacing_mut().item_spacing.x = CELL_GAP;
                for (c, cell) in columns.iter().zip(cells) {
                    cell_ui(&mut child, c, |ui| match cell {
                        Cell::Text(t) => {
                            ui.add(egui::Label::new(t).truncate().selectable(false));
                        }
                        Cell::Mono(t) => {
                            ui.add(
                                egui::Label::new(RichText::new(t).monospace())
                                    .truncate()
                                    .selectable(false),
                            );
                        }
                        Cell::Coloured(t, colour) => {
                            ui.add(
                                egui::Label::new(RichText::new(t).color(colour))
                                    .truncate()
                                    .selectable(false),
                            );
                        }
                        Cell::Chip(t, colour) => {
                            let fill = Palette::of(ui).tint(colour);
                            crate::gui::widgets::chip_fit(ui, &t, colour, fill, c.width);
                        }
                        Cell::Empty => {}
                    });
                }
            }
        });
    ui.spacing_mut().item_spacing.y = previous_spacing;
    clicked
}

fn cell_ui(ui: &mut Ui, column: &Column, add: impl FnOnce(&mut Ui)) {
    let layout = if column.align == Align::Max {
        Layout::right_to_left(Align::Center)
    } else {
        Layout::left_to_right(Align::Center)
    };
    ui.allocate_ui_with_layout(vec2(column.width, ROW_HEIGHT), layout, |ui| {
        ui.set_width(column.width);
        add(ui);
    });
}

/// Convenience: text for a cell from anything displayable.
pub fn text(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

/// Column titles with a line of grey protocol badges under them (empty strings leave a gap).
pub fn header_with_protocols(ui: &mut Ui, columns: &[Column], protocols: &[String]) {
    let p = Palette::of(ui);
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = CELL_GAP;
        for c in columns {
            cell_ui(ui, c, |ui| {
                let title = RichText::new(c.title.as_ref())
                    .size(theme::SMALL_SIZE)
                    .color(p.text_weak)
                    .strong();
                ui.add(egui::Label::new(title).truncate());
            });
        }
    });
    ui.horizontal(|ui| {
        ui.spacing_mut().item_spacing.x = CELL_GAP;
        for (c, protocol) in columns.iter().zip(protocols) {
            cell_ui(ui, c, |ui| {
                if !protocol.is_empty() {
                    // Roughly 6 points per small character; the full text is in the tooltip.
                    let max_chars = ((c.width / 6.0) as usize).max(4);
                    let shown: String = if protocol.chars().count() > max_chars {
                        protocol
                            .chars()
                            .take(max_chars - 1)
                            .chain(std::iter::once('…'))
                            .collect()
                    } else {
                        protocol.clone()
                    };
                    crate::gui::widgets::badge(ui, &shown)
                        .on_hover_text(format!("{}: {protocol}", c.title));
                }
            });
        }
    });
    ui.separator();
}
