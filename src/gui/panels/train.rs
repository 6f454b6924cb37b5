//! The Train panel: the engine's pre-training configuration as grouped,
//! validated fields with a tooltip each, presets, Start / Pause / Stop; the
//! loss curve large with smoothing, validation metrics and throughput below,
//! this session's job and the run folders overlaid; and the job's event log.

use egui::{RichText, Ui};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::runs::RunInfo;
use crate::gui::theme::{self, GAP_L, GAP_M, GAP_S, Palette};
use crate::gui::training::{LiveRun, LiveStatus};
use crate::gui::widgets::{self, badge, section};
use crate::gui::workspace::{PanelId, Workspace};
use crate::job::LogLevel;
use crate::model::Pooling;
use crate::tokenize::ItemStrategy;
use crate::ctr::CtrConfig;
use crate::train::{ModelKind, PretrainConfig};

/// Width of the right (event log) column.
const LOG_WIDTH: f32 = 330.0;
/// Most runs from disk overlaid at once.
const MAX_OVERLAID_RUNS: usize = 8;
/// Points drawn per curve; longer curves are thinned by min/max buckets.
const MAX_PLOT_POINTS: usize = 4_000;
/// Every item strategy, in the order the picker lists them.
const STRATEGIES: [ItemStrategy; 3] = [
    ItemStrategy::Id,
    ItemStrategy::Semantic,
    ItemStrategy::Attributes,
];
/// Every model, in the order the picker lists them.
const MODELS: [ModelKind; 3] = [ModelKind::Lum, ModelKind::Sasrec, ModelKind::Popularity];
/// Devices the engine accepts.
const DEVICES: [&str; 4] = ["cpu", "auto", "cuda", "metal"];

/// The shared performance reference (../shared/bench/README.md): width 64, 2 blocks,
/// 2 heads, FFN 256, 50 behaviours, 512 negatives, batch 128, AdamW lr 1e-3.
pub fn bench_preset() -> PretrainConfig {
    PretrainConfig {
        strategy: ItemStrategy::Id,
        d_model: 64,
        n_layers: 2,
        n_heads: 2,
        d_ff: 256,
        max_behaviors: 50,
        negatives: 512,
        batch_size: 128,
        packing: false,
        lr: 1e-3,
        weight_decay: 0.01,
        ..PretrainConfig::default()
    }
}

/// One sentence per item strategy for tooltips.
pub fn strategy_help(s: ItemStrategy) -> &'static str {
    match s {
        ItemStrategy::Id => "One embedding row per item: exact, but rare items learn little.",
        ItemStrategy::Semantic => {
            "Residual k-means codes (level 1 → 2 → 3) over item content vectors: similar items share prefixes."
        }
        ItemStrategy::Attributes => {
            "Category, brand, price bucket and title words: new items get a usable embedding at once."
        }
    }
}

fn model_help(m: ModelKind) -> &'static str {
    match m {
        ModelKind::Lum => {
            "The Large User Model: condition + item tokens, InfoNCE at condition positions."
        }
        ModelKind::Sasrec => {
            "Baseline: item ids only, no conditions (SASRec-style causal Transformer)."
        }
        ModelKind::Popularity => "Baseline: rank items by training popularity (no training).",
    }
}

/// UI state of the Train panel.
pub struct TrainPanel {
    config: PretrainConfig,
    /// CTR settings of "Run the whole flow" (sent to the app when they change and are valid).
    ctr: CtrConfig,
    smoothing: f32,
}

impl Default for TrainPanel {
    fn default() -> Self {
        TrainPanel {
            config: PretrainConfig::default(),
            ctr: CtrConfig::default(),
            smoothing: 0.6,
        }
    }
}

impl TrainPanel {
    /// The configuration as edited so far.
    pub fn config(&self) -> &PretrainConfig {
        &self.config
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
                    .show(ui, |ui| {
                        self.settings_ui(ui, cx.workspace);
                        if let Some(ctr) = self.ctr_settings_ui(ui) {
                            cx.push(Command::SetFlowCtr(ctr));
                        }
                    });
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

fn grid(ui: &mut Ui, id: &str, add: impl FnOnce(&mut Ui)) {
    egui::Grid::new(id)
        .num_columns(2)
        .spacing([GAP_M, 5.0])
        .min_col_width(120.0)
        .show(ui, add);
}

impl TrainPanel {
    /// The CTR stage's settings (used by the Flow panel's "Run the whole flow");
    /// returns them when a field changed and they are valid.
    fn ctr_settings_ui(&mut self, ui: &mut Ui) -> Option<CtrConfig> {
        let p = Palette::of(ui);
        let c = &mut self.ctr;
        let mut changed = false;
        section(ui, "CTR stage (Run the whole flow)");
        grid(ui, "train_ctr", |ui| {
            let mut num = |ui: &mut Ui, name: &str, help: &str, v: &mut usize, max: usize| {
                field(ui, name, help, |ui| {
                    let r = ui.add(egui::DragValue::new(v).range(1..=max));
                    changed |= r.changed();
                    r
                });
            };
            num(ui, "CTR history", "Recent behaviours the DIN attention of both CTR models reads (before each impression).", &mut c.history_len, 10_000);
            num(ui, "CTR width", "Width of every id embedding of the CTR models (user, query, item, category, brand, position).", &mut c.emb_dim, 1024);
            num(ui, "CTR attention width", "Hidden width of the DIN attention unit.", &mut c.attn_hidden, 1024);
            num(ui, "CTR MLP width", "Width of the first MLP layer; the second is half of it.", &mut c.mlp_hidden, 4096);
            num(ui, "CTR epochs", "Passes over the training impressions (one: sparse-id CTR models overfit from the second).", &mut c.epochs, 100);
            num(ui, "CTR batch", "Impressions per optimisation step.", &mut c.batch_size, 1 << 16);
            num(ui, "SimTier tiers", "Equal-width tiers of the SimTier histogram on [-1, 1].", &mut c.simtier_bins, 1000);
            field(ui, "CTR learning rate", "AdamW learning rate of both CTR models.", |ui| {
                let r = ui.add(egui::DragValue::new(&mut c.lr).range(1e-6..=1.0).speed(1e-4).max_decimals(5));
                changed |= r.changed();
                r
            });
            field(ui, "test days", "Impressions of the last this-many days are the test split; the rest train.", |ui| {
                let r = ui.add(egui::DragValue::new(&mut c.test_days).range(0.01..=365.0).speed(0.1));
                changed |= r.changed();
                r
            });
            field(ui, "CTR seed", "Seeds initialisation and data order; both models share it.", |ui| {
                let r = ui.add(egui::DragValue::new(&mut c.seed));
                changed |= r.changed();
                r
            });
            field(ui, "SimTier space", "Whiten the LUM item embeddings before SimTier's cosines (centre, unit variance per principal direction); raw cosines put a whole category at 0.95-1.0 and hide brand and price taste.", |ui| {
                let r = ui.checkbox(&mut c.whiten, "whitened");
                changed |= r.changed();
                r
            });
            field(ui, "ablations", "Also train one +LUM model per feature alone, to show each feature's share.", |ui| {
                let r = ui.checkbox(&mut c.ablations, "one model per feature");
                changed |= r.changed();
                r
            });
        });
        let valid = c.validate();
        if let Err(e) = &valid {
            ui.label(RichText::new(format!("× {e}")).color(p.error));
        }
        ui.label(
            RichText::new("Both CTR models (baseline and +LUM) use these; the LUM stays frozen.")
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        ui.add_space(GAP_L);
        (changed && valid.is_ok()).then(|| c.clone())
    }

    /// Presets and Start / Pause / Stop, pinned above the settings so they are always visible.
    fn actions_ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let p = Palette::of(ui);
        let ws = cx.workspace;
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("preset").color(p.text_weak));
            for (name, preset, help) in [
                ("tiny", PretrainConfig::tiny(), "Seconds on a laptop CPU: a smoke test of the whole loop."),
                ("default", PretrainConfig::default(), "A reasonable first model for the sample world."),
                ("bench", bench_preset(), "The shared performance reference (width 64, 2 heads, 512 negatives, batch 128)."),
            ] {
                if ui.selectable_label(self.config == preset, name).on_hover_text(help).clicked() {
                    self.config = preset;
                }
            }
        });
        let problem = self.config.validate().err();
        if let Some(pr) = &problem {
            ui.label(RichText::new(format!("× {pr}")).color(p.error));
        }
        let live = ws.training.as_ref();
        let active = live.is_some_and(LiveRun::is_active);
        let paused = live.is_some_and(|l| l.status == LiveStatus::Paused);
        ui.horizontal(|ui| {
            let can_start = problem.is_none() && ws.data.is_some() && (!active || paused);
            let text = if paused { "Resume" } else { "Start" };
            let start = ui
                .add_enabled(can_start, widgets::primary_button(text))
                .on_hover_text("Pre-train with these settings into a new run folder (a background job).")
                .on_disabled_hover_text(if ws.data.is_none() {
                    "Load a behaviour log first (Data panel)."
                } else if active && !paused {
                    "A training job is running."
                } else {
                    "Fix the setting marked in red."
                });
            if start.clicked() {
                cx.push(if paused { Command::PauseTraining } else { Command::StartTraining(self.config.clone()) });
            }
            let pause = ui.add_enabled(active && !paused, egui::Button::new("Pause"));
            if pause.on_hover_text("Pause after the current step; Resume continues.").clicked() {
                cx.push(Command::PauseTraining);
            }
            let stop = ui.add_enabled(active, egui::Button::new("Stop"));
            if stop.on_hover_text("Stop after the current step; the checkpoint is kept and the run can be resumed.").clicked() {
                cx.push(Command::StopTraining);
            }
        });
        if let Some(live) = live.filter(|l| l.is_active()) {
            ui.add(
                egui::ProgressBar::new(live.fraction())
                    .desired_height(12.0)
                    .fill(p.stage_pretrain),
            );
            let eta = live
                .eta_secs()
                .map(|s| format!(" · ETA {}", format::duration(s)))
                .unwrap_or_default();
            ui.label(
                RichText::new(format!("{}{eta}", live.status_line()))
                    .size(theme::SMALL_SIZE)
                    .color(p.text_weak),
            );
        }
        ui.add_space(GAP_S);
    }

    fn settings_ui(&mut self, ui: &mut Ui, ws: &Workspace) {
        let p = Palette::of(ui);
        let c = &mut self.config;
        ui.add_space(GAP_M);
        section(ui, "Data");
        match &ws.data {
            Some(d) => ui.label(RichText::new(d.chip_text()).color(p.text)),
            None => {
                ui.label(RichText::new("no behaviour log loaded (Data panel)").color(p.warning))
            }
        };
        ui.label(
            RichText::new(format!("runs go to {}", ws.runs_dir.display()))
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        ui.add_space(GAP_M);
        section(ui, "Model");
        grid(ui, "train_model", |ui| {
            field(ui, "model", model_help(c.model), |ui| {
                egui::ComboBox::from_id_salt("train_model_kind")
                    .selected_text(c.model.name())
                    .show_ui(ui, |ui| {
                        for m in MODELS {
                            ui.selectable_value(&mut c.model, m, m.name())
                                .on_hover_text(model_help(m));
                        }
                    })
                    .response
            });
            field(
                ui,
                "width",
                "Embedding and hidden size d of the Transformer.",
                |ui| ui.add(egui::DragValue::new(&mut c.d_model).range(8..=1024)),
            );
            field(ui, "layers", "Number of Transformer blocks.", |ui| {
                ui.add(egui::DragValue::new(&mut c.n_layers).range(1..=24))
            });
            field(
                ui,
                "heads",
                "Attention heads per block; the width must divide by it.",
                |ui| ui.add(egui::DragValue::new(&mut c.n_heads).range(1..=32)),
            );
            field(
                ui,
                "FFN width",
                "Hidden size of each block's feed-forward layer.",
                |ui| ui.add(egui::DragValue::new(&mut c.d_ff).range(8..=8192)),
            );
            field(
                ui,
                "max behaviours",
                "Most recent behaviours read per user (each is 2 tokens).",
                |ui| ui.add(egui::DragValue::new(&mut c.max_behaviors).range(2..=4096)),
            );
            field(
                ui,
                "dropout",
                "Dropout probability inside the Transformer during training.",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.dropout)
                            .range(0.0..=0.9)
                            .speed(0.01),
                    )
                },
            );
            field(
                ui,
                "embedding init",
                "Standard deviation of the embeddings' normal initialisation.",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.embed_init_std)
                            .range(0.0001..=2.0)
                            .speed(0.005)
                            .max_decimals(4),
                    )
                },
            );
            field(
                ui,
                "pooling",
                "How an item's sub-token embeddings become one vector (then a projection).",
                |ui| {
                    egui::ComboBox::from_id_salt("train_pooling")
                        .selected_text(if c.pooling == Pooling::Sum {
                            "sum"
                        } else {
                            "mean"
                        })
                        .show_ui(ui, |ui| {
                            ui.selectable_value(&mut c.pooling, Pooling::Mean, "mean");
                            ui.selectable_value(&mut c.pooling, Pooling::Sum, "sum");
                        })
                        .response
                },
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Tokenizer");
        grid(ui, "train_tokenizer", |ui| {
            field(ui, "item strategy", strategy_help(c.strategy), |ui| {
                egui::ComboBox::from_id_salt("train_strategy")
                    .selected_text(c.strategy.name())
                    .show_ui(ui, |ui| {
                        for s in STRATEGIES {
                            ui.selectable_value(&mut c.strategy, s, s.name())
                                .on_hover_text(strategy_help(s));
                        }
                    })
                    .response
            });
            if c.strategy == ItemStrategy::Semantic {
                for (i, level) in c.levels.iter_mut().enumerate() {
                    let help = format!(
                        "k-means centroids at level {}; more codes, finer clusters.",
                        i + 1
                    );
                    field(ui, &format!("level {} codes", i + 1), &help, |ui| {
                        ui.add(egui::DragValue::new(level).range(2..=4096))
                    });
                }
            }
            field(
                ui,
                "min item count",
                "Items seen fewer times share one rare-item token (id strategy).",
                |ui| ui.add(egui::DragValue::new(&mut c.min_count).range(1..=1000)),
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Optimisation");
        grid(ui, "train_opt", |ui| {
            field(
                ui,
                "negatives",
                "Items sampled uniformly per batch as InfoNCE negatives (shared by the batch).",
                |ui| ui.add(egui::DragValue::new(&mut c.negatives).range(1..=65536)),
            );
            field(
                ui,
                "temperature",
                "InfoNCE temperature on cosine similarity; lower is sharper.",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.temperature)
                            .range(0.001..=10.0)
                            .speed(0.005),
                    )
                },
            );
            field(ui, "batch", "Sequences per optimisation step.", |ui| {
                ui.add(egui::DragValue::new(&mut c.batch_size).range(1..=4096))
            });
            field(
                ui,
                "packing",
                "Pack several users per row with a block-diagonal causal mask (less padding).",
                |ui| ui.checkbox(&mut c.packing, ""),
            );
            field(
                ui,
                "learning rate",
                "AdamW peak step size (after warm-up, cosine decay).",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.lr)
                            .range(1e-6..=1.0)
                            .speed(1e-4)
                            .max_decimals(6),
                    )
                },
            );
            field(ui, "weight decay", "AdamW decoupled weight decay.", |ui| {
                ui.add(
                    egui::DragValue::new(&mut c.weight_decay)
                        .range(0.0..=1.0)
                        .speed(0.001),
                )
            });
            field(
                ui,
                "warm-up steps",
                "Steps of linear learning-rate warm-up.",
                |ui| ui.add(egui::DragValue::new(&mut c.warmup_steps).range(0..=1_000_000)),
            );
            field(
                ui,
                "gradient clip",
                "Global gradient-norm clip (0 = off).",
                |ui| {
                    ui.add(
                        egui::DragValue::new(&mut c.grad_clip)
                            .range(0.0..=100.0)
                            .speed(0.05),
                    )
                },
            );
            field(ui, "steps", "Optimisation steps in the run.", |ui| {
                ui.add(egui::DragValue::new(&mut c.steps).range(1..=10_000_000))
            });
            field(
                ui,
                "seed",
                "Seed of initialisation, batching and negatives.",
                |ui| ui.add(egui::DragValue::new(&mut c.seed)),
            );
            field(
                ui,
                "device",
                "Where the model runs: cpu, or a GPU when LumLab is built with cuda or metal (auto picks one).",
                |ui| {
                    egui::ComboBox::from_id_salt("train_device")
                        .selected_text(c.device.clone())
                        .show_ui(ui, |ui| {
                            for d in DEVICES {
                                ui.selectable_value(&mut c.device, d.to_string(), d);
                            }
                        })
                        .response
                },
            );
        });
        ui.add_space(GAP_M);
        section(ui, "Evaluation");
        grid(ui, "train_eval", |ui| {
            field(
                ui,
                "every",
                "Steps between validations (NDCG@10, full protocol); the best checkpoint is kept.",
                |ui| ui.add(egui::DragValue::new(&mut c.eval_every).range(1..=1_000_000)),
            );
            field(
                ui,
                "validation users",
                "Users sampled for validation during training (0 = all).",
                |ui| ui.add(egui::DragValue::new(&mut c.eval_users).range(0..=10_000_000)),
            );
            field(
                ui,
                "checkpoint every",
                "Steps between checkpoints of the latest weights.",
                |ui| ui.add(egui::DragValue::new(&mut c.checkpoint_every).range(1..=1_000_000)),
            );
        });
        ui.label(
            RichText::new("At the end the best checkpoint is tested leave-one-out, full and sampled100 protocols.")
                .size(theme::SMALL_SIZE)
                .color(p.text_weak),
        );
        ui.add_space(GAP_L);
    }

    fn curves_ui(&mut self, ui: &mut Ui, ws: &Workspace) {
        let p = Palette::of(ui);
        let live = ws.training.as_ref();
        let runs = overlaid_runs(ws);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Loss").size(theme::HEADING_SIZE).color(p.text_strong));
            badge(ui, "InfoNCE · train batches");
            ui.add_space(GAP_L);
            let label = ui.label("Smoothing");
            ui.add(egui::Slider::new(&mut self.smoothing, 0.0..=0.99).fixed_decimals(2))
                .labelled_by(label.id)
                .on_hover_text("Exponential moving average of the curves (TensorBoard's smoothing); the raw curve stays faint.");
        });
        let mut curves: Vec<(String, &[[f64; 2]])> = Vec::new();
        if let Some(l) = live.filter(|l| !l.loss.is_empty()) {
            curves.push((l.name.clone(), &l.loss));
        }
        for r in &runs {
            if let Some(s) = r.series("loss") {
                curves.push((r.name.clone(), &s.points));
            }
        }
        let h = (ui.available_height() * 0.55).max(200.0);
        if curves.is_empty() {
            let sentence = match live {
                Some(l) if l.is_active() => format!("{}: the loss draws here from the first step.", l.phase),
                _ => "No training curves yet. Start trains a model on the loaded data and its loss draws here live; runs picked in Runs overlay here with their own colours.".to_string(),
            };
            widgets::empty_area(ui, h, &sentence);
        } else {
            let smoothing = f64::from(self.smoothing);
            Plot::new("train_loss")
                .height(h)
                .legend(Legend::default())
                .x_axis_label("step")
                .show(ui, |plot| {
                    for (name, pts) in &curves {
                        let colour = theme::run_colour(name);
                        let raw = downsample(pts, MAX_PLOT_POINTS);
                        let smooth = ema(&raw, smoothing);
                        // The raw curve has no name, so the legend lists each run once.
                        plot.line(
                            Line::new("", PlotPoints::from(raw)).color(colour.gamma_multiply(0.25)),
                        );
                        plot.line(
                            Line::new(name.clone(), PlotPoints::from(smooth))
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
        let mut metric_curves: Vec<(String, String, &[[f64; 2]])> = Vec::new();
        if let Some(l) = live {
            for (label, pts) in &l.evals {
                metric_curves.push((l.name.clone(), label.clone(), pts));
            }
        }
        for r in &runs {
            for s in r.series.iter().filter(|s| s.name.starts_with("valid ")) {
                metric_curves.push((
                    r.name.clone(),
                    s.name.trim_start_matches("valid ").to_string(),
                    &s.points,
                ));
            }
        }
        metric_curves.retain(|(_, label, _)| is_headline_metric(label));
        let h2 = (ui.available_height() - 60.0).max(120.0);
        if metric_curves.is_empty() {
            widgets::empty_area(
                ui,
                h2,
                "HR@10 and NDCG@10 on the validation split appear here at every evaluation.",
            );
        } else {
            Plot::new("train_metrics")
                .height(h2)
                .legend(Legend::default())
                .x_axis_label("step")
                .show(ui, |plot| {
                    for (run, label, pts) in &metric_curves {
                        let dashed = label.starts_with("HR");
                        let mut line =
                            Line::new(format!("{run} · {label}"), PlotPoints::from(pts.to_vec()))
                                .color(theme::run_colour(run));
                        if dashed {
                            line = line.style(egui_plot::LineStyle::dashed_dense());
                        }
                        plot.line(line);
                    }
                });
        }
        ui.add_space(GAP_M);
        ui.horizontal(|ui| {
            ui.label(RichText::new("Throughput").strong().color(p.text_strong));
            match live.filter(|l| !l.loss.is_empty()) {
                Some(l) => {
                    ui.label(
                        RichText::new(format!(
                            "{} tokens/s",
                            format::count(l.tokens_per_sec.max(0.0) as u64)
                        ))
                        .monospace(),
                    );
                    ui.label(
                        RichText::new(format!("lr {:.2e}", l.lr))
                            .monospace()
                            .color(p.text_weak),
                    );
                }
                None => {
                    let from_disk: Vec<String> = runs
                        .iter()
                        .filter_map(|r| {
                            let tps = r
                                .series("tokens_per_sec")?
                                .points
                                .iter()
                                .map(|p| p[1])
                                .collect::<Vec<_>>();
                            let mean = tps.iter().sum::<f64>() / tps.len().max(1) as f64;
                            let secs = r.series("step_secs").map(|s| {
                                s.points.iter().map(|p| p[1]).sum::<f64>()
                                    / s.points.len().max(1) as f64
                            });
                            let step = secs.map(|s| format!(", {s:.2} s/step")).unwrap_or_default();
                            Some(format!(
                                "{}: {} tokens/s{step}",
                                r.name,
                                format::count(mean as u64)
                            ))
                        })
                        .collect();
                    if from_disk.is_empty() {
                        ui.label(
                            RichText::new("tokens/s and the learning rate show while a job runs")
                                .color(p.text_weak),
                        );
                    } else {
                        ui.label(RichText::new(from_disk.join("   ")).monospace());
                        badge(ui, "mean over the run");
                    }
                }
            }
        });
    }
}

/// The validation metrics worth a curve: NDCG@10 and HR@10 (every protocol).
fn is_headline_metric(label: &str) -> bool {
    label.starts_with("NDCG@10") || label.starts_with("HR@10")
}

/// The runs on disk whose curves overlay: the selected ones, or all when none is selected;
/// this session's live run is drawn from its events, not from disk.
fn overlaid_runs(ws: &Workspace) -> Vec<&RunInfo> {
    let live = ws.training.as_ref().map(|l| l.path.clone());
    let not_live = |r: &&RunInfo| Some(&r.path) != live.as_ref();
    let selected: Vec<&RunInfo> = ws
        .runs
        .iter()
        .filter(|r| ws.is_run_selected(r))
        .filter(not_live)
        .collect();
    let mut out = if selected.is_empty() {
        ws.runs.iter().filter(not_live).collect()
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
        .map(|[x, y]| {
            last = last * weight + (1.0 - weight) * y;
            debias *= weight;
            [*x, last / (1.0 - debias)]
        })
        .collect()
}

/// At most about `max` points: each bucket of consecutive points keeps its min and its max,
/// so spikes survive thinning (100k-step curves stay cheap to draw).
pub fn downsample(points: &[[f64; 2]], max: usize) -> Vec<[f64; 2]> {
    if points.len() <= max || max < 4 {
        return points.to_vec();
    }
    let bucket = points.len().div_ceil(max / 2);
    let mut out = Vec::with_capacity(max + 2);
    for chunk in points.chunks(bucket) {
        let lo = chunk.iter().min_by(|a, b| a[1].total_cmp(&b[1]));
        let hi = chunk.iter().max_by(|a, b| a[1].total_cmp(&b[1]));
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if lo[0] <= hi[0] {
                out.extend([*lo, *hi]);
            } else {
                out.extend([*hi, *lo]);
            }
        }
    }
    out
}

fn event_log_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    ui.add_space(GAP_M);
    section(ui, "Events");
    let Some(live) = ws.training.as_ref() else {
        // No job this session: the events.log of the first selected run, if any.
        if let Some(run) = ws
            .runs
            .iter()
            .find(|r| ws.is_run_selected(r) && !r.events.is_empty())
        {
            ui.horizontal(|ui| {
                ui.label(
                    RichText::new(&run.name)
                        .monospace()
                        .color(theme::run_colour(&run.name)),
                );
                badge(ui, "events.log");
            });
            egui::ScrollArea::vertical()
                .id_salt("run_events")
                .stick_to_bottom(true)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    for line in &run.events {
                        let colour = if line.contains("error") || line.contains("failed") {
                            p.error
                        } else {
                            p.text
                        };
                        ui.label(
                            RichText::new(line)
                                .size(theme::SMALL_SIZE + 0.5)
                                .color(colour),
                        );
                    }
                });
            return;
        }
        widgets::empty_area(
            ui,
            120.0,
            "The training job's events show here, newest at the bottom: steps, evaluations, checkpoints and errors.",
        );
        return;
    };
    ui.label(
        RichText::new(&live.name)
            .monospace()
            .color(theme::run_colour(&live.name)),
    );
    egui::ScrollArea::vertical()
        .id_salt("train_events")
        .stick_to_bottom(true)
        .auto_shrink([false, false])
        .show(ui, |ui| {
            for (level, text) in &live.log {
                let colour = match level {
                    LogLevel::Info => p.text,
                    LogLevel::Warn => p.warning,
                    LogLevel::Error => p.error,
                };
                ui.label(
                    RichText::new(text)
                        .size(theme::SMALL_SIZE + 0.5)
                        .color(colour),
                );
            }
            ui.label(
                RichText::new(live.status_line())
                    .size(theme::SMALL_SIZE + 0.5)
                    .color(p.text_weak),
            );
        });
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
    fn downsampling_keeps_extremes_and_bounds_the_size() {
        let pts: Vec<[f64; 2]> = (0..100_000)
            .map(|i| [i as f64, if i == 54_321 { 99.0 } else { (i % 7) as f64 }])
            .collect();
        let out = downsample(&pts, MAX_PLOT_POINTS);
        assert!(out.len() <= MAX_PLOT_POINTS + 2, "{}", out.len());
        assert!(out.contains(&[54_321.0, 99.0]), "the spike survives");
        assert!(out.windows(2).all(|w| w[0][0] <= w[1][0]), "x stays sorted");
        assert_eq!(downsample(&pts[..10], MAX_PLOT_POINTS), pts[..10].to_vec());
    }

    #[test]
    fn presets_are_valid() {
        assert!(PretrainConfig::tiny().validate().is_ok());
        assert!(PretrainConfig::default().validate().is_ok());
        assert!(bench_preset().validate().is_ok());
        let bad = PretrainConfig {
            n_heads: 3,
            ..PretrainConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("multiple of n_heads"));
    }
}
