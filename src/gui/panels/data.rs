//! The Data panel: open a behaviour log (file dialog or drag and drop), map
//! unknown columns, see the load report, the figures and histograms, and
//! browse one user's timeline.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{RichText, Ui};
use egui_plot::{Bar, BarChart, Plot, PlotPoint, PlotPoints, Points, Text};

use super::{Panel, PanelCx};
use crate::data::formats::Role;
use crate::data::{Action, Dataset, NONE};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::mapping::{self, ColumnMapping, HeaderPreview};
use crate::gui::theme::{self, GAP_L, GAP_M, Palette};
use crate::gui::widgets::table::{self, Cell, Column};
use crate::gui::widgets::{self, badge, section, stat_card};
use crate::gui::workspace::{LoadedData, PanelId, Workspace};

/// Width of the left (source) column.
const LEFT_WIDTH: f32 = 250.0;
/// Width of the right (users and timeline) column.
const RIGHT_WIDTH: f32 = 540.0;
/// Height of the user list.
const USER_LIST_HEIGHT: f32 = 210.0;
/// Height of the strip plot under the timeline.
const STRIP_HEIGHT: f32 = 150.0;
/// Height of the sequence-length histogram.
const HIST_HEIGHT: f32 = 250.0;
/// Height of the by-action / by-scenario charts.
const BARS_HEIGHT: f32 = 210.0;

const USER_COLUMNS: [Column; 3] = [
    Column::text("user", 280.0),
    Column::number("behaviours", 100.0),
    Column::number("impressions", 100.0),
];
const TIMELINE_COLUMNS: [Column; 6] = [
    Column::text("time (UTC)", 84.0),
    Column::text("action", 84.0),
    Column::text("scenario", 54.0),
    Column::text("query", 92.0),
    Column::text("item", 112.0),
    Column::text("category", 62.0),
];

/// Users matching the search box, cached per (dataset, query).
#[derive(Default)]
struct UserFilter {
    dataset_key: usize,
    query: String,
    users: Vec<u32>,
}

/// UI state of the Data panel.
#[derive(Default)]
pub struct DataPanel {
    search: String,
    filter: Option<UserFilter>,
    /// The mapping being edited, with the file it belongs to.
    mapping: Option<(PathBuf, ColumnMapping)>,
}

impl Panel for DataPanel {
    fn id(&self) -> PanelId {
        PanelId::Data
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ws.data.is_none().then_some("no behaviour log loaded")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::Panel::left("data_source")
            .exact_size(LEFT_WIDTH)
            .resizable(false)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("data_source_scroll")
                    .show(ui, |ui| source_column_ui(ui, cx));
            });
        if let Some(data) = &cx.workspace.data
            && cx.workspace.mapping.is_none()
        {
            egui::Panel::right("data_users")
                .exact_size(RIGHT_WIDTH)
                .resizable(false)
                .show(ui, |ui| {
                    self.users_column_ui(ui, cx, data);
                });
        }
        egui::CentralPanel::default_margins().show(ui, |ui| {
            if let Some(preview) = &cx.workspace.mapping {
                self.mapping_ui(ui, cx, preview);
            } else if let Some(data) = &cx.workspace.data {
                figures_ui(ui, data);
            } else if cx.workspace.loading.is_some() {
                widgets::empty_state(
                    ui,
                    "Loading…",
                    "The log is read on a background thread; the window stays responsive.",
                    None,
                );
            } else if widgets::empty_state(
                ui,
                "No behaviour log loaded",
                "Open a CSV/TSV log with user, time and item columns, or drop one onto the window.",
                Some("Open file…"),
            ) {
                cx.push(Command::OpenFileDialog);
            }
        });
    }
}

fn source_column_ui(ui: &mut Ui, cx: &mut PanelCx<'_>) {
    let ws = cx.workspace;
    let p = Palette::of(ui);
    ui.add_space(GAP_M);
    section(ui, "Source");
    match &ws.data {
        Some(d) => {
            ui.label(
                RichText::new(d.file_name())
                    .monospace()
                    .color(p.text_strong),
            )
            .on_hover_text(d.path.display().to_string());
        }
        None => {
            ui.label(RichText::new("no file").color(p.text_weak));
        }
    }
    ui.horizontal(|ui| {
        if ui
            .button("Open file…")
            .on_hover_text("Pick a behaviour log with the system file dialog (Ctrl+O).")
            .clicked()
        {
            cx.push(Command::OpenFileDialog);
        }
        ui.label(RichText::new("or drop a file here").color(p.text_weak));
    });
    if let Some(job) = &ws.loading {
        ui.add_space(GAP_M);
        ui.add(
            egui::ProgressBar::new(job.progress)
                .show_percentage()
                .desired_height(16.0),
        );
        ui.horizontal(|ui| {
            let eta = job
                .eta_secs
                .map(|s| format!(" · ETA {}", format::duration(s)))
                .unwrap_or_default();
            ui.label(RichText::new(format!("{}{eta}", job.message)).color(p.text_weak));
            if ui
                .small_button("Cancel")
                .on_hover_text("Stop loading; the current data stays.")
                .clicked()
            {
                cx.push(Command::CancelLoading);
            }
        });
    }
    if let Some(err) = &ws.data_error {
        ui.add_space(GAP_M);
        ui.label(RichText::new(err).color(p.error));
    }
    if ws.mapping.is_some() {
        ui.add_space(GAP_M);
        ui.label(RichText::new("Column mapping needed: the header was not recognised. Map the columns on the right.").color(p.warning));
    }
    let Some(d) = &ws.data else {
        ui.add_space(GAP_L);
        section(ui, "Reads");
        ui.label(RichText::new("Native CSV / TSV / JSONL logs with a header naming user_id, timestamp and item_id (optional action, query, scenario, position, label, rating); Taobao UserBehavior, MovieLens, SASRec and Alimama files by their preset. Anything else goes through the column mapping. An items table beside the log adds titles and categories.").color(p.text_weak));
        return;
    };
    let info = &d.report;
    ui.add_space(GAP_L);
    section(ui, "Format");
    widgets::key_value(
        ui,
        "format",
        RichText::new(info.format.name()).color(p.text_strong),
    );
    ui.label(
        RichText::new(&info.detection)
            .color(p.text_weak)
            .size(theme::SMALL_SIZE),
    );
    widgets::key_value(
        ui,
        "rows read",
        RichText::new(format::count(info.rows_read)).monospace(),
    );
    let skipped_colour = if info.rows_skipped > 0 {
        p.warning
    } else {
        p.text
    };
    widgets::key_value(
        ui,
        "rows skipped",
        RichText::new(format::count(info.rows_skipped))
            .monospace()
            .color(skipped_colour),
    );
    if info.from_cache {
        widgets::key_value(ui, "cache", "reopened from the binary cache");
    }
    if !info.fingerprint.is_empty() {
        widgets::key_value(
            ui,
            "fingerprint",
            RichText::new(&info.fingerprint)
                .monospace()
                .color(p.text_weak),
        )
        .on_hover_text("Identifies this exact input in run folders and tokenizer caches.");
    }
    if let Some(items) = &info.items_file {
        widgets::key_value(
            ui,
            "items table",
            RichText::new(
                items
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            )
            .monospace(),
        );
    }
    if !info.first_errors.is_empty() {
        ui.add_space(GAP_M);
        section(ui, "Bad rows (first examples)");
        for e in &info.first_errors {
            ui.label(
                RichText::new(without_folder(e, &d.path))
                    .monospace()
                    .size(theme::SMALL_SIZE + 0.5)
                    .color(p.error),
            )
            .on_hover_text(e);
        }
    }
    if !info.notes.is_empty() {
        ui.add_space(GAP_M);
        section(ui, "Notes");
        for n in &info.notes {
            ui.label(RichText::new(format!("· {}", without_folder(n, &d.path))).color(p.text_weak));
        }
    }
}

fn figures_ui(ui: &mut Ui, data: &LoadedData) {
    let s = &data.stats;
    let p = Palette::of(ui);
    let ds = data.dataset.as_ref();
    egui::ScrollArea::vertical()
        .id_salt("data_figures")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let gap = GAP_M;
            let w = ((ui.available_width() - 4.0 * gap) / 5.0).max(110.0);
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = gap;
                let described = ds.item_table.described.iter().filter(|d| **d).count() as u64;
                stat_card(
                    ui,
                    "Users",
                    &format::count(s.users),
                    &format!(
                        "p50 {} · p90 {}",
                        format::count(s.seq_len.p50),
                        format::count(s.seq_len.p90)
                    ),
                    w,
                );
                let items_sub = if described > 0 {
                    format!("{} described", format::count(described))
                } else {
                    "no items table".into()
                };
                stat_card(ui, "Items", &format::count(s.items), &items_sub, w);
                stat_card(
                    ui,
                    "Behaviours",
                    &format::count(s.behaviors),
                    &format!("{} impressions", format::count(s.impressions)),
                    w,
                );
                let (q, q_sub) = if ds.has_query() {
                    (format::count(s.queries), "distinct queries")
                } else {
                    ("–".into(), "no query column")
                };
                stat_card(ui, "Queries", &q, q_sub, w);
                let time_range = (s.behaviors > 0).then_some((s.time_min, s.time_max));
                let (span, span_sub) = match time_range {
                    Some((lo, hi)) => {
                        let (a, b) = (format::date(lo), format::date(hi));
                        // Month-day when the year is the same, so the line fits the card.
                        let cut = if a[..4] == b[..4] { 5 } else { 2 };
                        (
                            format::span(hi - lo),
                            format!("{} → {}", &a[cut..], &b[cut..]),
                        )
                    }
                    None => ("–".into(), String::new()),
                };
                stat_card(ui, "Time span", &span, &span_sub, w);
            });
            ui.add_space(GAP_L);

            ui.horizontal(|ui| {
                ui.label(
                    RichText::new("LUM sequence length per user")
                        .strong()
                        .color(p.text_strong),
                );
                badge(ui, "behaviours excl. impressions · log₂ bins");
            });
            ui.horizontal(|ui| {
                for (k, v) in [
                    ("p50", s.seq_len.p50),
                    ("p90", s.seq_len.p90),
                    ("p99", s.seq_len.p99),
                    ("max", s.seq_len.max),
                ] {
                    ui.label(RichText::new(k).color(p.text_weak));
                    ui.label(
                        RichText::new(format::count(v))
                            .monospace()
                            .color(p.text_strong),
                    );
                    ui.add_space(GAP_M);
                }
            });
            seq_len_plot_ui(ui, data);
            ui.add_space(GAP_L);

            let half = (ui.available_width() - GAP_L) / 2.0;
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(half);
                    ui.label(
                        RichText::new("Behaviours by action")
                            .strong()
                            .color(p.text_strong),
                    );
                    let bars: Vec<(String, u64, egui::Color32)> = s
                        .by_action
                        .iter()
                        .map(|(a, n)| {
                            (
                                a.clone(),
                                *n,
                                p.action(Action::parse(a).unwrap_or(Action::Other)),
                            )
                        })
                        .collect();
                    category_chart_ui(ui, "by_action", &bars);
                });
                ui.add_space(GAP_L);
                ui.vertical(|ui| {
                    ui.set_width(half);
                    ui.label(
                        RichText::new("Behaviours by scenario")
                            .strong()
                            .color(p.text_strong),
                    );
                    if s.by_scenario.is_empty() {
                        widgets::empty_area(ui, BARS_HEIGHT, "This log has no scenario column.");
                    } else {
                        let bars: Vec<(String, u64, egui::Color32)> = s
                            .by_scenario
                            .iter()
                            .enumerate()
                            .map(|(i, (sc, n))| (sc.clone(), *n, theme::series_colour(i + 5)))
                            .collect();
                        category_chart_ui(ui, "by_scenario", &bars);
                    }
                });
            });
            if s.impressions > 0 {
                ui.add_space(GAP_L);
                ui.horizontal(|ui| {
                    ui.label(RichText::new("CTR samples").strong().color(p.text_strong));
                    ui.label(format!(
                        "{} impressions, {} clicked ({:.2}% CTR)",
                        format::count(s.impressions),
                        format::count(s.clicks_on_impressions),
                        100.0 * s.clicks_on_impressions as f64 / s.impressions as f64
                    ));
                });
            }
        });
}

fn seq_len_plot_ui(ui: &mut Ui, data: &LoadedData) {
    let p = Palette::of(ui);
    let all = &data.stats.seq_len_hist;
    let first = all.iter().position(|b| b.count > 0).unwrap_or(0);
    let last = all.iter().rposition(|b| b.count > 0).map_or(0, |i| i + 1);
    let bins = all[first..last.max(first)].to_vec();
    let bars: Vec<Bar> = bins
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let range = if b.lo == b.hi {
                format::count(b.lo)
            } else {
                format!("{}–{}", format::count(b.lo), format::count(b.hi))
            };
            Bar::new(i as f64, b.count as f64).width(0.85).name(format!(
                "{range} behaviours: {} users",
                format::count(b.count)
            ))
        })
        .collect();
    let labels: Vec<String> = bins.iter().map(|b| format::compact(b.lo)).collect();
    Plot::new("seq_len_hist")
        .height(HIST_HEIGHT)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .show_grid([false, true])
        .x_axis_label("behaviours per user (log₂ bins, lower edge)")
        .y_axis_label("users")
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            labels.get(i as usize).cloned().unwrap_or_default()
        })
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new("users", bars).color(p.accent));
        });
}

fn category_chart_ui(ui: &mut Ui, id: &str, bars: &[(String, u64, egui::Color32)]) {
    let text = Palette::of(ui).text;
    let max = bars.iter().map(|b| b.1).max().unwrap_or(1) as f64;
    let names: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    Plot::new(id)
        .height(BARS_HEIGHT)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .show_grid([true, false])
        .include_x(0.0)
        .y_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            names.get(i as usize).cloned().unwrap_or_default()
        })
        .show_axes([false, true])
        .include_x(max * 1.5)
        .show(ui, |plot| {
            for (i, (name, n, colour)) in bars.iter().enumerate() {
                let bar = Bar::new(i as f64, *n as f64)
                    .width(0.7)
                    .name(format!("{name}: {}", format::count(*n)));
                plot.bar_chart(
                    BarChart::new(name.clone(), vec![bar])
                        .horizontal()
                        .color(*colour),
                );
                let label = RichText::new(format!(" {}", format::count(*n)))
                    .monospace()
                    .color(text);
                plot.text(
                    Text::new(
                        format!("{name} count"),
                        PlotPoint::new(*n as f64, i as f64),
                        label,
                    )
                    .anchor(egui::Align2::LEFT_CENTER),
                );
            }
        });
}

impl DataPanel {
    fn filtered_users(&mut self, data: &LoadedData) -> &[u32] {
        let key = Arc::as_ptr(&data.dataset) as usize;
        let stale = self
            .filter
            .as_ref()
            .is_none_or(|f| f.dataset_key != key || f.query != self.search);
        if stale {
            let ds = data.dataset.as_ref();
            let q = self.search.trim().to_lowercase();
            let users = (0..ds.n_users() as u32)
                .filter(|u| q.is_empty() || ds.users.name(*u).to_lowercase().contains(&q))
                .collect();
            self.filter = Some(UserFilter {
                dataset_key: key,
                query: self.search.clone(),
                users,
            });
        }
        self.filter
            .as_ref()
            .map(|f| f.users.as_slice())
            .unwrap_or(&[])
    }

    fn users_column_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>, data: &LoadedData) {
        let p = Palette::of(ui);
        let ds: &Dataset = data.dataset.as_ref();
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Users").strong().color(p.text_strong));
            widgets::text_field(
                ui,
                &mut self.search,
                "Search users",
                "search user id",
                200.0,
                "Filter the list by a part of the user id.",
            );
        });
        let selected_user = cx.workspace.selected_user;
        let users = self.filtered_users(data).to_vec();
        ui.label(
            RichText::new(format!(
                "{} of {} users",
                format::count(users.len() as u64),
                format::count(ds.n_users() as u64)
            ))
            .size(theme::SMALL_SIZE)
            .color(p.text_weak),
        );
        table::header(ui, &USER_COLUMNS);
        let selected_row = selected_user.and_then(|u| users.iter().position(|x| *x == u));
        let clicked = table::rows(
            ui,
            "user_list",
            &USER_COLUMNS,
            users.len(),
            USER_LIST_HEIGHT,
            selected_row,
            |i| {
                let u = users[i];
                let total = ds.seq_len(u);
                let seq = lum_seq_len(ds, u);
                vec![
                    Cell::Mono(ds.users.name(u).to_string()),
                    Cell::Text(format::count(seq as u64)),
                    Cell::Text(format::count((total - seq) as u64)),
                ]
            },
        );
        if let Some(i) = clicked {
            cx.push(Command::SelectUser(Some(users[i])));
        }
        ui.add_space(GAP_M);
        ui.separator();
        let Some(u) = selected_user.filter(|u| (*u as usize) < ds.n_users()) else {
            widgets::empty_area(ui, 80.0, "Pick a user to see their timeline.");
            return;
        };
        ui.horizontal(|ui| {
            ui.label(RichText::new("Timeline").strong().color(p.text_strong));
            ui.label(
                RichText::new(ds.users.name(u))
                    .monospace()
                    .color(p.text_strong),
            );
            let first_year = range_year(ds, u);
            ui.label(
                RichText::new(format!(
                    "{} rows, time order{first_year}",
                    format::count(ds.seq_len(u) as u64)
                ))
                .color(p.text_weak),
            );
        });
        let range = ds.user_range(u);
        table::header(ui, &TIMELINE_COLUMNS);
        let table_height = (ui.available_height() - STRIP_HEIGHT - 40.0).max(120.0);
        table::rows(
            ui,
            "timeline",
            &TIMELINE_COLUMNS,
            range.len(),
            table_height,
            None,
            |i| timeline_row(ds, range.start + i, p),
        );
        ui.add_space(GAP_M);
        strip_plot_ui(ui, ds, u);
    }

    fn mapping_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>, preview: &HeaderPreview) {
        let p = Palette::of(ui);
        if self
            .mapping
            .as_ref()
            .is_none_or(|(path, _)| *path != preview.path)
        {
            self.mapping = Some((preview.path.clone(), preview.guess.clone()));
        }
        let Some((_, mapping)) = self.mapping.as_mut() else {
            return;
        };
        ui.add_space(GAP_M);
        ui.label(
            RichText::new(format!(
                "Map the columns of {}",
                preview
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ))
            .size(theme::HEADING_SIZE)
            .color(p.text_strong),
        );
        ui.label(RichText::new("LumLab did not recognise this header. Pick what each column means: user, time and item are required, the rest optional.").color(p.text_weak));
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.checkbox(&mut mapping.has_header, "First row is a header")
                .on_hover_text("Untick when the first row is already data (Taobao's UserBehavior.csv has no header).");
            ui.label(RichText::new(format!("delimiter {}", match mapping.delimiter { b'\t' => "tab".to_string(), d => format!("'{}'", d as char) })).color(p.text_weak));
        });
        ui.add_space(GAP_M);
        // The raw first rows, so the header checkbox can move the first row in or out of the data.
        let mut raw: Vec<&Vec<String>> = Vec::new();
        if preview.guess.has_header {
            raw.push(&preview.headers);
        }
        raw.extend(preview.rows.iter());
        let (names, data_rows): (Vec<String>, Vec<&Vec<String>>) = if mapping.has_header {
            (
                raw.first().map(|r| r.to_vec()).unwrap_or_default(),
                raw.iter().skip(1).copied().collect(),
            )
        } else {
            (
                (1..=preview.headers.len())
                    .map(|i| format!("column {i}"))
                    .collect(),
                raw.clone(),
            )
        };
        let n_cols = mapping.roles.len();
        egui::ScrollArea::horizontal()
            .id_salt("mapping_scroll")
            .show(ui, |ui| {
                egui::Grid::new("mapping_grid")
                    .striped(true)
                    .spacing([GAP_L, 4.0])
                    .show(ui, |ui| {
                        for c in 0..n_cols {
                            ui.label(
                                RichText::new(names.get(c).map(String::as_str).unwrap_or(""))
                                    .strong()
                                    .color(p.text_strong),
                            );
                        }
                        ui.end_row();
                        for c in 0..n_cols {
                            let name = names.get(c).cloned().unwrap_or_default();
                            let role = &mut mapping.roles[c];
                            ui.name_inputs(format!("Role of column {}", c + 1), |ui| {
                                egui::ComboBox::from_id_salt(("role", c))
                                    .selected_text(role.name())
                                    .width(96.0)
                                    .show_ui(ui, |ui| {
                                        for r in Role::ALL {
                                            ui.selectable_value(role, r, r.name())
                                                .on_hover_text(mapping::role_help(r));
                                        }
                                    })
                            })
                            .response
                            .on_hover_text(format!(
                                "What column '{name}' holds. {}",
                                mapping::role_help(*role)
                            ));
                        }
                        ui.end_row();
                        for row in &data_rows {
                            for c in 0..n_cols {
                                ui.label(
                                    RichText::new(row.get(c).map(String::as_str).unwrap_or(""))
                                        .monospace()
                                        .color(p.text),
                                );
                            }
                            ui.end_row();
                        }
                    });
            });
        ui.add_space(GAP_M);
        let valid = mapping.validate();
        match &valid {
            Ok(()) => ui.label(RichText::new("● ready to load").color(p.positive)),
            Err(reason) => ui.label(RichText::new(format!("○ {reason}")).color(p.warning)),
        };
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            if ui
                .add_enabled(
                    valid.is_ok(),
                    widgets::primary_button("Load with this mapping"),
                )
                .clicked()
            {
                cx.push(Command::LoadMapped {
                    path: preview.path.clone(),
                    mapping: mapping.clone(),
                });
            }
            if ui
                .button("Cancel")
                .on_hover_text("Leave the mapping step without loading.")
                .clicked()
            {
                cx.push(Command::CancelMapping);
            }
        });
    }
}

/// ", from 2024" (the timeline shows month-day only; the year is said once).
fn range_year(ds: &Dataset, u: u32) -> String {
    ds.user_range(u)
        .next()
        .map(|r| format!(", from {}", &format::date(ds.time(r))[..4]))
        .unwrap_or_default()
}

fn timeline_row(ds: &Dataset, r: usize, p: Palette) -> Vec<Cell> {
    let action = ds.action_at(r);
    let q = ds.query_at(r);
    let item = ds.item[r];
    let title = ds.item_table.title(item);
    let mut action_text = action.name().to_string();
    if action == Action::Impression
        && let Some(l) = ds.label_at(r)
    {
        action_text = if l == 1 {
            "imp · clicked".into()
        } else {
            "impression".into()
        };
    }
    vec![
        Cell::Mono(format::datetime(ds.time(r))[5..].to_string()),
        Cell::Chip(action_text, p.action(action)),
        if ds.has_scenario() {
            Cell::Text(ds.scenario_at(r).name().to_string())
        } else {
            Cell::Empty
        },
        if q != NONE {
            Cell::Coloured(ds.queries.name(q).to_string(), p.token_query)
        } else {
            Cell::Empty
        },
        if title.is_empty() {
            Cell::Mono(ds.items.name(item).to_string())
        } else {
            Cell::Text(title.to_string())
        },
        ds.item_table
            .category_name(item)
            .map(|c| Cell::Text(c.to_string()))
            .unwrap_or(Cell::Empty),
    ]
}

fn strip_plot_ui(ui: &mut Ui, ds: &Dataset, u: u32) {
    let p = Palette::of(ui);
    let range = ds.user_range(u);
    let Some(t0) = range.clone().next().map(|r| ds.time(r)) else {
        return;
    };
    let lanes: Vec<Action> = Action::ALL
        .iter()
        .copied()
        .filter(|a| range.clone().any(|r| ds.action_at(r) == *a))
        .collect();
    let names: Vec<String> = lanes.iter().map(|a| a.name().to_string()).collect();
    ui.label(
        RichText::new("Behaviours over time (days since the first)")
            .size(theme::SMALL_SIZE)
            .color(p.text_weak),
    );
    Plot::new(("strip", u))
        .height(STRIP_HEIGHT)
        .allow_scroll(false)
        .show_grid([true, false])
        .include_y(-0.5)
        .include_y(lanes.len() as f64 - 0.5)
        .y_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            names.get(i as usize).cloned().unwrap_or_default()
        })
        .show(ui, |plot| {
            for (lane, a) in lanes.iter().enumerate() {
                let pts: PlotPoints = range
                    .clone()
                    .filter(|r| ds.action_at(*r) == *a)
                    .map(|r| [(ds.time(r) - t0) as f64 / 86_400.0, lane as f64])
                    .collect();
                plot.points(Points::new(a.name(), pts).radius(2.5).color(p.action(*a)));
            }
        });
}

/// Behaviours of user `u` that enter the LUM sequence (everything but impressions).
fn lum_seq_len(ds: &Dataset, u: u32) -> usize {
    ds.user_range(u).filter(|r| !ds.is_impression(*r)).count()
}

/// `text` with the log's folder left out of the paths it names (`file:line: reason`).
fn without_folder(text: &str, log: &std::path::Path) -> String {
    match log
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
    {
        Some(dir) => text.replace(&format!("{dir}{}", std::path::MAIN_SEPARATOR), ""),
        None => text.to_string(),
    }
}
