//! The Train panel: pre-training settings as grouped, validated fields with a
//! tooltip each, presets, Start / Pause / Stop; the loss curve large with
//! smoothing, validation metrics and throughput below, runs overlaid; and the
//! job's event log.

use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::panels::tokens::ItemStrategy;
use crate::gui::runs::RunInfo;
use crate::gui::theme::{self, GAP_L, GAP_M, GAP_S, Palette};
use crate::gui::widgets::{self, badge, section};
use crate::gui::workspace::{PanelId, Workspace};

/// Width of the right (event log) column.
const LOG_WIDTH: f32 = 330.0;
/// Most runs overlaid at once.
const MAX_OVERLAID_RUNS: usize = 8;

/// Ranking protocol used by validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Against the whole catalogue, seen items removed.
    Full,
    /// Against 100 sampled unseen items (SASRec's protocol).
    Sampled100,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Full => "full",
            Protocol::Sampled100 => "sampled100",
        }
    }
}

/// Pre-training settings the panel edits and `Command::StartTraining` carries.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSettings {
    pub strategy: ItemStrategy,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    pub max_behaviors: usize,
    pub dropout: f32,
    pub negatives: usize,
    pub temperature: f32,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub steps: u64,
    pub packing: bool,
    pub seed: u64,
    pub eval_every: u64,
    pub protocol: Protocol,
    pub k: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            strategy: ItemStrategy::Id,
            d_model: 64,
            n_layers: 2,
            n_heads: 4,
            d_ff: 256,
            max_behaviors: 200,
            dropout: 0.1,
            negatives: 256,
            temperature: 0.05,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 0.01,
            steps: 3000,
            packing: false,
            seed: 42,
            eval_every: 250,
            protocol: Protocol::Full,
            k: 10,
        }
    }
}

impl TrainSettings {
    /// Seconds-scale smoke run.
    pub fn tiny() -> Self {
        TrainSettings {
            d_model: 32,
            n_heads: 2,
            d_ff: 64,
            max_behaviors: 50,
            negatives: 64,
            batch_size: 32,
            steps: 300,
            eval_every: 100,
            ..Self::default()
        }
    }
    /// The shared performance reference (../shared/bench/README.md).
    pub fn bench() -> Self {
        TrainSettings {
            d_model: 64,
            n_layers: 2,
            n_heads: 2,
            d_ff: 256,
            max_behaviors: 50,
            dropout: 0.0,
            negatives: 512,
            batch_size: 128,
            ..Self::default()
        }
    }
    /// Problems that block Start, one sentence each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            out.push(format!(
                "width {} must be a multiple of heads {}",
                self.d_model, self.n_heads
            ));
        }
        if self.temperature.is_nan() || self.temperature <= 0.0 {
            out.push("temperature must be above 0".into());
        }
        if self.eval_every > self.steps {
            out.push("evaluation interval is longer than the run".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            out.push("dropout must be in [0, 1)".into());
        }
        out
    }
}

/// UI state of the Train panel.
pub struct TrainPanel {
    settings: TrainSettings,
    smoothing: f32,
}

impl Default for TrainPanel {
    fn default() -> Self {
        TrainPanel {
            settings: TrainSettings::default(),
            smoothing: 0.6,
        }
    }
}

impl TrainPanel {
    /// The settings as edited so far.
    pub fn settings(&self) -> &TrainSettings {
        &self.settings
    }
}

impl Panel for TrainPanel {
    fn id(&self) -> PanelId {
        PanelId::Train
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ws.data.is_none().then_some("no behaviour log loaded")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        egui::Panel::left("train_settings")
            .exact_size(theme::SIDE_COLUMN_WIDTH)
            .resizable(false)
            .show(ui, |ui| {
                self.actions_ui(ui, cx);
                ui.separator();
                egui::ScrollArea::vertical()
                    .id_salt("train_settings_scroll")
                    .show(ui, |ui| self.settings_ui(ui, cx));
            });
        egui::Panel::right("train_log")
            .exact_size(LOG_WIDTH)
            .resizable(false)
            .show(ui, |ui| event_log_ui(ui, cx.workspace));
        egui::CentralPanel::default_margins().show(ui, |ui| self.curves_ui(ui, cx.workspace));
    }
}

/// A label, then a widget labelled by it with a one-line tooltip.
fn field(ui: &mut Ui, name: &str, help: &str, add: impl FnOnce(&mut Ui) -> egui::Response) {
    let label = ui.label(name).on_hover_text(help);
    add(ui).labelled_by(label.id).on_hover_text(help);
    ui.end_row();
}

impl TrainPanel {
    /// Presets and Start / Pause / Stop, pinned above the settings so they are always visible.
    fn actions_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let p = Palette::of(ui);
        let ws = cx.workspace;
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("preset").color(p.text_weak));
            for (name, preset, help) in [
                ("tiny", TrainSettings::tiny(), "Seconds on a laptop CPU: a smoke test of the whole loop."),
                ("default", TrainSettings::default(), "A reasonable first model for the sample world."),
                ("bench", TrainSettings::bench(), "The shared performance reference (width 64, 2 heads, 512 negatives, batch 128)."),
            ] {
                if ui.selectable_label(self.settings == preset, name).on_hover_text(help).clicked() {
                    self.settings = preset;
                }
            }
        });
        let s = &self.settings;
        let problems = s.problems();
        for pr in &problems {
            ui.label(RichText::new(format!("× {pr}")).color(p.error));
        }
        ui.horizontal(|ui| {
            let ok = problems.is_empty() && ws.data.is_some();
            let start = ui
                .add_enabled(ok, widgets::primary_button("Start"))
                .on_hover_text("Pre-train a LUM with these settings (a background job).")
                .on_disabled_hover_text(if ws.data.is_none() {
                    "Load a behaviour log first (Data panel)."
                } else {
                    "Fix the settings marked in red."
                });
            if start.clicked() {
                cx.push(Command::StartTraining(s.clone()));
            }
            let running = !ws.jobs.is_empty();
            if ui
                .add_enabled(running, egui::Button::new("Pause"))
                .on_hover_text("Pause after the current step; Start resumes.")
                .clicked()
            {
                cx.push(Command::PauseTraining);
            }
            if ui
                .add_enabled(running, egui::Button::new("Stop"))
                .on_hover_text("Stop after the current step and write a checkpoint.")
                .clicked()
            {
                cx.push(Command::StopTraining);
            }
        });
        ui.add_space(GAP_S);
    }

    fn settings_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let p = Palette::of(ui);
        let ws = cx.workspace;
        let s = &mut self.settings;
        let grid = |ui: &mut Ui, id: &str, add: &mut dyn FnMut(&mut Ui)| {
            egui::Grid::new(id)
                .num_columns(2)
                .spacing([GAP_M, 5.0])
                .min_col_width(120.0)
                .show(ui, |ui| add(ui));
        };
        ui.add_space(GAP_M);
        section(ui, "Data");
        match &ws.data {
            Some(d) => ui.label(RichText::new(d.chip_text()).color(p.text)),
            None => {
                ui.label(RichText::new("no behaviour log loaded (Data panel)").color(p.warning))
            }
        };
        ui.add_space(GAP_M);
        section(ui, "Tokenizer");
        grid(ui, "train_tokenizer", &mut |ui| {
            field(
                ui,
                "item strategy",
                "How items become sub-tokens (see the Tokens panel).",
                |ui| {
                    egui::ComboBox::from_id_salt("train_strategy")
                        .selected_text(s.strategy.name())
                        .show_ui(ui, |ui| {
                            for st in ItemStrategy::ALL {
                                ui.selectable_value(&mut s.strategy, st, st.name())
                                    .on_hover_text(st.help());
                            }
                        })
                        .response
                },
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Model");
        grid(ui, "train_model", &mut |ui| {
            field(
                ui,
                "width",
                "Embedding and hidden size d of the Transformer.",
                |ui| ui.add(egui::DragValue::new(&mut s.d_model).range(8..=1024)),
            );
            field(ui, "layers", "Number of Transformer blocks.", |ui| {
                ui.add(egui::DragValue::new(&mut s.n_layers).range(1..=24))
            });
            field(
                ui,
                "heads",
                "Attention heads per block; the width must divide by it.",
                |ui| ui.add(egui::DragValue::new(&mut s.n_heads).range(1..=32)),
            );
            field(
                ui,
                "FFN width",
                "Hidden size of each block's feed-forward layer.",
                |ui| ui.add(egui::DragValue::new(&mut s.d_ff).range(8..=8192)),
            );
            field(
                ui,
                "max behaviours",
                "Longest history read per user (each behaviour is 2 tokens).",
                |ui| ui.add(egui::DragValue::new(&mut s.max_behaviors).range(2..=4096)),
            );
            field(
                ui,
                "dropout",
                "Dropout probability inside the Transformer during training.",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut s.dropout)
                            .range(0.0..=0.9)
                            .speed(0.01),
                    )
                },
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Optimisation");
        grid(ui, "train_opt", &mut |ui| {
            field(
                ui,
                "negatives",
                "Items sampled uniformly per batch as InfoNCE negatives (shared by the batch).",
                |ui| ui.add(egui::DragValue::new(&mut s.negatives).range(1..=65536)),
            );
            field(
                ui,
                "temperature",
                "InfoNCE temperature on cosine similarity; lower is sharper.",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut s.temperature)
                            .range(0.001..=10.0)
                            .speed(0.005),
                    )
                },
            );
            field(ui, "batch", "Sequences per optimisation step.", |ui| {
                ui.add(egui::DragValue::new(&mut s.batch_size).range(1..=4096))
            });
            field(ui, "learning rate", "AdamW step size.", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.lr)
                        .range(1e-6..=1.0)
                        .speed(1e-4)
                        .max_decimals(6),
                )
            });
            field(ui, "weight decay", "AdamW decoupled weight decay.", |ui| {
                ui.add(
                    egui::DragValue::new(&mut s.weight_decay)
                        .range(0.0..=1.0)
                        .speed(0.001),
                )
            });
            field(ui, "steps", "Optimisation steps in the run.", |ui| {
                ui.add(egui::DragValue::new(&mut s.steps).range(1..=10_000_000))
            });
            field(
                ui,
                "packing",
                "Pack several users per row with a block-diagonal causal mask (less padding).",
                |ui| ui.checkbox(&mut s.packing, ""),
            );
            field(
                ui,
                "seed",
                "Seed of initialisation, batching and negatives.",
                |ui| ui.add(egui::DragValue::new(&mut s.seed)),
            );
            field(
                ui,
                "device",
                "Where the model runs; GPUs appear when LumLab is built with cuda or metal.",
                |ui| ui.label(RichText::new(ws.device.label()).monospace()),
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Evaluation");
        grid(ui, "train_eval", &mut |ui| {
            field(ui, "every", "Steps between validation runs.", |ui| {
                ui.add(egui::DragValue::new(&mut s.eval_every).range(1..=1_000_000))
            });
            field(
                ui,
                "protocol",
                "full ranks against the whole catalogue; sampled100 against 100 sampled items.",
                |ui| {
                    egui::ComboBox::from_id_salt("train_protocol")
                        .selected_text(s.protocol.name())
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut s.protocol, Protocol::Full, "full");
                            ui.selectable_value(
                                &mut s.protocol,
                                Protocol::Sampled100,
                                "sampled100",
                            );
                        })
                        .response
                },
            );
            field(ui, "K", "Cut-off of HR@K and NDCG@K.", |ui| {
                ui.add(egui::DragValue::new(&mut s.k).range(1..=1000))
            });
        });
        ui.add_space(GAP_L);
    }

    fn curves_ui(&mut self, ui: &mut Ui, ws: &Workspace) {
        let p = Palette::of(ui);
        let runs = overlaid_runs(ws);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Loss").size(theme::HEADING_SIZE).color(p.text_strong));
            badge(ui, "InfoNCE · train batches");
            ui.add_space(GAP_L);
            let label = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).fixed_decimals(2))
                .labelled_by(label.id)
                .on_hover_text("Exponential moving average of the curve (TensorBoard's smoothing); the raw curve stays faint.");
        });
        let loss: Vec<(usize, &RunInfo, Vec<[f64; 2]>)> = runs
            .iter()
            .filter_map(|(i, r)| r.series("loss").map(|s| (*i, *r, s.points.clone())))
            .collect();
        let h = (ui.available_height() * 0.55).max(200.0);
        if loss.is_empty() {
            widgets::empty_area(
                ui,
                h,
                "No training curves yet. Start trains a LUM on the loaded data and its loss draws here live; runs picked in Runs overlay here with their own colours.",
            );
        } else {
            let smoothing = self.smoothing as f64;
            Plot::new("train_loss")
                .height(h)
                .legend(Legend::default())
                .x_axis_label("step")
                .show(ui, |plot| {
                    for (i, run, pts) in &loss {
                        let colour = theme::series_colour(*i);
                        plot.line(
                            Line::new(format!("{} (raw)", run.name), PlotPoints::from(pts.clone()))
                                .color(colour.gamma_multiply(0.25)),
                        );
                        plot.line(
                            Line::new(run.name.clone(), PlotPoints::from(ema(pts, smoothing)))
                                .color(colour)
                                .width(1.8),
                        );
                    }
                });
        }
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Validation").strong().color(p.text_strong));
            badge(ui, "leave-one-out · protocol in each name");
        });
        let metric_series: Vec<(usize, String, Vec<[f64; 2]>)> = runs
            .iter()
            .flat_map(|(i, r)| {
                r.series
                    .iter()
                    .filter(|s| is_validation_metric(&s.name))
                    .map(move |s| (*i, format!("{} · {}", r.name, s.name), s.points.clone()))
            })
            .collect();
        let h2 = (ui.available_height() - 110.0).max(120.0);
        if metric_series.is_empty() {
            widgets::empty_area(
                ui,
                h2,
                "HR@K, NDCG@K and MRR on the validation split appear here at every evaluation.",
            );
        } else {
            Plot::new("train_metrics")
                .height(h2)
                .legend(Legend::default())
                .x_axis_label("step")
                .show(ui, |plot| {
                    for (i, name, pts) in &metric_series {
                        plot.line(
                            Line::new(name.clone(), PlotPoints::from(pts.clone()))
                                .color(theme::series_colour(*i)),
                        );
                    }
                });
        }
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Throughput").strong().color(p.text_strong));
            let tput: Vec<String> = runs
                .iter()
                .filter_map(|(_, r)| {
                    let s = r
                        .series
                        .iter()
                        .find(|s| s.name.contains("tokens_per_sec"))?;
                    Some(format!(
                        "{}: {} tok/s",
                        r.name,
                        crate::gui::format::count(s.points.last()?[1] as u64)
                    ))
                })
                .collect();
            if tput.is_empty() {
                ui.label(
                    RichText::new("tokens/s and step time show while a job runs")
                        .color(p.text_weak),
                );
            } else {
                ui.label(tput.join("   "));
            }
        });
    }
}

/// Whether a metrics key is a validation metric (vs loss, throughput, learning rate).
fn is_validation_metric(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["ndcg", "hr@", "recall", "mrr", "auc"]
        .iter()
        .any(|m| n.contains(m))
}

/// The runs whose curves overlay: the selected ones, or all runs when none is selected.
fn overlaid_runs(ws: &Workspace) -> Vec<(usize, &RunInfo)> {
    let selected: Vec<(usize, &RunInfo)> = ws
        .runs
        .iter()
        .enumerate()
        .filter(|(_, r)| ws.is_run_selected(r))
        .collect();
    let mut out = if selected.is_empty() {
        ws.runs.iter().enumerate().collect()
    } else {
        selected
    };
    out.truncate(MAX_OVERLAID_RUNS);
    out
}

/// Debiased exponential moving average (TensorBoard's smoothing).
pub fn ema(points: &[[f64; 2]], weight: f64) -> Vec<[f64; 2]> {
    let mut last = 0.0;
    let mut debias = 1.0;
    points
        .iter()
        .enumerate()
        .map(|(i, [x, y])| {
            last = last * weight + (1.0 - weight) * y;
            debias *= weight;
            let v = if i == 0 && weight == 0.0 {
                *y
            } else {
                last / (1.0 - debias)
            };
            [*x, v]
        })
        .collect()
}

fn event_log_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    ui.add_space(GAP_M);
    section(ui, "Events");
    if ws.jobs.is_empty() {
        widgets::empty_area(
            ui,
            120.0,
            "The running job's events show here, newest at the bottom: steps, evaluations, checkpoints and errors.",
        );
    } else {
        for j in &ws.jobs {
            ui.label(RichText::new(format!("{} · {}", j.name, j.message)).color(p.text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ema_matches_hand_computed_values() {
        // weight 0.5: e1 = 0.5*y1 / (1-0.5) = y1; e2 = (0.25*y1 + 0.5*y2) / 0.75.
        let out = ema(&[[0.0, 4.0], [1.0, 1.0]], 0.5);
        assert!((out[0][1] - 4.0).abs() < 1e-12);
        assert!((out[1][1] - 2.0).abs() < 1e-12);
        assert_eq!(
            ema(&[[0.0, 3.0], [1.0, 5.0]], 0.0),
            vec![[0.0, 3.0], [1.0, 5.0]]
        );
    }

    #[test]
    fn settings_validation_blocks_bad_heads() {
        let mut s = TrainSettings::default();
        assert!(s.problems().is_empty());
        s.n_heads = 3;
        assert_eq!(
            s.problems(),
            vec!["width 64 must be a multiple of heads 3".to_string()]
        );
        assert!(TrainSettings::tiny().problems().is_empty());
        assert!(TrainSettings::bench().problems().is_empty());
    }
}
