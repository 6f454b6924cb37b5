//! Opening the real window (eframe on wgpu), plus the CI "self-shot": with
//! `self_shot` set, the app captures its own window once it is ready, saves
//! the PNG and closes, so a smoke test under Xvfb needs no window manager.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::gui::app::{AppOptions, LumApp};

/// Frames drawn before the self-shot, so the layout has settled.
const SELF_SHOT_FRAME: u64 = 5;
/// Take the self-shot even if the data is still loading after this long.
const SELF_SHOT_TIMEOUT: Duration = Duration::from_secs(20);
/// Default window size.
const WINDOW_SIZE: [f32; 2] = [1600.0, 1000.0];
/// Smallest usable window.
const MIN_WINDOW_SIZE: [f32; 2] = [1100.0, 700.0];

/// How `lumlab gui` starts.
#[derive(Clone, Debug, Default)]
pub struct GuiOptions {
    /// A behaviour log to load at start.
    pub data: Option<PathBuf>,
    /// A run folder to open.
    pub run: Option<PathBuf>,
    /// Save a screenshot of the window here once it is ready, then exit.
    pub self_shot: Option<PathBuf>,
}

/// State of a pending self-shot.
struct SelfShot {
    path: PathBuf,
    started: Instant,
    frames: u64,
    requested: bool,
    /// When the first frame was drawn and when the data was loaded (from `started`).
    first_frame: Option<Duration>,
    ready_at: Option<Duration>,
    /// Ok(timings line) once the PNG is saved.
    result: Arc<Mutex<Option<Result<String, String>>>>,
}

/// LumApp plus the self-shot logic (kept out of LumApp so tests never see it).
struct NativeApp {
    app: LumApp,
    shot: Option<SelfShot>,
}

impl eframe::App for NativeApp {
    fn logic(&mut self, ctx: &egui::Context, frame: &mut eframe::Frame) {
        self.app.logic(ctx, frame);
    }

    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        self.app.ui(ui, frame);
        let ready = !self.app.is_busy();
        if let Some(shot) = &mut self.shot {
            shot.frames += 1;
            shot.first_frame.get_or_insert_with(|| shot.started.elapsed());
            if ready && shot.ready_at.is_none() {
                shot.ready_at = Some(shot.started.elapsed());
            }
            let ctx = ui.ctx().clone();
            if !shot.requested
                && ((ready && shot.frames >= SELF_SHOT_FRAME)
                    || shot.started.elapsed() > SELF_SHOT_TIMEOUT)
            {
                shot.requested = true;
                let path = shot.path.clone();
                let result = shot.result.clone();
                let ms = |d: Option<Duration>| d.map_or("–".to_string(), |d| format!("{} ms", d.as_millis()));
                let timings = format!(
                    "first frame after {}, data loaded after {} (from the window's creation call)",
                    ms(shot.first_frame),
                    ms(shot.ready_at)
                );
                let close_ctx = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let saved = save_color_image(&image, &path).map(|()| timings);
                    if let Ok(mut slot) = result.lock() {
                        *slot = Some(saved);
                    }
                    close_ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                    close_ctx.request_repaint();
                });
            }
            ctx.request_repaint();
        }
    }
}

fn save_color_image(image: &egui::ColorImage, path: &std::path::Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image
        .pixels
        .iter()
        .flat_map(|c| c.to_srgba_unmultiplied())
        .collect();
    let img = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or("screenshot has the wrong size")?;
    img.save(path)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Opens the LumLab window and runs until it is closed.
pub fn run_native(opts: GuiOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("LumLab")
            .with_inner_size(WINDOW_SIZE)
            .with_min_inner_size(MIN_WINDOW_SIZE)
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let result = Arc::new(Mutex::new(None));
    let shot = opts.self_shot.clone().map(|path| SelfShot {
        path,
        started: Instant::now(),
        frames: 0,
        requested: false,
        first_frame: None,
        ready_at: None,
        result: result.clone(),
    });
    let app_opts = AppOptions {
        data: opts.data.clone(),
        run: opts.run.clone(),
    };
    eframe::run_native(
        "LumLab",
        native,
        Box::new(move |cc| {
            Ok(Box::new(NativeApp {
                app: LumApp::new(&cc.egui_ctx, app_opts),
                shot,
            }))
        }),
    )
    .map_err(|e| anyhow::anyhow!("the window failed: {e}"))?;
    if let Some(path) = &opts.self_shot {
        let outcome = result
            .lock()
            .map_err(|_| anyhow::anyhow!("self-shot state poisoned"))?
            .take();
        match outcome {
            Some(Ok(timings)) => eprintln!("self-shot {}: {timings}", path.display()),
            Some(Err(e)) => anyhow::bail!("self-shot failed: {e}"),
            None => anyhow::bail!(
                "the window closed before the self-shot of {} was taken",
                path.display()
            ),
        }
    }
    Ok(())
}
