//! The Flow panel: the three stages (pre-train → post-train → CTR) as cards
//! with their status, headline metric and a short explanation for learners,
//! a one-click "Run the whole flow", and the CTR results strip.

use egui::{Align, Layout, RichText, Ui, vec2};

use super::{Panel, PanelCx};
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::theme::{self, GAP_L, GAP_M, Palette, Stage};
use crate::gui::widgets::{self, badge, card_frame, section};
use crate::gui::workspace::{PanelId, StageStatus, Workspace};

/// Width of the arrow between two stage cards.
const ARROW_WIDTH: f32 = 36.0;
/// Height of the loss sparkline on the pre-train card.
const SPARK_HEIGHT: f32 = 54.0;
/// Points drawn in the sparkline.
const SPARK_POINTS: usize = 400;
/// Height of the stage cards before the first frame measured them.
const CARD_HEIGHT: f32 = 360.0;

/// Text of one stage card.
struct StageText {
    stage: Stage,
    title: &'static str,
    literature: &'static str,
    what_happens: &'static str,
    look_at: &'static [(PanelId, &'static str)],
}

const STAGES: [StageText; 3] = [
    StageText {
        stage: Stage::PreTrain,
        title: "Pre-train",
        literature: "LUM knowledge construction",
        what_happens: "Each user's history becomes one long sequence of token pairs: a condition \
            (the query, scenario or action) followed by the item, c1 i1 c2 i2 … A causal Transformer \
            learns to predict every item from all that came before plus the condition in front of it, \
            scored with InfoNCE against sampled negative items. One model learns how all users behave.",
        look_at: &[
            (PanelId::Train, "loss and NDCG@10 as it trains"),
            (PanelId::Tokens, "how behaviours become tokens"),
        ],
    },
    StageText {
        stage: Stage::PostTrain,
        title: "Post-train",
        literature: "LUM knowledge querying",
        what_happens: "The trained LUM is asked a question: after a user's history we append a search \
            query as a condition token, and its output o(u,q) is the user's interest under that query. \
            A group query appends many queries at once, each seeing the history and itself but not the \
            others, so one forward pass serves every (user, query) pair; the vectors are cached.",
        look_at: &[(
            PanelId::Attention,
            "what an appended query reads from the history",
        )],
    },
    StageText {
        stage: Stage::Ctr,
        title: "CTR",
        literature: "LUM knowledge utilisation",
        what_happens: "An ordinary click-through-rate model (id embeddings, attention over recent \
            behaviours, an MLP) is trained twice on the same ad impressions: once as the baseline and \
            once with the frozen LUM's features added: o(u,q), its similarity to the ad and a SimTier \
            histogram. The AUC gap is what the long user history is worth.",
        look_at: &[
            (PanelId::Ranking, "how each query's ads move"),
            (PanelId::Runs, "the metric table"),
        ],
    },
];

/// UI state of the Flow panel (none yet: everything shown comes from the workspace).
#[derive(Default)]
pub struct FlowPanel;

impl Panel for FlowPanel {
    fn id(&self) -> PanelId {
        PanelId::Flow
    }

    fn missing(&self, ws: &Workspace) -> Option<&'static str> {
        ws.data.is_none().then_some("load a behaviour log first")
    }

    fn ui(&mut self, ui: &mut Ui, cx: &mut PanelCx<'_>) {
        let ws = cx.workspace;
        let p = Palette::of(ui);
        egui::CentralPanel::default_margins().show(ui, |ui| egui::ScrollArea::vertical().id_salt("flow_scroll").auto_shrink([false, false]).show(ui, |ui| {
            ui.add_space(GAP_M);
            ui.horizontal(|ui| {
                ui.label(RichText::new("The flow").size(theme::HEADING_SIZE + 3.0).color(p.text_strong));
                ui.add_space(GAP_L);
                let flow_running = ws.flow.as_ref().is_some_and(|f| f.is_active());
                if flow_running {
                    if ui
                        .button("■ Stop the flow")
                        .on_hover_text("Stop at the next check; finished stages stay on disk and are reused next time.")
                        .clicked()
                    {
                        cx.push(Command::StopFlow);
                    }
                } else {
                    let run = ui
                        .add_enabled(ws.data.is_some(), widgets::primary_button("Run the whole flow ▶"))
                        .on_hover_text("Pre-train a LUM, extract group-query interests, then train the baseline and +LUM CTR models, one after the other, into a new flow folder under the runs folder.")
                        .on_disabled_hover_text("Load a behaviour log first (Data panel).");
                    if run.clicked() {
                        cx.push(Command::RunWholeFlow);
                    }
                }
                if let Some(flow) = &ws.flow {
                    ui.add_space(GAP_M);
                    let text = if flow.is_active() {
                        format!("{:.0} % · {}", 100.0 * flow.overall(), flow.phase)
                    } else {
                        format!("last flow: {}", flow.out.display())
                    };
                    ui.label(RichText::new(text).color(p.text_weak)).on_hover_text(flow.out.display().to_string());
                }
                ui.add_space(GAP_M);
                let data_text = match &ws.data {
                    Some(d) => format!("data: {}", d.file_name()),
                    None => "data: none loaded".to_string(),
                };
                if ui.link(data_text).on_hover_text("Open the Data panel").clicked() {
                    cx.push(Command::ShowPanel(PanelId::Data));
                }
            });
            ui.label(
                RichText::new("Large User Models in search advertising, in three stages. Each card says what the stage does and where to look.")
                    .color(p.text_weak),
            );
            ui.add_space(GAP_L);

            let card_w = ((ui.available_width() - 2.0 * ARROW_WIDTH) / 3.0).max(220.0);
            // Cards share the tallest card's height of the previous frame, so the row reads as one diagram.
            let height_id = egui::Id::unique("flow_card_height");
            let min_height = ui.data(|d| d.get_temp::<f32>(height_id)).unwrap_or(CARD_HEIGHT);
            let mut tallest: f32 = 0.0;
            ui.horizontal_top(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                for (i, text) in STAGES.iter().enumerate() {
                    if i > 0 {
                        arrow_ui(ui, p);
                    }
                    tallest = tallest.max(stage_card_ui(ui, cx, i, text, card_w, min_height));
                }
            });
            if (tallest - min_height).abs() > 0.5 {
                ui.data_mut(|d| d.insert_temp(height_id, tallest));
                ui.ctx().request_repaint();
            }
            ui.add_space(GAP_L);
            results_strip_ui(ui, ws);
            ui.add_space(GAP_L);
            inputs_ui(ui, ws);
        }));
    }
}

fn arrow_ui(ui: &mut Ui, p: Palette) {
    let (rect, _) =
        ui.allocate_exact_size(vec2(ARROW_WIDTH, CARD_HEIGHT * 0.3), egui::Sense::hover());
    let y = rect.bottom();
    let stroke = egui::Stroke::new(1.5, p.text_weak);
    ui.painter().arrow(
        egui::pos2(rect.left() + 6.0, y),
        vec2(ARROW_WIDTH - 12.0, 0.0),
        stroke,
    );
}

fn status_ui(ui: &mut Ui, status: &StageStatus, p: Palette) {
    match status {
        StageStatus::NotRun => {
            ui.label(RichText::new("○ not run").color(p.text_weak));
        }
        StageStatus::Waiting => {
            ui.label(RichText::new("◌ waiting for the stage before").color(p.text_weak));
        }
        StageStatus::Running { fraction } => {
            ui.add(
                egui::ProgressBar::new(*fraction)
                    .show_percentage()
                    .desired_height(14.0),
            );
        }
        StageStatus::Done { headline } => {
            ui.label(RichText::new(format!("● done · {headline}")).color(p.positive));
        }
        StageStatus::Failed { error } => {
            ui.label(RichText::new(format!("× failed: {error}")).color(p.error));
        }
    }
}

/// Draws one stage card at least `min_height` tall; returns the height its content needed.
fn stage_card_ui(
    ui: &mut Ui,
    cx: &mut PanelCx<'_>,
    index: usize,
    text: &StageText,
    width: f32,
    min_height: f32,
) -> f32 {
    let p = Palette::of(ui);
    let colour = p.stage(text.stage);
    let ws = cx.workspace;
    let status = &ws.stages[index];
    card_frame(ui)
        .show(ui, |ui| {
            ui.spacing_mut().item_spacing.x = GAP_M;
            ui.set_width(width - 26.0);
            ui.set_min_height(min_height);
            ui.vertical(|ui| {
                ui.horizontal(|ui| {
                    ui.label(
                        RichText::new(format!("{}", index + 1))
                            .size(theme::HEADING_SIZE)
                            .color(colour)
                            .strong(),
                    );
                    ui.label(
                        RichText::new(text.title)
                            .size(theme::HEADING_SIZE)
                            .color(p.text_strong)
                            .strong(),
                    );
                    ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                        ui.label(
                            RichText::new(text.literature)
                                .size(theme::SMALL_SIZE)
                                .color(colour),
                        );
                    });
                });
                let (bar, _) =
                    ui.allocate_exact_size(vec2(ui.available_width(), 2.0), egui::Sense::hover());
                ui.painter().rect_filled(bar, 1, colour);
                ui.add_space(GAP_M);
                status_ui(ui, status, p);
                ui.add_space(GAP_M);
                match text.stage {
                    Stage::PreTrain => {
                        let latest = latest_pretrain(ws);
                        for name in ["NDCG@10", "HR@10"] {
                            let value = latest
                                .and_then(|r| {
                                    r.summary
                                        .headline
                                        .iter()
                                        .find(|m| m.name == name && m.protocol.starts_with("full"))
                                })
                                .map(|m| format!("{:.4}", m.value))
                                .unwrap_or_else(|| "–".into());
                            metric_line(ui, name, &value, "full · test");
                        }
                        ui.add_space(GAP_M);
                        let live = ws.training.as_ref().filter(|t| !t.loss.is_empty());
                        let loss =
                            live.map(|t| (t.name.as_str(), t.loss.as_slice()))
                                .or_else(|| {
                                    latest.and_then(|r| {
                                        r.series("loss")
                                            .map(|s| (r.name.as_str(), s.points.as_slice()))
                                    })
                                });
                        match loss {
                            Some((name, pts)) => sparkline_ui(ui, name, pts),
                            None => widgets::empty_area(
                                ui,
                                SPARK_HEIGHT,
                                "the loss curve draws here while training",
                            ),
                        }
                    }
                    Stage::PostTrain => {
                        let info = ws.latest_posttrained().and_then(|r| r.posttrain.as_ref());
                        let pairs = info.map(|i| format::count(i.keys)).unwrap_or_else(|| "–".into());
                        metric_line(ui, "(user, query) pairs", &pairs, "cached");
                        let speed = info
                            .and_then(|i| i.speedup)
                            .map(|s| format!("{s:.1}×"))
                            .unwrap_or_else(|| "–".into());
                        metric_line(ui, "group query speed-up", &speed, "vs one by one");
                        let secs = info.map(|i| format!("{:.1} s", i.extract_secs)).unwrap_or_else(|| "–".into());
                        metric_line(ui, "extraction time", &secs, "all pairs");
                        if info.is_some_and(|i| i.finetuned) {
                            ui.label(RichText::new("fine-tuned on the search scenario first (LumLab's extension)").size(theme::SMALL_SIZE).color(p.text_weak));
                        }
                    }
                    Stage::Ctr => {
                        let run = ws.latest_ctr_run();
                        let find = |name: &str| {
                            run.and_then(|r| r.summary.headline.iter().find(|m| m.name == name))
                                .map(|m| format!("{:.4}", m.value))
                                .unwrap_or_else(|| "–".into())
                        };
                        metric_line(ui, "AUC baseline", &find("baseline AUC"), "test");
                        metric_line(ui, "AUC +LUM", &find("+LUM AUC"), "test");
                        metric_line(ui, "GAUC(user) +LUM", &find("+LUM GAUC(user)"), "test");
                        let rela = run
                            .and_then(|r| r.summary.headline.iter().find(|m| m.name == "+LUM RelaImpr %"))
                            .map(|m| format!("{:+.1} %", m.value))
                            .unwrap_or_else(|| "–".into());
                        metric_line(ui, "RelaImpr", &rela, "AUC vs baseline");
                    }
                }
                ui.add_space(GAP_M);
                section(ui, "What happens");
                ui.label(RichText::new(text.what_happens).color(p.text));
                ui.add_space(GAP_M);
                section(ui, "Look at");
                for (panel, why) in text.look_at {
                    ui.horizontal_wrapped(|ui| {
                        if ui
                            .link(panel.title())
                            .on_hover_text(format!("Open the {} panel", panel.title()))
                            .clicked()
                        {
                            cx.push(Command::ShowPanel(*panel));
                        }
                        ui.label(RichText::new(*why).color(p.text_weak));
                    });
                }
            })
            .response
            .rect
            .height()
        })
        .inner
}

/// The newest finished pre-training run on disk.
fn latest_pretrain(ws: &Workspace) -> Option<&crate::gui::runs::RunInfo> {
    ws.latest_lum_run()
}

/// A small loss curve without axes, in the run's colour.
fn sparkline_ui(ui: &mut Ui, run: &str, points: &[[f64; 2]]) {
    let pts = crate::gui::panels::train::downsample(points, SPARK_POINTS);
    egui_plot::Plot::new(("flow_spark", run))
        .height(SPARK_HEIGHT)
        .show_axes(false)
        .show_grid(false)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .show_x(false)
        .show_y(false)
        .show(ui, |plot| {
            plot.line(
                egui_plot::Line::new(format!("{run} loss"), egui_plot::PlotPoints::from(pts))
                    .color(theme::run_colour(run)),
            );
        });
}

fn metric_line(ui: &mut Ui, name: &str, value: &str, protocol: &str) {
    let p = Palette::of(ui);
    ui.horizontal(|ui| {
        ui.label(RichText::new(name).color(p.text_weak));
        badge(ui, protocol);
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            ui.label(RichText::new(value).monospace().color(p.text_strong));
        });
    });
}

fn results_strip_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    let run = ws.latest_ctr_run();
    let metric = |name: &str| {
        run.and_then(|r| r.summary.headline.iter().find(|m| m.name == name))
    };
    card_frame(ui).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.horizontal(|ui| {
            ui.label(RichText::new("CTR results").strong().color(p.text_strong));
            let protocol = metric("baseline AUC").map(|m| m.protocol.clone()).unwrap_or_else(|| "AUC · test split".into());
            badge(ui, &protocol);
            if let Some(r) = run {
                ui.label(RichText::new(format!("run {}", r.name)).color(p.text_weak));
            }
        });
        ui.add_space(GAP_M);
        // AUC bars on a shared scale from 0.5 (chance) to 1.0.
        for (label, name, colour) in [
            ("baseline", "baseline AUC", p.text_weak),
            ("+LUM", "+LUM AUC", p.stage_ctr),
            ("oracle", "oracle AUC", p.positive),
        ] {
            let value = metric(name).map(|m| m.value);
            ui.horizontal(|ui| {
                ui.allocate_ui_with_layout(
                    vec2(80.0, 18.0),
                    Layout::left_to_right(Align::Center),
                    |ui| {
                        ui.set_width(80.0);
                        ui.label(RichText::new(label).color(p.text));
                    },
                );
                let fraction = value.map_or(0.0, |v| ((v - 0.5) / 0.5).clamp(0.0, 1.0) as f32);
                widgets::thin_bar(ui, fraction, colour, (ui.available_width() - 80.0).max(100.0));
                let text = value.map(|v| format!("{v:.4}")).unwrap_or_else(|| "–".into());
                ui.label(RichText::new(text).monospace())
                    .on_hover_text(metric(name).map(|m| m.protocol.clone()).unwrap_or_default());
            });
        }
        ui.add_space(GAP_M);
        match run {
            Some(_) => {
                let mut parts = Vec::new();
                if let Some(m) = metric("+LUM RelaImpr %") {
                    parts.push(format!("RelaImpr of +LUM over the baseline: {:+.1} %", m.value));
                }
                if let (Some(b), Some(l)) = (metric("baseline GAUC(user)"), metric("+LUM GAUC(user)")) {
                    parts.push(format!("GAUC(user) {:.4} → {:.4}", b.value, l.value));
                }
                parts.push("bars run from AUC 0.5 (chance) to 1.0; the oracle scores the true click probabilities".into());
                ui.label(RichText::new(parts.join(" · ")).color(p.text_weak));
            }
            None => {
                ui.label(
                    RichText::new(
                        "No CTR run yet. After stage 3 this compares the baseline, +LUM and the oracle \
                         (the sample world's true click probabilities) on one scale, with RelaImpr.",
                    )
                    .color(p.text_weak),
                );
            }
        }
    });
}

fn inputs_ui(ui: &mut Ui, ws: &Workspace) {
    let p = Palette::of(ui);
    section(ui, "What exists now");
    let trained = ws.trained_runs().count();
    let rows: [(&str, bool, String); 3] = [
        (
            "behaviour log",
            ws.data.is_some(),
            ws.data
                .as_ref()
                .map(|d| d.chip_text())
                .unwrap_or_else(|| "none loaded: open Data".into()),
        ),
        (
            "run folders",
            !ws.runs.is_empty(),
            format!(
                "{} in {} ({} with a checkpoint)",
                ws.runs.len(),
                ws.runs_dir.display(),
                trained
            ),
        ),
        (
            "CTR models",
            ws.latest_ctr_run().is_some(),
            ws.latest_ctr_run()
                .map(|r| format!("baseline and +LUM in {}", r.name))
                .unwrap_or_else(|| "none trained".into()),
        ),
    ];
    for (what, ok, detail) in rows {
        ui.horizontal(|ui| {
            let (mark, colour) = if ok {
                ("●", p.positive)
            } else {
                ("○", p.text_weak)
            };
            ui.label(RichText::new(mark).color(colour));
            ui.allocate_ui_with_layout(
                vec2(110.0, 18.0),
                Layout::left_to_right(Align::Center),
                |ui| {
                    ui.set_width(110.0);
                    ui.label(what);
                },
            );
            ui.label(RichText::new(detail).color(p.text_weak));
        });
    }
}
