//! The window chrome around the panels: top bar (title, data, device, jobs,
//! theme, help), left navigation, bottom status bar, notices, the help
//! overlay, the jobs popover and the drag-and-drop overlay.

use egui::{
    Align, Align2, Color32, FontId, Frame, Layout, Margin, RichText, Role, Sense, Stroke, Ui,
    WidgetInfo, vec2,
};

use crate::gui::app::Shell;
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::theme::{self, GAP_M, Palette};
use crate::gui::workspace::{PanelId, Workspace};

/// Height of one navigation entry.
const NAV_ROW_HEIGHT: f32 = 30.0;

/// Keyboard shortcuts, as the help overlay lists them.
pub const SHORTCUTS: [(&str, &str); 8] = [
    (
        "1 – 7",
        "switch panel: Flow, Data, Tokens, Train, Attention, Ranking, Runs",
    ),
    ("F1 or ?", "show or hide this help"),
    ("Ctrl+O", "open a behaviour log"),
    ("drop a file", "load it (Data panel)"),
    ("T", "toggle dark / light theme"),
    ("F5", "rescan the runs folder"),
    ("Esc", "close this help"),
    ("double-click a plot", "reset its zoom"),
];

fn bar_frame(ui: &Ui) -> Frame {
    let p = Palette::of(ui);
    Frame::new()
        .fill(p.panel)
        .inner_margin(Margin::symmetric(10, 4))
        .stroke(Stroke::NONE)
}

/// The top bar; pushes commands for its chips and buttons.
pub fn top_bar_ui(ui: &mut Ui, ws: &Workspace, shell: &Shell, commands: &mut Vec<Command>) {
    let p = Palette::of(ui);
    egui::Panel::top("top_bar")
        .exact_size(theme::TOP_BAR_HEIGHT)
        .frame(bar_frame(ui))
        .show(ui, |ui| {
            ui.horizontal_centered(|ui| {
                ui.label(
                    RichText::new("LumLab")
                        .size(16.0)
                        .strong()
                        .color(p.text_strong),
                );
                ui.add_space(GAP_M);
                let data_text = match &ws.data {
                    Some(d) => d.chip_text(),
                    None if ws.loading.is_some() => "loading…".to_string(),
                    None => "no data loaded".to_string(),
                };
                let data =
                    ui.add(egui::Button::new(RichText::new(data_text).color(p.text)).fill(p.card));
                if data
                    .on_hover_text("The loaded behaviour log: open the Data panel")
                    .clicked()
                {
                    commands.push(Command::ShowPanel(PanelId::Data));
                }
                ui.add(
                    egui::Button::new(RichText::new(ws.device.label()).color(p.text))
                        .fill(p.card)
                        .sense(Sense::hover()),
                )
                .on_hover_text("Compute device for training and inference.");
                let jobs_text = match ws.jobs.first() {
                    Some(j) => {
                        let eta = j
                            .eta_secs
                            .map(|s| format!(" ETA {}", format::duration(s)))
                            .unwrap_or_default();
                        let n = ws.jobs.len();
                        format!(
                            "● {n} job{} {}{eta}",
                            if n == 1 { "" } else { "s" },
                            format::percent(j.progress)
                        )
                    }
                    None => "no jobs".to_string(),
                };
                let colour = if ws.jobs.is_empty() {
                    p.text_weak
                } else {
                    p.accent
                };
                if ui
                    .add(egui::Button::new(RichText::new(jobs_text).color(colour)).fill(p.card))
                    .on_hover_text("Running jobs: click to list them")
                    .clicked()
                {
                    commands.push(Command::ToggleJobs);
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .button(RichText::new("?").strong())
                        .on_hover_text("Keyboard shortcuts and help (F1)")
                        .clicked()
                    {
                        commands.push(Command::ToggleHelp);
                    }
                    let theme_text = if shell.dark { "◐ Light" } else { "◐ Dark" };
                    if ui
                        .button(theme_text)
                        .on_hover_text("Switch between the dark and the light theme (T)")
                        .clicked()
                    {
                        commands.push(Command::ToggleTheme);
                    }
                });
            });
        });
}

/// The left navigation, in flow order; `missing[i]` puts a dot and a tooltip on panel i.
pub fn nav_ui(
    ui: &mut Ui,
    current: PanelId,
    missing: &[Option<&'static str>],
    commands: &mut Vec<Command>,
) {
    let p = Palette::of(ui);
    egui::Panel::left("nav")
        .exact_size(theme::NAV_WIDTH)
        .resizable(false)
        .frame(bar_frame(ui).inner_margin(Margin::symmetric(6, 10)))
        .show(ui, |ui| {
            ui.spacing_mut().item_spacing.y = 2.0;
            for (i, id) in PanelId::ALL.iter().enumerate() {
                let selected = *id == current;
                let (rect, response) = ui.allocate_exact_size(
                    vec2(ui.available_width(), NAV_ROW_HEIGHT),
                    Sense::click(),
                );
                response
                    .widget_info(|| WidgetInfo::selected(Role::Button, true, selected, id.title()));
                let painter = ui.painter();
                if selected {
                    painter.rect_filled(rect, 4, p.tint(p.accent));
                    let bar = egui::Rect::from_min_size(rect.min, vec2(3.0, rect.height()));
                    painter.rect_filled(bar, 1, p.accent);
                } else if response.hovered() {
                    painter.rect_filled(rect, 4, p.card);
                }
                let text_colour = if selected { p.text_strong } else { p.text };
                painter.text(
                    rect.left_center() + vec2(14.0, 0.0),
                    Align2::LEFT_CENTER,
                    id.title(),
                    FontId::proportional(theme::BODY_SIZE + 0.5),
                    text_colour,
                );
                painter.text(
                    rect.right_center() - vec2(10.0, 0.0),
                    Align2::RIGHT_CENTER,
                    format!("{}", i + 1),
                    FontId::monospace(theme::SMALL_SIZE),
                    p.text_weak,
                );
                let mut response = response;
                if let Some(Some(why)) = missing.get(i) {
                    painter.circle_filled(rect.right_center() - vec2(30.0, 0.0), 3.0, p.warning);
                    response =
                        response.on_hover_text(format!("{} (key {}): {why}", id.title(), i + 1));
                } else {
                    response = response.on_hover_text(format!("{} (key {})", id.title(), i + 1));
                }
                if response.clicked() {
                    commands.push(Command::ShowPanel(*id));
                }
            }
            ui.with_layout(Layout::bottom_up(Align::Min), |ui| {
                ui.label(
                    RichText::new("keys 1–7 · F1 help")
                        .size(theme::SMALL_SIZE)
                        .color(p.text_weak),
                );
            });
        });
}

/// The bottom status bar: the running job's progress and ETA, then the last event.
pub fn status_bar_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    egui::Panel::bottom("status_bar")
        .exact_size(theme::STATUS_BAR_HEIGHT)
        .frame(bar_frame(ui))
        .show(ui, |ui| {
            ui.horizontal_centered(|ui| {
                match ws.jobs.first() {
                    Some(j) => {
                        ui.label(
                            RichText::new(format!("{} · {}", j.name, j.message)).color(p.text),
                        );
                        ui.add(
                            egui::ProgressBar::new(j.progress)
                                .desired_width(220.0)
                                .desired_height(12.0)
                                .fill(p.accent),
                        );
                        ui.label(RichText::new(format::percent(j.progress)).monospace());
                        if let Some(eta) = j.eta_secs {
                            ui.label(
                                RichText::new(format!("ETA {}", format::duration(eta)))
                                    .monospace()
                                    .color(p.text_weak),
                            );
                        }
                    }
                    None => {
                        ui.label(RichText::new("idle").color(p.text_weak));
                    }
                }
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if let Some(ev) = &ws.last_event {
                        ui.add(egui::Label::new(RichText::new(ev).color(p.text)).truncate());
                        ui.label(RichText::new("last event:").color(p.text_weak));
                    }
                });
            });
        });
}

/// A one-line notice above the panel; returns true when dismissed.
pub fn notice_ui(ui: &mut Ui, notice: &crate::gui::workspace::Notice) -> bool {
    let p = Palette::of(ui);
    let colour = if notice.is_error { p.error } else { p.warning };
    let mut dismissed = false;
    egui::Panel::top("notice")
        .frame(
            Frame::new()
                .fill(p.tint(colour))
                .inner_margin(Margin::symmetric(12, 5)),
        )
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.label(RichText::new(if notice.is_error { "×" } else { "●" }).color(colour));
                ui.label(RichText::new(&notice.text).color(p.text_strong));
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    if ui
                        .small_button("Dismiss")
                        .on_hover_text("Hide this notice")
                        .clicked()
                    {
                        dismissed = true;
                    }
                });
            });
        });
    dismissed
}

/// The help overlay; returns true when it should close.
pub fn help_ui(ctx: &egui::Context) -> bool {
    let mut close = false;
    let modal = egui::Modal::new(egui::Id::unique("help_overlay")).show(ctx, |ui| {
        let p = Palette::of(ui);
        ui.set_width(560.0);
        ui.label(RichText::new("LumLab · keyboard shortcuts").size(theme::HEADING_SIZE).color(p.text_strong));
        ui.add_space(GAP_M);
        egui::Grid::new("shortcuts").num_columns(2).spacing([24.0, 6.0]).striped(true).show(ui, |ui| {
            for (keys, what) in SHORTCUTS {
                ui.label(RichText::new(keys).monospace().color(p.accent));
                ui.label(what);
                ui.end_row();
            }
        });
        ui.add_space(GAP_M);
        ui.label(RichText::new("The flow: load a log (Data) → tokenize (Tokens) → pre-train a LUM (Train) → look inside (Attention) → CTR with LUM features (Ranking) → compare runs (Runs).").color(p.text_weak));
        ui.add_space(GAP_M);
        if ui.button("Close").on_hover_text("Close the help (Esc)").clicked() {
            close = true;
        }
    });
    close || modal.should_close()
}

/// The jobs popover under the top bar; returns true when it should close.
pub fn jobs_popover_ui(ctx: &egui::Context, ws: &Workspace, commands: &mut Vec<Command>) -> bool {
    let mut close = false;
    egui::Window::new("Jobs")
        .collapsible(false)
        .resizable(false)
        .anchor(Align2::LEFT_TOP, vec2(420.0, theme::TOP_BAR_HEIGHT + 4.0))
        .show(ctx, |ui| {
            let p = Palette::of(ui);
            if ws.jobs.is_empty() {
                ui.label(RichText::new("No jobs running.").color(p.text_weak));
            }
            for j in &ws.jobs {
                ui.horizontal(|ui| {
                    ui.label(&j.name);
                    ui.add(
                        egui::ProgressBar::new(j.progress)
                            .desired_width(160.0)
                            .show_percentage(),
                    );
                    if ui
                        .small_button("Stop")
                        .on_hover_text("Cancel this job")
                        .clicked()
                    {
                        // Training jobs are labelled by the engine ("pre-train ..."); the rest is loading.
                        let training = ws
                            .training
                            .as_ref()
                            .is_some_and(|t| t.is_active() && t.label == j.name);
                        commands.push(if training {
                            Command::StopTraining
                        } else {
                            Command::CancelLoading
                        });
                    }
                });
            }
            if ui
                .small_button("Close")
                .on_hover_text("Hide the jobs list")
                .clicked()
            {
                close = true;
            }
        });
    close
}

/// While files hover over the window: a full-window "drop to load" overlay.
pub fn drop_overlay_ui(ctx: &egui::Context) {
    let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
    if !hovering {
        return;
    }
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Foreground,
        egui::Id::unique("drop_overlay"),
    ));
    let rect = ctx.content_rect();
    painter.rect_filled(rect, 0, Color32::from_black_alpha(170));
    painter.text(
        rect.center(),
        Align2::CENTER_CENTER,
        "Drop to load this behaviour log",
        FontId::proportional(24.0),
        Color32::WHITE,
    );
}
