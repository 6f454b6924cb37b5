//! GUI tests (egui_kittest): every panel driven by its labels with asserts on
//! state, a snapshot per panel from fixed data, and headless rendering of all
//! panels. One file on purpose: each tests/*.rs is a separate large link.
//!
//! Snapshots: `UPDATE_SNAPSHOTS=1 WGPU_BACKEND=vulkan cargo test --test gui`
//! (lavapipe, as on CI) rewrites tests/snapshots/*.png.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use lumlab::gui::headless::headless_workspace;
use lumlab::gui::training::LiveStatus;
use lumlab::gui::workspace::{DeviceInfo, StageStatus};
use lumlab::gui::{AppOptions, LumApp, PanelId, Workspace};
use lumlab::job::JobEvent;
use lumlab::util::Rng;

/// Size of the snapshot images (the smallest size the layout supports is 1100×700).
const SNAP_SIZE: [f32; 2] = [1280.0, 800.0];

/// A deterministic little search-advertising log written by the tests themselves.
mod fixture {
    use super::*;

    pub const CATEGORIES: [(&str, [&str; 3], [&str; 3]); 6] = [
        (
            "shoes",
            ["Stride", "Peak", "Nimbus"],
            ["running shoes", "trail shoes", "sneakers"],
        ),
        (
            "phones",
            ["Orion", "Pixelo", "Kite"],
            ["cheap phone", "phone 128gb", "android phone"],
        ),
        (
            "coffee",
            ["Roastery", "Bean&Co", "Morning"],
            ["espresso beans", "coffee grinder", "decaf"],
        ),
        (
            "books",
            ["Penfold", "Inkwell", "Atlas"],
            ["sci-fi novel", "cookbook", "history book"],
        ),
        (
            "outdoor",
            ["Ridge", "Canopy", "Trek"],
            ["tent 2 person", "sleeping bag", "headlamp"],
        ),
        (
            "kitchen",
            ["Ferro", "Cucina", "Blade"],
            ["chef knife", "cast iron pan", "kettle"],
        ),
    ];
    const ITEMS_PER_CATEGORY: usize = 10;
    const NOUNS: [&str; 6] = ["runner", "phone", "beans", "novel", "tent", "pan"];
    /// 2024-03-01 00:00 UTC.
    const T0: i64 = 1_709_251_200;

    /// What the fixture wrote, counted independently of the loader.
    pub struct Written {
        pub path: PathBuf,
        pub users: u64,
        pub good_rows: u64,
        pub bad_rows: u64,
        pub items: u64,
    }

    /// Writes `behaviors.csv` and `items.csv` into `dir`: `users` users, one deliberately bad row.
    pub fn write(dir: &Path, users: usize, seed: u64) -> Written {
        let mut rng = Rng::new(seed);
        let mut items = String::from("item_id,title,category,brand,price\n");
        for (c, (cat, brands, _)) in CATEGORIES.iter().enumerate() {
            for k in 0..ITEMS_PER_CATEGORY {
                let brand = brands[k % 3];
                let price = 5.0 + rng.below(200) as f64 + 0.99;
                items.push_str(&format!(
                    "i{:03},{brand} {} {},{cat},{brand},{price:.2}\n",
                    c * 100 + k,
                    NOUNS[c],
                    100 + k * 7
                ));
            }
        }
        std::fs::write(dir.join("items.csv"), items).unwrap();
        let mut log =
            String::from("user_id,timestamp,item_id,action,query,scenario,position,label\n");
        let mut good = 0;
        for u in 0..users {
            let favourite = rng.index(CATEGORIES.len());
            let mut t = T0 + rng.below(86_400 * 3) as i64;
            let sessions = 2 + rng.index(6);
            for _ in 0..sessions {
                let cat = if rng.chance(0.6) {
                    favourite
                } else {
                    rng.index(CATEGORIES.len())
                };
                let (_, _, queries) = CATEGORIES[cat];
                let item =
                    |rng: &mut Rng| format!("i{:03}", cat * 100 + rng.index(ITEMS_PER_CATEGORY));
                if rng.chance(0.5) {
                    let q = queries[rng.index(3)];
                    for pos in 1..=3 {
                        t += 5;
                        let ad = item(&mut rng);
                        let clicked = rng.chance(0.3 / pos as f64);
                        log.push_str(&format!(
                            "u{u:03},{t},{ad},impression,{q},search,{pos},{}\n",
                            clicked as u8
                        ));
                        good += 1;
                        if clicked {
                            t += 3;
                            log.push_str(&format!("u{u:03},{t},{ad},click,{q},search,,\n"));
                            good += 1;
                        }
                    }
                    for _ in 0..1 + rng.index(3) {
                        t += 30 + rng.below(300) as i64;
                        log.push_str(&format!(
                            "u{u:03},{t},{},click,{q},search,,\n",
                            item(&mut rng)
                        ));
                        good += 1;
                    }
                } else {
                    for _ in 0..2 + rng.index(5) {
                        t += 20 + rng.below(600) as i64;
                        let action =
                            ["click", "click", "click", "cart", "fav", "buy"][rng.index(6)];
                        log.push_str(&format!(
                            "u{u:03},{t},{},{action},,feed,,\n",
                            item(&mut rng)
                        ));
                        good += 1;
                    }
                }
                t += 3600 * (6 + rng.below(60) as i64);
            }
        }
        log.push_str("u000,yesterday,i001,click,,feed,,\n");
        let path = dir.join("behaviors.csv");
        std::fs::write(&path, log).unwrap();
        Written {
            path,
            users: users as u64,
            good_rows: good,
            bad_rows: 1,
            items: (CATEGORIES.len() * ITEMS_PER_CATEGORY) as u64,
        }
    }

    /// Two run folders with configs, metrics and fixed modification times.
    pub fn write_runs(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for (name, d, slope) in [("lum-d32", 32, 0.8), ("lum-d64", 64, 1.1)] {
            let run = dir.join(name);
            std::fs::create_dir_all(&run).unwrap();
            let config = format!(
                "{{\"model\":{{\"d_model\":{d},\"n_layers\":2}},\"tokenizer\":{{\"strategy\":\"id\"}},\"steps\":200}}"
            );
            std::fs::write(run.join("config.json"), config).unwrap();
            let mut metrics = String::new();
            for step in (0..=200).step_by(10) {
                let loss = 6.0 - slope * (1.0 + step as f64).ln() * 0.6;
                metrics.push_str(&format!("{{\"step\":{step},\"loss\":{loss:.4}}}\n"));
                if step % 50 == 0 {
                    metrics.push_str(&format!(
                        "{{\"step\":{step},\"eval\":{{\"ndcg@10_full\":{:.4}}}}}\n",
                        0.02 + 0.0004 * step as f64 * slope
                    ));
                }
            }
            std::fs::write(run.join("metrics.jsonl"), metrics).unwrap();
            // Fixed times so the "modified" column is the same on every machine.
            let when = std::time::UNIX_EPOCH + Duration::from_secs(1_709_900_000 + d as u64);
            for f in ["config.json", "metrics.jsonl"] {
                std::fs::File::options()
                    .write(true)
                    .open(run.join(f))
                    .unwrap()
                    .set_modified(when)
                    .unwrap();
            }
            out.push(run);
        }
        out
    }
}

/// A workspace with the fixture log loaded (synchronously) and a fixed device label.
fn loaded_workspace(dir: &Path, runs: Option<&Path>) -> (Workspace, fixture::Written) {
    let written = fixture::write(dir, 40, 7);
    let mut ws = headless_workspace(Some(&written.path), runs).unwrap();
    if runs.is_none() {
        ws.runs_dir = dir.join("runs");
        ws.runs.clear();
    }
    ws.device = DeviceInfo {
        name: "CPU".into(),
        threads: 2,
    };
    // The fingerprint hashes the files' bytes; keep the snapshots independent of it.
    if let Some(data) = ws.data.as_mut() {
        data.report.fingerprint = "5a85fcd3f9f336ab".into();
    }
    (ws, written)
}

fn empty_workspace(dir: &Path) -> Workspace {
    let mut ws = Workspace::new(dir.join("runs"));
    ws.runs_scanned = true;
    ws.device = DeviceInfo {
        name: "CPU".into(),
        threads: 2,
    };
    ws
}

/// An accesskit-only harness (no rendering) over `ws`.
fn harness(ws: Workspace) -> Harness<'static, LumApp> {
    Harness::builder()
        .with_size(SNAP_SIZE)
        .build_eframe(move |cc| LumApp::from_workspace(&cc.egui_ctx, ws))
}

/// A rendering harness over `ws` (for snapshots).
fn wgpu_harness(ws: Workspace) -> Harness<'static, LumApp> {
    Harness::builder()
        .with_size(SNAP_SIZE)
        .wgpu()
        .build_eframe(move |cc| LumApp::from_workspace(&cc.egui_ctx, ws))
}

fn nav(h: &mut Harness<'_, LumApp>, id: PanelId) {
    h.get_by_role_and_label(Role::Button, id.title()).click();
    h.run_steps(2);
    assert_eq!(h.state().current_panel(), id);
}

/// Steps the app until `done` holds (background jobs), failing after 3 minutes.
fn run_until(h: &mut Harness<'_, LumApp>, what: &str, done: impl Fn(&LumApp) -> bool) {
    let start = Instant::now();
    while !done(h.state()) {
        assert!(
            start.elapsed() < Duration::from_secs(180),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
    // Steps, not `run`: a live job keeps asking for repaints.
    h.run_steps(2);
}

#[test]
fn navigation_labels_and_keys_switch_panels() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(empty_workspace(dir.path()));
    h.run();
    assert_eq!(h.state().current_panel(), PanelId::Flow);
    for id in PanelId::ALL.iter().rev() {
        nav(&mut h, *id);
    }
    h.key_press(egui::Key::Num3);
    h.run();
    assert_eq!(h.state().current_panel(), PanelId::Tokens);
    h.key_press(egui::Key::Num7);
    h.run();
    assert_eq!(h.state().current_panel(), PanelId::Runs);
}

#[test]
fn theme_toggle_and_help_overlay_change_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(empty_workspace(dir.path()));
    h.run();
    assert!(h.state().is_dark());
    h.get_by_label("◐ Light").click();
    h.run();
    assert!(!h.state().is_dark());
    assert_eq!(h.ctx.theme(), egui::Theme::Light);
    h.get_by_label("◐ Dark").click();
    h.run();
    assert!(h.state().is_dark());

    h.key_press(egui::Key::F1);
    h.run();
    assert!(h.state().help_open());
    assert!(h.query_by_label("LumLab · keyboard shortcuts").is_some());
    h.get_by_label("Close").click();
    h.run();
    assert!(!h.state().help_open());
    h.get_by_label("?").click();
    h.run();
    assert!(h.state().help_open());
}

#[test]
fn empty_states_say_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(empty_workspace(dir.path()));
    h.run();
    nav(&mut h, PanelId::Data);
    assert!(h.query_by_label("No behaviour log loaded").is_some());
    nav(&mut h, PanelId::Attention);
    assert!(h.query_by_label_contains("Train a LUM first").is_some());
    h.get_by_label("Open Train").click();
    h.run();
    assert_eq!(h.state().current_panel(), PanelId::Train);
    nav(&mut h, PanelId::Ranking);
    assert!(
        h.query_by_label_contains("Run the CTR stage first")
            .is_some()
    );
    nav(&mut h, PanelId::Runs);
    assert!(h.query_by_label("No runs yet").is_some());
}

#[test]
fn data_panel_shows_the_loaded_figures_and_a_users_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, written) = loaded_workspace(dir.path(), None);
    let data = ws.data.as_ref().unwrap();
    // Counts from the fixture writer, independent of the loader.
    assert_eq!(data.stats.users, written.users);
    assert_eq!(data.stats.behaviors, written.good_rows);
    assert_eq!(data.stats.items, written.items);
    assert_eq!(data.report.rows_skipped, written.bad_rows);
    let mut h = harness(ws);
    h.run();
    nav(&mut h, PanelId::Data);
    assert!(h.query_by_label("40").is_some(), "the users card shows 40");
    assert!(
        h.query_by_label(
            "behaviors.csv:799: timestamp `yesterday` is not a number or ISO 8601 date"
        )
        .is_some(),
        "the bad row is listed"
    );
    assert!(h.query_by_label("Timeline").is_some());
    // Search for a user, then pick them from the list.
    h.get_by_label("Search users").focus();
    h.run();
    h.get_by_label("Search users").type_text("u017");
    h.run();
    assert!(h.query_by_label("1 of 40 users").is_some());
    h.get_by_role_and_label(Role::Button, "u017").click();
    h.run();
    let ds = h.state().workspace().dataset().unwrap();
    let u = h.state().workspace().selected_user.unwrap();
    assert_eq!(ds.users.name(u), "u017");
}

#[test]
fn loading_runs_as_a_job_and_unknown_headers_get_a_mapping_step() {
    let dir = tempfile::tempdir().unwrap();
    // Semicolons and a header no preset knows: the engine declines, the mapping step takes over.
    let path = dir.path().join("export.csv");
    std::fs::write(&path, "who;when;what;did\nu1;1511544070;i100;view\nu1;1511544170;i101;buy\nu2;1511544270;i100;cart\n").unwrap();
    let opts = AppOptions {
        data: Some(path.clone()),
        run: Some(dir.path().join("runs").join("none")),
    };
    let mut h = Harness::builder()
        .with_size(SNAP_SIZE)
        .build_eframe(move |cc| LumApp::new(&cc.egui_ctx, opts));
    run_until(&mut h, "the mapping step", |app| {
        app.workspace().mapping.is_some()
    });
    assert_eq!(h.state().current_panel(), PanelId::Data);
    assert!(
        h.query_by_label("○ map a column to: user_id, timestamp, item_id")
            .is_some()
    );
    for (column, role) in [
        (1, "user_id"),
        (2, "timestamp"),
        (3, "item_id"),
        (4, "action"),
    ] {
        h.get_by_label(&format!("Role of column {column}")).click();
        h.run();
        h.get_by_role_and_label(Role::Button, role).click();
        h.run();
    }
    assert!(h.query_by_label("● ready to load").is_some());
    h.get_by_label("Load with this mapping").click();
    run_until(&mut h, "the mapped load", |app| {
        app.workspace().data.is_some()
    });
    let ws = h.state().workspace();
    let data = ws.data.as_ref().unwrap();
    assert_eq!(
        (data.stats.users, data.stats.items, data.stats.behaviors),
        (2, 2, 3)
    );
    assert!(ws.mapping.is_none());
}

/// A workspace over a small sample world (searches, labels and truth.csv: what the flow needs).
fn sample_world_workspace(dir: &Path, users: usize) -> Workspace {
    let cfg = lumlab::data::sample::WorldConfig {
        users,
        seed: 4,
        ..Default::default()
    };
    lumlab::data::sample::generate(&cfg, &dir.join("world"), None).unwrap();
    let mut ws = headless_workspace(Some(&dir.join("world").join("behaviors.csv")), None).unwrap();
    ws.runs_dir = dir.join("runs");
    ws.runs.clear();
    ws
}

#[test]
fn run_the_whole_flow_streams_stages_and_lands_runs() {
    let dir = tempfile::tempdir().unwrap();
    let ws = sample_world_workspace(dir.path(), 80);
    let mut h = harness(ws);
    let mut pretrain = lumlab::train::PretrainConfig::tiny();
    pretrain.steps = 6;
    pretrain.eval_every = 3;
    pretrain.eval_users = 20;
    let ctr = lumlab::ctr::CtrConfig::tiny();
    h.state_mut()
        .set_flow_settings(lumlab::gui::app::FlowSettings { pretrain, ctr });
    h.run_steps(2);
    assert_eq!(h.state().workspace().stages[2], StageStatus::NotRun);
    h.get_by_label("Run the whole flow ▶").click();
    h.run_steps(2);
    assert!(h.state().workspace().flow.as_ref().is_some_and(|f| f.is_active()));
    assert!(h.query_by_label("■ Stop the flow").is_some());
    // Later stages wait while pre-training runs.
    assert!(matches!(
        h.state().workspace().stages[1..],
        [StageStatus::Waiting, StageStatus::Waiting]
    ));
    run_until(&mut h, "the flow to end", |app| {
        app.workspace().flow.as_ref().is_some_and(|f| !f.is_active())
    });
    let notice = h.state().workspace().notice.clone().unwrap();
    assert!(!notice.is_error, "{}", notice.text);
    assert!(notice.text.contains("the flow finished: AUC"), "{}", notice.text);
    // Pre-training streamed into the Train panel's live run.
    let live = h.state().workspace().training.clone().unwrap();
    assert_eq!(live.loss.len(), 6);
    assert!(live.path.ends_with("pretrain"));
    run_until(&mut h, "the runs rescan", |app| {
        app.workspace().latest_ctr_run().is_some() && app.workspace().latest_posttrained().is_some()
    });
    let ws = h.state().workspace();
    let names: Vec<&str> = ws.runs.iter().map(|r| r.name.as_str()).collect();
    assert!(names.iter().any(|n| n.starts_with("flow-") && n.ends_with("/ctr")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("flow-") && n.ends_with("/pretrain")), "{names:?}");
    for (i, s) in ws.stages.iter().enumerate() {
        assert!(matches!(s, StageStatus::Done { .. }), "stage {i}: {s:?}");
    }
    let StageStatus::Done { headline } = &ws.stages[2] else { unreachable!() };
    assert!(headline.contains("+LUM") && headline.contains("baseline"), "{headline}");
    // The CTR card reads the run's report: its +LUM AUC is on screen.
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.latest_ctr_run().unwrap().path.join("report.json")).unwrap(),
    )
    .unwrap();
    let lum_auc = report["models"][1]["report"]["auc"].as_f64().unwrap();
    assert!(h.query_all_by_label(&format!("{lum_auc:.4}")).count() >= 1);
    assert!(h.query_by_label("Run the whole flow ▶").is_some());
}

#[test]
fn runs_panel_lists_selects_and_diffs_run_folders() {
    let dir = tempfile::tempdir().unwrap();
    let runs = fixture::write_runs(&dir.path().join("runs"));
    let mut ws = headless_workspace(None, Some(&runs[0])).unwrap();
    ws.device = DeviceInfo {
        name: "CPU".into(),
        threads: 2,
    };
    let mut h = harness(ws);
    h.run();
    nav(&mut h, PanelId::Runs);
    assert_eq!(h.state().workspace().runs.len(), 2);
    assert_eq!(h.state().workspace().selected_runs, vec![runs[0].clone()]);
    h.get_by_role_and_label(Role::Button, "lum-d64").click();
    h.run();
    assert_eq!(h.state().workspace().selected_runs.len(), 2);
    assert!(
        h.query_by_label("model.d_model").is_some(),
        "the config diff names the differing key"
    );
    assert!(
        h.query_by_label("tokenizer.strategy").is_none(),
        "identical settings are not listed"
    );
}

#[test]
fn runs_panel_exports_the_curves_plot_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let runs = fixture::write_runs(&dir.path().join("runs"));
    let ws = headless_workspace(None, Some(&runs[0])).unwrap();
    // Tall enough for the whole plot (the export saves what is on screen).
    let mut h = Harness::builder()
        .with_size([1280.0, 1000.0])
        .wgpu()
        .build_eframe(move |cc| LumApp::from_workspace(&cc.egui_ctx, ws));
    h.run();
    nav(&mut h, PanelId::Runs);
    // The button appears once the plot has been laid out.
    h.run_steps(2);
    h.get_by_label("Export plot PNG").click();
    for _ in 0..5 {
        h.step();
    }
    let notice = h.state().workspace().notice.clone().expect("a notice after the export");
    assert!(!notice.is_error, "{}", notice.text);
    let path = PathBuf::from(notice.text.trim_start_matches("wrote "));
    assert_eq!(path.extension().and_then(|e| e.to_str()), Some("png"));
    let png = image::open(&path).unwrap().to_rgba8();
    // The plot (240 points) with its axis labels, about half the panel wide.
    assert!(png.height() >= 240 && png.height() < 300, "{}", png.height());
    assert!(png.width() > 300 && png.width() < SNAP_SIZE[0] as u32, "{}", png.width());
    // Not blank: the curve and the axes differ from the background.
    let first = png.get_pixel(0, 0).0;
    assert!(png.pixels().filter(|p| p.0 != first).count() > 500);
}

#[test]
fn train_panel_sets_the_flows_ctr_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = loaded_workspace(dir.path(), None);
    let mut h = Harness::builder()
        .with_size([1280.0, 2400.0])
        .build_eframe(move |cc| LumApp::from_workspace(&cc.egui_ctx, ws));
    h.run_steps(2);
    nav(&mut h, PanelId::Train);
    assert!(!h.state().flow_settings().ctr.ablations);
    for label in ["CTR history", "CTR width", "CTR epochs", "SimTier tiers", "test days"] {
        assert!(h.query_by_label(label).is_some(), "{label} field");
    }
    h.get_by_label("ablations").click();
    h.run_steps(2);
    assert!(h.state().flow_settings().ctr.ablations, "the flow trains ablations now");
    assert!(h.state().flow_settings().ctr.whiten);
    h.get_by_label("SimTier space").click();
    h.run_steps(2);
    assert!(!h.state().flow_settings().ctr.whiten, "SimTier on raw cosines now");
    assert_eq!(h.state().flow_settings().ctr.history_len, lumlab::ctr::CtrConfig::default().history_len);
}

#[test]
fn train_panel_runs_pauses_and_stops_real_pretraining_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = loaded_workspace(dir.path(), None);
    let mut h = harness(ws);
    h.run_steps(3);
    nav(&mut h, PanelId::Train);
    h.get_by_label("tiny").click();
    h.run_steps(3);
    h.get_by_label("Start").click();
    h.run_steps(3);
    assert!(
        h.state()
            .workspace()
            .training
            .as_ref()
            .is_some_and(|t| t.is_active())
    );
    run_until(&mut h, "the first steps", |app| {
        app.workspace()
            .training
            .as_ref()
            .is_some_and(|t| t.step >= 2)
    });
    h.get_by_label("Pause").click();
    h.run_steps(3);
    assert_eq!(
        h.state().workspace().training.as_ref().unwrap().status,
        LiveStatus::Paused
    );
    h.get_by_label("Resume").click();
    h.run_steps(3);
    assert_eq!(
        h.state().workspace().training.as_ref().unwrap().status,
        LiveStatus::Running
    );
    h.get_by_label("Stop").click();
    run_until(&mut h, "the stop", |app| {
        app.workspace()
            .training
            .as_ref()
            .is_some_and(|t| !t.is_active())
    });
    let stopped = h.state().workspace().training.clone().unwrap();
    assert_eq!(stopped.status, LiveStatus::Stopped);
    assert!(
        stopped.path.join("config.json").is_file(),
        "the run folder was written"
    );

    // A whole tiny run: curves, evaluations and a report, then the run appears in Runs.
    h.get_by_label("Start").click();
    h.run_steps(3);
    assert_ne!(h.state().workspace().training.as_ref().unwrap().path, stopped.path);
    run_until(&mut h, "the tiny run to end", |app| {
        app.workspace()
            .training
            .as_ref()
            .is_some_and(|t| !t.is_active())
    });
    let done = h.state().workspace().training.clone().unwrap();
    assert_eq!(done.status, LiveStatus::Finished, "{:?}", done.log);
    assert_ne!(done.path, stopped.path, "a second run gets its own folder");
    assert_eq!(done.loss.len() as u64, done.total_steps);
    assert!(
        done.evals
            .iter()
            .any(|(label, _)| label.starts_with("NDCG@10")),
        "{:?}",
        done.evals
    );
    assert!(done.path.join("report.json").is_file());
    run_until(&mut h, "the runs rescan", |app| {
        app.workspace().runs.iter().any(|r| r.path == done.path)
    });
    assert!(matches!(
        h.state().workspace().pretrain_stage(),
        StageStatus::Running { .. } | StageStatus::Done { .. }
    ));
    nav(&mut h, PanelId::Runs);
    assert!(
        h.query_by_role_and_label(Role::Button, &done.name)
            .is_some()
    );
}

#[test]
fn tokens_panel_runs_the_tokenizer_and_shows_tree_and_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let (ws, _) = loaded_workspace(dir.path(), None);
    let mut h = harness(ws);
    h.run();
    nav(&mut h, PanelId::Tokens);
    assert!(h.query_by_label("No tokenizer run yet").is_some());
    h.get_by_role_and_label(Role::RadioButton, "semantic")
        .click();
    h.run_steps(2);
    for level in 1..=3 {
        h.get_by_label(&format!("level {level} codes"))
            .set_value_accesskit(4.0);
    }
    h.run_steps(2);
    h.get_all_by_label("Run tokenizer").next().unwrap().click();
    run_until(&mut h, "the tokenizer", |app| {
        app.workspace().tokens_for_data().is_some()
    });
    let run = h.state().workspace().tokens_for_data().unwrap().clone();
    assert_eq!(run.tokenized.config.levels, vec![4, 4, 4]);
    let tree = run.tree.as_ref().expect("the semantic strategy has a tree");
    // Every coded item sits under exactly one level-1 node.
    assert_eq!(
        tree.roots.iter().map(|n| n.count).sum::<usize>(),
        tree.items_coded
    );
    assert!(h.query_by_label_contains("Codebook tree").is_some());
    // u000's LUM sequence: its behaviours that are not impressions, two tokens each.
    let ds = h.state().workspace().dataset().unwrap();
    let u = h.state().workspace().selected_user.unwrap();
    let n = ds.user_range(u).filter(|r| !ds.is_impression(*r)).count();
    assert!(
        h.query_by_label(&format!("{n} behaviours → {} tokens", 2 * n))
            .is_some()
    );
}

/// Not a timed test: measures the UI pass of the Train panel with two 100k-point loss curves
/// while 100 step events arrive per frame, and prints p50 / p99 (`--nocapture` to see them).
#[test]
fn frame_time_with_streaming_events_and_100k_point_curves() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ws, _) = loaded_workspace(dir.path(), None);
    let mut live = lumlab::gui::training::LiveRun::new(dir.path().join("runs").join("lum-live"));
    live.apply(&JobEvent::Started {
        total_steps: 1_000_000,
        label: "pre-train lum (id)".into(),
    });
    let step = |s: u64| JobEvent::Step {
        step: s,
        loss: 5.0 / (1.0 + s as f32).ln().max(1.0),
        tokens_per_sec: 9000.0,
        step_secs: 0.01,
        lr: 1e-3,
    };
    for s in 1..=100_000 {
        live.apply(&step(s));
    }
    ws.training = Some(live);
    let mut h = harness(ws);
    h.state_mut().set_panel(PanelId::Train);
    h.run_steps(3);
    let mut next = 100_001;
    let mut frames = Vec::new();
    for _ in 0..60 {
        let t = Instant::now();
        if let Some(live) = h.state_mut().workspace_mut().training.as_mut() {
            for _ in 0..100 {
                live.apply(&step(next));
                next += 1;
            }
        }
        h.step();
        frames.push(t.elapsed().as_secs_f64() * 1e3);
    }
    frames.sort_by(f64::total_cmp);
    let pct =
        |q: f64| frames[((q * frames.len() as f64).ceil() as usize).clamp(1, frames.len()) - 1];
    eprintln!(
        "train panel frame (UI pass, 100k+ points, 100 events/frame): p50 {:.2} ms, p99 {:.2} ms",
        pct(0.5),
        pct(0.99)
    );
    assert_eq!(
        h.state().workspace().training.as_ref().unwrap().loss.len(),
        106_000
    );
}

/// A fixed attention map: `behaviours` behaviours and `queries` appended queries,
/// every open row a deterministic distribution (for snapshots and frame times).
fn fixed_attention(behaviours: usize, queries: usize, layers: usize, heads: usize) -> lumlab::gui::attention_job::AttentionView {
    use lumlab::posttrain::attention::{AttentionMap, AttentionToken, TokenRole};
    let mut tokens = Vec::new();
    for b in 0..behaviours {
        tokens.push(AttentionToken { role: TokenRole::Condition, label: format!("query \"q{}\" · search · click", b % 7), detail: format!("behaviour {}", b + 1), behaviour: Some(b) });
        tokens.push(AttentionToken { role: TokenRole::Item, label: format!("Item {b}"), detail: format!("item i{b}"), behaviour: Some(b) });
    }
    let texts: Vec<String> = (0..queries).map(|q| format!("q{q}")).collect();
    for t in &texts {
        tokens.push(AttentionToken { role: TokenRole::Query, label: format!("Q {t}"), detail: "appended".into(), behaviour: None });
    }
    let n = tokens.len();
    let hist = 2 * behaviours;
    let mut rng = Rng::new(11);
    let mut probs = Vec::with_capacity(layers * heads * n * n);
    for _ in 0..layers * heads {
        for r in 0..n {
            let open: Vec<usize> = (0..n).filter(|&c| if r < hist { c <= r } else { c < hist || c == r }).collect();
            let raw: Vec<f32> = open.iter().map(|_| rng.f32() + 0.01).collect();
            let sum: f32 = raw.iter().sum();
            let mut row = vec![0.0f32; n];
            for (c, w) in open.iter().zip(raw) {
                row[*c] = w / sum;
            }
            probs.extend(row);
        }
    }
    let map = AttentionMap::from_parts(0, "u000".into(), layers, heads, tokens, behaviours + 5, texts, probs).unwrap();
    lumlab::gui::attention_job::AttentionView { run: PathBuf::from("runs/lum-fixed"), map: std::sync::Arc::new(map) }
}

#[test]
fn attention_panel_computes_a_real_checkpoints_attention() {
    let dir = tempfile::tempdir().unwrap();
    let written = fixture::write(dir.path(), 40, 7);
    let run = dir.path().join("runs").join("lum-tiny");
    let mut cfg = lumlab::train::PretrainConfig::tiny();
    cfg.steps = 3;
    cfg.eval_every = 3;
    cfg.eval_users = 10;
    let req = lumlab::train::PretrainRequest {
        data: written.path.clone(),
        out: run.clone(),
        config: cfg,
        resume: false,
        load: lumlab::data::LoadOptions::cached(),
    };
    lumlab::train::run_pretrain(&req, &mut |_| {}, &lumlab::job::CancelToken::new()).unwrap();
    let ws = headless_workspace(Some(&written.path), Some(&run)).unwrap();
    let ds = ws.data.as_ref().unwrap().dataset.clone();
    // User 0's newest search query, as the panel suggests it.
    let user = 0u32;
    let query = ds
        .user_range(user)
        .rev()
        .map(|r| ds.query_at(r))
        .find(|&q| q != lumlab::data::NONE)
        .map(|q| ds.queries.name(q).to_string())
        .unwrap();
    let mut h = harness(ws);
    h.run_steps(2);
    nav(&mut h, PanelId::Attention);
    h.get_by_label(&format!("+ {query}")).click();
    h.run_steps(2);
    h.get_by_label("Compute").click();
    h.run_steps(2);
    run_until(&mut h, "the attention job", |app| app.workspace().attention.is_some() || app.workspace().attention_error.is_some());
    assert_eq!(h.state().workspace().attention_error, None);
    let map = h.state().workspace().attention.as_ref().unwrap().map.clone();
    // Behaviours the LUM reads: every non-impression row of the user.
    let behaviours = ds.user_range(user).filter(|&r| !ds.is_impression(r)).count();
    assert_eq!(map.behaviours_total, behaviours);
    assert_eq!(map.len(), 2 * map.behaviours_shown + 1);
    assert_eq!(map.queries, vec![query.clone()]);
    for layer in 0..map.n_layers {
        for head in 0..map.n_heads {
            for row in 0..map.len() {
                let sum: f32 = (0..map.len()).map(|c| map.weight(layer, head, row, c)).sum();
                assert!((sum - 1.0).abs() < 1e-5, "layer {layer} head {head} row {row}: {sum}");
            }
        }
    }
    // The grid switches the large view; the query's reads are listed.
    h.get_by_label("L1 H2").click();
    h.run_steps(2);
    assert!(h.query_by_label("LAYER 1 · HEAD 2").is_some());
    assert!(h.query_by_label(&format!("Q {query}")).is_some());
    let top = map.query_reads(0, None)[0].clone();
    assert!(h.query_by_label_contains(&format!("{} · ", top.item)).is_some());
}

#[test]
fn frame_time_of_attention_and_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let (mut ws, _) = loaded_workspace(dir.path(), None);
    // 4 layers × 4 heads over 200 tokens (99 behaviours + 2 queries).
    ws.attention = Some(fixed_attention(99, 2, 4, 4));
    let mut h = wgpu_harness(ws);
    h.state_mut().set_panel(PanelId::Attention);
    h.run_steps(4);
    let mut frames = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        h.step();
        frames.push(t.elapsed().as_secs_f64() * 1e3);
    }
    frames.sort_by(f64::total_cmp);
    let pct = |q: f64| frames[((q * frames.len() as f64).ceil() as usize).clamp(1, frames.len()) - 1];
    eprintln!("attention panel frame (UI pass, 200 tokens, 4x4 heads): p50 {:.2} ms, p99 {:.2} ms", pct(0.5), pct(0.99));
    assert_eq!(h.state().workspace().attention.as_ref().unwrap().map.len(), 200);
    let small = fixed_attention(30, 2, 2, 2);
    h.state_mut().workspace_mut().attention = Some(small);
    h.run_steps(4);
    h.snapshot("attention_fixed");
}

fn snapshot_all(h: &mut Harness<'_, LumApp>, prefix: &str) {
    for id in PanelId::ALL {
        h.state_mut().set_panel(id);
        h.run();
        h.snapshot(format!("{prefix}_{}", id.file_stem()));
    }
}

#[test]
fn snapshots_of_every_panel_with_fixture_data() {
    let dir = tempfile::tempdir().unwrap();
    let runs = fixture::write_runs(&dir.path().join("runs"));
    let (mut ws, _) = loaded_workspace(dir.path(), Some(&runs[0]));
    ws.selected_runs = runs.clone();
    // Show paths relative to the temporary folder so images match on every machine.
    ws.runs_dir = PathBuf::from("runs");
    let mut h = wgpu_harness(ws);
    h.run();
    snapshot_all(&mut h, "data");
}

#[test]
fn snapshots_of_empty_states_in_the_light_theme() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = empty_workspace(dir.path());
    ws.runs_dir = PathBuf::from("runs");
    let mut h = wgpu_harness(ws);
    h.run();
    h.get_by_label("◐ Light").click();
    h.run();
    h.remove_cursor();
    for id in [PanelId::Flow, PanelId::Data, PanelId::Attention] {
        h.state_mut().set_panel(id);
        h.run();
        h.snapshot(format!("empty_light_{}", id.file_stem()));
    }
}

#[test]
fn render_panels_writes_one_png_per_panel() {
    let dir = tempfile::tempdir().unwrap();
    let written = fixture::write(dir.path(), 40, 7);
    // LUMLAB_SHOTS=/tmp/shots keeps the images for a look; LUMLAB_SHOTS_DATA=LOG renders another log.
    let out = std::env::var_os("LUMLAB_SHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("shots"));
    let data = std::env::var_os("LUMLAB_SHOTS_DATA")
        .map(PathBuf::from)
        .unwrap_or(written.path);
    // LUMLAB_SHOTS_RUN=DIR/RUN renders with that run folder selected (its parent as the runs folder).
    let run = std::env::var_os("LUMLAB_SHOTS_RUN").map(PathBuf::from);
    let opts = lumlab::gui::RenderOptions {
        out_dir: out.clone(),
        data: Some(data),
        run,
        width: 1600.0,
        height: 1000.0,
        dark: true,
        tokenize: true,
    };
    let paths = lumlab::gui::render_panels_with(&opts).unwrap();
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "flow.png",
            "data.png",
            "tokens.png",
            "train.png",
            "attention.png",
            "ranking.png",
            "runs.png"
        ]
    );
    for p in &paths {
        let img = image::open(p).unwrap().to_rgba8();
        assert_eq!(img.dimensions(), (1600, 1000), "{}", p.display());
        let lumas: Vec<u32> = img
            .pixels()
            .map(|px| px.0[0] as u32 + px.0[1] as u32 + px.0[2] as u32)
            .collect();
        let distinct = lumas
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        assert!(distinct > 20, "{} looks blank", p.display());
    }
}

/// Ranking panel fixtures: a real tiny flow run, and hand-made rankings for snapshots and timing.
mod ranking_fixture {
    use super::*;
    use lumlab::ctr::{CtrConfig, QueryGain, SessionRanking};
    use lumlab::eval::QueryRanking;
    use lumlab::gui::ranking_data::{MapRequest, RankingRun, Slot};
    use lumlab::gui::runs::RunInfo;
    use lumlab::posttrain::{InterestKey, InterestTable, interest_map};
    use lumlab::run::RunSummary;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// Runs the whole flow (tiny settings, seconds) on a small sample world in `dir`;
    /// returns (the log, the flow folder holding `pretrain/` and `ctr/`).
    pub fn tiny_flow(dir: &Path) -> (PathBuf, PathBuf) {
        let world = dir.join("world");
        let cfg = lumlab::data::sample::WorldConfig::small(80, 11);
        lumlab::data::sample::generate(&cfg, &world, None).unwrap();
        let data = world.join("behaviors.csv");
        let out = dir.join("runs");
        let mut req = lumlab::flow::FlowRequest::new(&data, &out);
        req.pretrain = lumlab::train::PretrainConfig {
            steps: 12,
            eval_every: 12,
            checkpoint_every: 12,
            eval_users: 20,
            ..lumlab::train::PretrainConfig::tiny()
        };
        req.ctr = CtrConfig::tiny();
        lumlab::flow::run_flow(&req, &mut |_| {}, &lumlab::job::CancelToken::new()).unwrap();
        (data, out)
    }

    /// A page of `n` ads for `user` under query `q`: fixed scores, clicks on every fourth ad.
    pub fn page(q: u32, text: &str, user: &str, ts: i64, n: usize, seed: u64) -> SessionRanking {
        let mut rng = Rng::new(seed);
        let items: Vec<u32> = (0..n as u32).map(|i| (i * 7 + seed as u32) % 60).collect();
        let labels: Vec<bool> = (0..n).map(|i| i % 4 == 1).collect();
        let base: Vec<f32> = (0..n).map(|_| rng.below(1000) as f32 / 1000.0).collect();
        let lum: Vec<f32> = base
            .iter()
            .zip(&labels)
            .map(|(b, &y)| (b * 0.6 + if y { 0.35 } else { 0.0 } + rng.below(200) as f32 / 1000.0).min(0.999))
            .collect();
        let features = (0..n)
            .map(|i| lumlab::ctr::report::AdLumFeatures {
                sim: if labels[i] { 0.6 } else { -0.2 + 0.05 * (i % 8) as f32 },
                simtier: (0..10).map(|b| if b == 5 + i % 4 { 0.5 } else { 0.5 / 9.0 }).collect(),
            })
            .collect();
        SessionRanking {
            session: 0,
            user: user.into(),
            query_text: text.into(),
            timestamp: ts,
            item_names: items.iter().map(|i| format!("ad-{i:03}")).collect(),
            ranking: QueryRanking::compute(q, &items, &labels, &base, &lum).unwrap(),
            lum_features: features,
        }
    }

    /// A workspace whose Ranking panel shows a hand-made run: `queries` queries of three
    /// pages each, the first page with `ads` ads, and an interest map from a hand-made table.
    pub fn workspace(dir: &Path, queries: usize, ads: usize) -> Workspace {
        let mut pages = Vec::new();
        let mut gains = Vec::new();
        let mut pages_of: HashMap<u32, Vec<usize>> = HashMap::new();
        for q in 0..queries as u32 {
            let text = format!("{} {}", ["trail", "cheap", "premium", "compact"][q as usize % 4], ["running shoes", "espresso beans", "tent", "chef knife", "headlamp"][q as usize % 5]);
            let mut sums = (0.0, 0.0, 0);
            for k in 0..3u64 {
                let n = if q == 0 { ads } else { 6 + (q as usize + k as usize) % 6 };
                let pg = page(q, &text, &format!("u{:03}", (q as u64 * 3 + k) % 40), 1_709_300_000 + 3600 * (q as i64 * 3 + k as i64), n, q as u64 * 10 + k);
                if pg.ranking.has_clicks {
                    sums.0 += pg.ranking.ndcg_base;
                    sums.1 += pg.ranking.ndcg_lum;
                    sums.2 += 1;
                }
                pages_of.entry(q).or_default().push(pages.len());
                pages.push(pg);
            }
            let c = sums.2.max(1) as f64;
            gains.push(QueryGain { query: q, text, pages: 3, pages_with_clicks: sums.2, mean_ndcg_base: sums.0 / c, mean_ndcg_lum: sums.1 / c, delta: (sums.1 - sums.0) / c });
        }
        let ctr = dir.join("runs").join("ctr");
        std::fs::create_dir_all(&ctr).unwrap();
        std::fs::write(ctr.join("ranking.jsonl"), "").unwrap();
        let lum_run = PathBuf::from("runs/pretrain");
        let run = RankingRun {
            path: ctr.clone(),
            name: "ctr".into(),
            created_unix: Some(0),
            model: "+LUM".into(),
            summary: None,
            queries: gains,
            pages,
            pages_of,
            lum_run: Some(lum_run.clone()),
            simtier_bins: 10,
            simtier_whitened: true,
        };
        // Interest table: 8-D, 60 items in 6 clusters; every user has sessions near two clusters.
        let dim = 8;
        let mut rng = Rng::new(5);
        let mut item_emb = Vec::new();
        for i in 0..60 {
            for d in 0..dim {
                item_emb.push(if d == i % 6 { 1.0 } else { 0.0 } + rng.below(300) as f32 / 1000.0);
            }
        }
        let mut keys = Vec::new();
        let mut interest = Vec::new();
        for p in &run.pages {
            if keys.iter().any(|k: &InterestKey| k.user_id == p.user && k.query == p.query_text && k.timestamp == p.timestamp) {
                continue;
            }
            keys.push(InterestKey { row: keys.len(), user_id: p.user.clone(), query: p.query_text.clone(), timestamp: p.timestamp, history_len: 5, impressions: p.ranking.n_ads as u32 });
            let hot = p.ranking.query as usize % 6;
            for d in 0..dim {
                interest.push(if d == hot { 0.8 } else { 0.1 } + rng.below(200) as f32 / 1000.0);
            }
        }
        let table = InterestTable::new(keys, dim, interest, item_emb).unwrap();
        let run = Arc::new(run);
        let first = run.query_rows("", Default::default())[0];
        let pg = run.default_page(first).unwrap();
        let req = lumlab::gui::ranking_data::map_request(&run, pg).unwrap();
        let map = interest_map(&table, None, &req.user, 120, 60, &req.highlight, &[]).unwrap();
        let mut ws = Workspace::new(dir.join("runs"));
        ws.runs_scanned = true;
        ws.device = DeviceInfo { name: "CPU".into(), threads: 2 };
        ws.runs.push(RunInfo {
            path: ctr.clone(),
            name: "ctr".into(),
            summary: RunSummary { name: "ctr".into(), path: ctr.clone(), kind: "ctr".into(), created_unix: Some(0), created: String::new(), status: "finished".into(), headline: Vec::new() },
            has_checkpoint: false,
            config: Default::default(),
            series: Vec::new(),
            events: Vec::new(),
            problems: Vec::new(),
            posttrain: None,
        });
        ws.ranking.run = Some(Slot { key: ctr, value: Some(Ok(run)) });
        let map = lumlab::gui::ranking_data::UserMap { map, note: None };
        ws.ranking.map = Some(Slot { key: MapRequest { lum_run, ..req }, value: Some(Ok(Arc::new(map))) });
        ws
    }
}

#[test]
fn ranking_panel_shows_a_real_ctr_runs_pages_and_why_ads_moved() {
    use lumlab::gui::panels::ranking::signed;
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = ranking_fixture::tiny_flow(dir.path());
    let ctr = out.join("ctr");
    let mut ws = headless_workspace(Some(&data), Some(&ctr)).unwrap();
    ws.device = DeviceInfo { name: "CPU".into(), threads: 2 };
    let run = ws.ranking.run.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    assert_eq!(run.path, ctr);
    assert_eq!(run.lum_run.as_deref(), Some(out.join("pretrain").as_path()));
    let q = run.query_rows("", Default::default())[0];
    let pg = run.default_page(q).unwrap();
    let page = &run.pages[pg];
    let ad = run.default_ad(pg).unwrap();

    // The page's NDCG delta, recomputed from predictions.csv independently of ranking.jsonl.
    let mut rdr = csv::Reader::from_path(ctr.join("predictions.csv")).unwrap();
    let (mut labels, mut base, mut lum) = (Vec::new(), Vec::new(), Vec::new());
    for rec in rdr.records() {
        let rec = rec.unwrap();
        if rec[1] == page.user && rec[2] == page.query_text && rec[4].parse::<i64>().unwrap() == page.timestamp {
            labels.push(&rec[6] == "1");
            base.push(rec[7].parse::<f32>().unwrap());
            lum.push(rec[8].parse::<f32>().unwrap());
        }
    }
    assert_eq!(labels.len(), page.ranking.n_ads);
    let items: Vec<u32> = (0..labels.len() as u32).collect();
    let again = lumlab::eval::QueryRanking::compute(0, &items, &labels, &base, &lum).unwrap();
    assert_eq!(again.delta, page.ranking.delta);

    let mut h = harness(ws);
    h.run();
    nav(&mut h, PanelId::Ranking);
    assert!(h.query_by_label(&format!("Δ {}", signed(page.ranking.delta))).is_some(), "the page's NDCG delta is shown");
    assert!(h.query_by_label(&format!("“{}”", run.queries[q].text)).is_some());
    // Why it moved: sim(o(u,q), e_t) from the interest table by hand.
    let table = lumlab::posttrain::load_interest(&out.join("pretrain")).unwrap();
    let o = table.get(&page.user, &page.query_text, page.timestamp).unwrap();
    let e = table.item(page.ranking.ads[ad].item).unwrap();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cos = o.iter().zip(e).map(|(a, b)| a * b).sum::<f32>() / (norm(o) * norm(e));
    assert!((page.lum_features[ad].sim - cos).abs() < 1e-5);
    assert!(h.query_all_by_label(&format!("{:.3}", page.lum_features[ad].sim)).count() >= 1, "sim is shown");
    assert!(h.query_by_label("SimTier: history items by cos(e_t, e_h), whitened").is_some(), "the run's SimTier space is named");
    // The interest map of the page's user: one point per session of theirs (up to the cap).
    let sessions = table.keys.iter().filter(|k| k.user_id == page.user).count().min(lumlab::gui::ranking_data::MAP_SESSIONS);
    let map = h.state().workspace().ranking.map.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    assert!(map.note.is_none(), "{:?}", map.note);
    assert_eq!(map.map.user, page.user);
    assert_eq!(map.map.n_interest(), sessions);
    let probes = map.map.points.iter().filter(|m| matches!(m.kind, lumlab::posttrain::PointKind::Probe { .. })).count();
    assert!(probes >= 1, "other queries were probed");
    // A probe with the page's own query at the page's time reproduces post-training's vector.
    let t = lumlab::train::pretrain::open_trained(&out.join("pretrain"), None, false, &mut |_| {}).unwrap();
    let lumlab::train::pretrain::Net::Lum(lum) = &t.net else { panic!("not a LUM") };
    let (u, qid) = (t.data.users.get(&page.user).unwrap(), t.data.queries.get(&page.query_text).unwrap());
    let v = lumlab::posttrain::probe_interests(lum, &t.tok, &t.seqs, &t.data, u, &[qid], page.timestamp).unwrap();
    let diff = v.iter().zip(o).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(diff < 1e-4, "probe vs post-train: max |diff| {diff}");

    // Clicking an ad of the +LUM column selects it (its label shows in "Why it moved").
    let other = (0..page.ranking.n_ads).find(|&k| k != ad).unwrap();
    let a = &page.ranking.ads[other];
    let title = h.state().workspace().dataset().unwrap().item_table.title(a.item).to_string();
    let name = format!("{title} (+LUM #{})", a.lum_rank + 1);
    h.get_by_label(&name).click();
    h.run();
    assert!(h.query_all_by_label(&format!("{:.3}", page.lum_features[other].sim)).count() >= 1);

    // Sort by loss, then search.
    h.get_by_role_and_label(Role::Button, "loss").click();
    h.run();
    let wq = run.query_rows("", lumlab::gui::ranking_data::QuerySort::Loss)[0];
    let worst = &run.queries[wq];
    h.get_by_role_and_label(Role::Button, &worst.text).click();
    // Another page, maybe another user: the panel asks for that user's map (a background job).
    let want = lumlab::gui::ranking_data::map_request(&run, run.default_page(wq).unwrap()).unwrap();
    run_until(&mut h, "the interest map of the new page", |app| {
        app.workspace().ranking.map_for(&want).is_some_and(|s| s.value.is_some())
    });
    let map = h.state().workspace().ranking.map_for(&want).unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    assert_eq!(map.map.user, want.user);
    assert!(h.query_by_label(&format!("“{}”", worst.text)).is_some());
    h.get_by_label("Search queries").focus();
    h.run();
    h.get_by_label("Search queries").type_text(&worst.text);
    h.run();
    let n = run.query_rows(&worst.text, Default::default()).len();
    assert!(h.query_by_label(&format!("{n} of {} queries with clicks", run.queries.len())).is_some());
    // Hide queries resting on a single clicked page.
    h.get_by_label("Search queries").focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.key_press(egui::Key::Backspace);
    h.run();
    h.get_by_label("Min. pages with clicks").set_value_accesskit(2.0);
    h.run();
    let n = run.query_rows_with("", Default::default(), 2).len();
    assert!(n < run.queries.len(), "some queries have one clicked page");
    assert!(h.query_by_label(&format!("{n} of {} queries with clicks", run.queries.len())).is_some());

    // A rescan reporting a newer run in the same folder makes the panel read it again (once).
    let before = h.state().workspace().ranking.run.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    let info = h.state_mut().workspace_mut().runs.iter_mut().find(|r| r.path == ctr).unwrap();
    info.summary.created_unix = info.summary.created_unix.map(|t| t + 60);
    h.run_steps(2);
    run_until(&mut h, "the re-read", |app| app.workspace().ranking.run.as_ref().is_some_and(|s| s.value.is_some()));
    let after = h.state().workspace().ranking.run.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    assert!(!Arc::ptr_eq(&before, &after), "read again");
    assert_eq!(after.pages.len(), before.pages.len());
    h.run_steps(5);
    let again = h.state().workspace().ranking.run.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    assert!(Arc::ptr_eq(&after, &again), "no second re-read for the same scan");
}

#[test]
fn ranking_panel_snapshot_from_fixed_rankings() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = ranking_fixture::workspace(dir.path(), 30, 10);
    ws.runs_dir = PathBuf::from("runs");
    let mut h = wgpu_harness(ws);
    h.state_mut().set_panel(PanelId::Ranking);
    h.run();
    h.remove_cursor();
    h.run();
    h.snapshot("ranking_fixed");
}

/// Not a timed test: the Ranking panel's frame with a 100-ad page and 500 queries, p50 / p99
/// printed (`--nocapture`): the UI pass, the UI pass + tessellation (the CPU part of a
/// frame), and, for scale only, UI pass + tessellation + a software render by lavapipe.
#[test]
fn frame_time_ranking_panel_with_100_ads() {
    let dir = tempfile::tempdir().unwrap();
    let ws = ranking_fixture::workspace(dir.path(), 500, 100);
    let pct = |v: &[f64], q: f64| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
    };
    let mut h = harness(ws);
    h.state_mut().set_panel(PanelId::Ranking);
    h.run_steps(3);
    // The first query's shown page is the 100-ad one (only the visible boxes get accessibility nodes).
    let run = h.state().workspace().ranking.run.as_ref().unwrap().value.as_ref().unwrap().as_ref().unwrap().clone();
    let shown = run.default_page(run.query_rows("", Default::default())[0]).unwrap();
    assert_eq!(run.pages[shown].ranking.n_ads, 100);
    assert!(h.query_all_by_label_contains("(Baseline #").count() >= 10);
    let (mut ui_ms, mut cpu_ms) = (Vec::new(), Vec::new());
    for i in 0..400 {
        // Move the pointer over the ranking, the lists and the map so frames differ (hover, tooltips).
        h.hover_at(egui::pos2(380.0 + (i % 13) as f32 * 60.0, 150.0 + (i % 11) as f32 * 55.0));
        let t = Instant::now();
        h.step();
        let ui = t.elapsed().as_secs_f64() * 1e3;
        let shapes = h.output().shapes.clone();
        let t = Instant::now();
        let prims = h.ctx.tessellate(shapes, h.ctx.pixels_per_point());
        assert!(!prims.is_empty());
        ui_ms.push(ui);
        cpu_ms.push(ui + t.elapsed().as_secs_f64() * 1e3);
    }
    let over = cpu_ms.iter().filter(|&&x| x > 16.0).count();
    eprintln!(
        "ranking panel frame, 100 ads, 500 queries, {} frames: UI pass p50 {:.2} ms p99 {:.2} ms; UI pass + tessellation p50 {:.2} ms p99 {:.2} ms max {:.2} ms ({over} frames over 16 ms)",
        ui_ms.len(),
        pct(&ui_ms, 0.5),
        pct(&ui_ms, 0.99),
        pct(&cpu_ms, 0.5),
        pct(&cpu_ms, 0.99),
        pct(&cpu_ms, 1.0)
    );
    let dir2 = tempfile::tempdir().unwrap();
    let mut h = wgpu_harness(ranking_fixture::workspace(dir2.path(), 500, 100));
    h.state_mut().set_panel(PanelId::Ranking);
    h.run_steps(3);
    let mut frames = Vec::new();
    for i in 0..12 {
        h.hover_at(egui::pos2(380.0 + (i % 13) as f32 * 60.0, 150.0 + (i % 11) as f32 * 55.0));
        let t = Instant::now();
        h.step();
        h.render().unwrap();
        frames.push(t.elapsed().as_secs_f64() * 1e3);
    }
    eprintln!(
        "  for scale: + software rendering by lavapipe (1280x800, CPU rasteriser, no GPU): p50 {:.1} ms",
        pct(&frames, 0.5)
    );
}
