//! The Runs panel: every run folder under the workspace's runs folder as a
//! table (settings, steps, date, final metrics), a filter, multi-select,
//! overlaid curves of the selected runs, a config diff and CSV export.

use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::runs::{RunInfo, config_diff};
use crate::gui::theme::{self, GAP_L, GAP_M, Palette};
use crate::gui::widgets::table::{self, Cell, Column};
use crate::gui::widgets::{self, section};
use crate::gui::workspace::{PanelId, Workspace};

/// Metric columns shown in the table (the rest are in the CSV export).
const MAX_METRIC_COLUMNS: usize = 5;
/// Height of the runs table.
const TABLE_HEIGHT: f32 = 260.0;

/// UI state of the Runs panel.
#[derive(Default)]
pub struct RunsPanel {
    filter: String,
    /// Where the curves plot was drawn last frame (what "Export plot PNG" saves).
    plot_rect: Option<egui::Rect>,
}

impl Panel for RunsPanel {
    fn id(&self) -> PanelId {
        PanelId::Runs
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ws.runs.is_empty().then_some("no run folders yet")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::CentralPanel::default_margins().show(ui, |ui| self.body_ui(ui, cx));
    }
}

impl RunsPanel {
    fn body_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(
                RichText::new("Runs in")
                    .size(theme::HEADING_SIZE)
                    .color(p.text_strong),
            );
            ui.label(
                RichText::new(ws.runs_dir.display().to_string())
                    .monospace()
                    .color(p.text_strong),
            );
            ui.add_space(GAP_L);
            widgets::text_field(
                ui,
                &mut self.filter,
                "Filter runs",
                "filter by name or setting",
                220.0,
                "Show only runs whose name or any setting contains this text.",
            );
            if ui
                .button("Refresh")
                .on_hover_text("Scan the runs folder again (F5).")
                .clicked()
            {
                cx.push(Command::RefreshRuns);
            }
            if ui
                .add_enabled(!ws.runs.is_empty(), egui::Button::new("Export table CSV"))
                .on_hover_text(
                    "Write the table (all metrics) to runs_table.csv in the runs folder.",
                )
                .clicked()
            {
                cx.push(Command::ExportRunsCsv);
            }
        });
        ui.add_space(GAP_M);
        if !ws.runs_scanned {
            ui.label(RichText::new("Scanning the runs folder…").color(p.text_weak));
            return;
        }
        if ws.runs.is_empty() {
            if widgets::empty_state(
                ui,
                "No runs yet",
                "Each training writes a run folder (config, metrics, checkpoint, report) here. Train a LUM first: open Train.",
                Some("Open Train"),
            ) {
                cx.push(Command::ShowPanel(PanelId::Train));
            }
            return;
        }
        let f = self.filter.trim().to_lowercase();
        let shown: Vec<(usize, &RunInfo)> = ws
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                f.is_empty()
                    || r.name.to_lowercase().contains(&f)
                    || r.config.values().any(|v| v.to_lowercase().contains(&f))
            })
            .collect();
        let metric_cols = metric_columns(&shown);
        let mut columns = vec![
            Column::text("", 16.0),
            Column::text("run", 180.0),
            Column::text("kind", 96.0),
            Column::text("status", 70.0),
            Column::text("model", 120.0),
            Column::number("steps", 60.0),
            Column::text("created (UTC)", 130.0),
        ];
        for (name, _) in &metric_cols {
            columns.push(Column {
                title: name.clone().into(),
                width: 110.0,
                align: egui::Align::Max,
            });
        }
        let mut protocols: Vec<String> = vec![String::new(); columns.len() - metric_cols.len()];
        protocols.extend(metric_cols.iter().map(|(_, p)| p.clone()));
        table::header_with_protocols(ui, &columns, &protocols);
        let clicked = table::rows(
            ui,
            "runs_table",
            &columns,
            shown.len(),
            TABLE_HEIGHT,
            None,
            |i| {
                let (_, r) = shown[i];
                let selected = ws.is_run_selected(r);
                let finals = r.final_metrics();
                let model = match (
                    r.config_any(&["pretrain.d_model", "model.d_model", "d_model"]),
                    r.config_any(&["pretrain.n_layers", "model.n_layers", "n_layers"]),
                ) {
                    (Some(d), Some(l)) => {
                        format!("d{d} × {l} layer{}", if l == "1" { "" } else { "s" })
                    }
                    (Some(d), None) => format!("d{d}"),
                    _ => "–".into(),
                };
                let status_colour = match r.summary.status.as_str() {
                    "finished" => p.positive,
                    "running" => p.accent,
                    "failed" | "interrupted" => p.error,
                    _ => p.text_weak,
                };
                let mut cells = vec![
                    if selected {
                        Cell::Coloured("●".into(), theme::run_colour(&r.name))
                    } else {
                        Cell::Coloured("○".into(), p.text_weak)
                    },
                    Cell::Mono(r.name.clone()),
                    Cell::Text(r.summary.kind.clone()),
                    Cell::Chip(r.summary.status.clone(), status_colour),
                    Cell::Text(model),
                    Cell::Text(
                        r.last_step()
                            .map(format::count)
                            .unwrap_or_else(|| "–".into()),
                    ),
                    Cell::Text(
                        r.summary
                            .created_unix
                            .map(format::datetime)
                            .unwrap_or_default(),
                    ),
                ];
                for (name, protocol) in &metric_cols {
                    cells.push(Cell::Mono(
                        finals
                            .iter()
                            // Same name and protocol; series without a headline match by name.
                            .find(|m| {
                                m.name == *name
                                    && (m.protocol == *protocol
                                        || !m.protocol.contains("leave-one-out"))
                            })
                            .map(|m| format!("{:.4}", m.value))
                            .unwrap_or_else(|| "–".into()),
                    ));
                }
                cells
            },
        );
        if let Some(i) = clicked {
            cx.push(Command::ToggleRun(shown[i].1.path.clone()));
        }
        ui.label(
            RichText::new(
                "Click rows to select runs; selected runs overlay their curves here and in Train.",
            )
            .size(theme::SMALL_SIZE)
            .color(p.text_weak),
        );
        ui.add_space(GAP_M);
        let selected: Vec<(usize, &RunInfo)> = ws
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| ws.is_run_selected(r))
            .collect();
        let mut export = None;
        ui.columns(2, |cols| {
            cols[0].horizontal(|ui| {
                section(ui, "Curves of the selected runs");
                if let Some(rect) = self.plot_rect
                    && ui
                        .small_button("Export plot PNG")
                        .on_hover_text("Save this plot, as drawn, to a PNG in the runs folder.")
                        .clicked()
                {
                    export = Some(rect);
                }
            });
            self.plot_rect = curves_ui(&mut cols[0], &selected);
            section(&mut cols[1], "Config diff");
            diff_ui(&mut cols[1], &selected, cx);
        });
        if let Some(rect) = export {
            cx.push(Command::ExportPlotPng { rect, name: "runs_curves".into() });
        }
    }
}

/// The metrics worth a column, with the protocol of their first occurrence: ranking and
/// CTR metrics first, then losses; at most [`MAX_METRIC_COLUMNS`].
fn metric_columns(runs: &[(usize, &RunInfo)]) -> Vec<(String, String)> {
    let mut cols: Vec<(String, String)> = Vec::new();
    for (_, r) in runs {
        for m in r.final_metrics() {
            if !cols.iter().any(|(n, p)| *n == m.name && *p == m.protocol) {
                cols.push((m.name, m.protocol));
            }
        }
    }
    let rank = |name: &str| {
        let n = name.to_lowercase();
        ["auc", "ndcg", "hr@", "loss"]
            .iter()
            .position(|m| n.contains(m))
            .unwrap_or(9)
    };
    cols.sort_by(|a, b| {
        rank(&a.0)
            .cmp(&rank(&b.0))
            .then_with(|| a.0.cmp(&b.0))
            .then_with(|| a.1.cmp(&b.1))
    });
    cols.truncate(MAX_METRIC_COLUMNS);
    cols
}

/// Draws the loss curves of the selected runs; returns the plot's rectangle (for the PNG export).
fn curves_ui(ui: &mut Ui, selected: &[(usize, &RunInfo)]) -> Option<egui::Rect> {
    let with_loss: Vec<&(usize, &RunInfo)> = selected
        .iter()
        .filter(|(_, r)| r.series("loss").is_some())
        .collect();
    if with_loss.is_empty() {
        widgets::empty_area(ui, 220.0, "Select runs with a loss curve in metrics.jsonl.");
        return None;
    }
    // The scope's rectangle holds the axes and their labels too (the plot's own is the frame).
    let shown = ui.scope(|ui| {
        Plot::new("runs_curves")
            .height(240.0)
            .legend(Legend::default())
            .x_axis_label("step")
            .show(ui, |plot| {
                for (_, r) in &with_loss {
                    if let Some(s) = r.series("loss") {
                        plot.line(
                            Line::new(r.name.clone(), PlotPoints::from(s.points.clone()))
                                .color(theme::run_colour(&r.name)),
                        );
                    }
                }
            });
    });
    Some(shown.response.rect)
}

fn diff_ui(ui: &mut Ui, selected: &[(usize, &RunInfo)], cx: &mut PanelCx<'_>) {
    let p = Palette::of(ui);
    if selected.len() < 2 {
        widgets::empty_area(
            ui,
            80.0,
            "Select two or more runs: only the settings that differ are listed.",
        );
    } else {
        let runs: Vec<&RunInfo> = selected.iter().map(|(_, r)| *r).collect();
        let diff = config_diff(&runs);
        if diff.is_empty() {
            ui.label(RichText::new("The selected runs have identical configs.").color(p.text_weak));
        } else {
            egui::ScrollArea::vertical()
                .id_salt("config_diff")
                .max_height(220.0)
                .show(ui, |ui| {
                    egui::Grid::new("config_diff_grid")
                        .striped(true)
                        .show(ui, |ui| {
                            ui.label(RichText::new("setting").color(p.text_weak));
                            for (_, r) in selected {
                                ui.label(
                                    RichText::new(&r.name)
                                        .monospace()
                                        .color(theme::run_colour(&r.name)),
                                );
                            }
                            ui.end_row();
                            for (key, values) in &diff {
                                ui.label(RichText::new(key).monospace());
                                for v in values {
                                    ui.label(RichText::new(v).monospace().color(p.warning));
                                }
                                ui.end_row();
                            }
                        });
                });
        }
    }
    ui.add_space(GAP_M);
    for (_, r) in selected {
        // Only a run that did not finish can be continued.
        let resumable = matches!(
            r.summary.status.as_str(),
            "stopped" | "interrupted" | "failed"
        );
        if !r.has_checkpoint || !resumable {
            continue;
        }
        if ui
            .button(format!("Resume {}", r.name))
            .on_hover_text("Continue training this run from its checkpoint.")
            .clicked()
        {
            cx.push(Command::ResumeRun(r.path.clone()));
        }
    }
}
