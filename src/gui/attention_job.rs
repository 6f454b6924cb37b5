//! Attention for the Attention panel: reopen a run's checkpoint (kept open between
//! requests, since reopening loads and tokenizes the log) and capture one user's
//! attention with the engine's `posttrain::attention`. Runs as a background job in
//! the app and synchronously for screenshots. egui-free.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::posttrain::attention::{AttentionMap, attention_map, resolve_queries};
use crate::train::pretrain::{Net, Trained, open_trained};

/// A computed attention map and the run it came from.
#[derive(Clone, Debug)]
pub struct AttentionView {
    pub run: PathBuf,
    pub map: Arc<AttentionMap>,
}

/// What was asked: a run, the log it is read with, a user (by name) and query texts.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionRequest {
    pub run: PathBuf,
    pub data: PathBuf,
    pub user: String,
    pub queries: Vec<String>,
}

/// The last reopened run, shared by attention jobs.
pub type ModelCache = Arc<Mutex<Option<Trained>>>;

/// Opens `req.run` (or reuses the cached one) and captures the attention of `req.user`.
pub fn compute(req: &AttentionRequest, cache: &ModelCache, progress: &dyn Fn(f32, &str)) -> Result<AttentionView, String> {
    let mut guard = cache.lock().map_err(|_| "the attention model cache is unusable after a failed job".to_string())?;
    let cached = guard.as_ref().is_some_and(|t| same_run(t.run.path(), &req.run));
    if !cached {
        *guard = None;
        progress(0.1, "opening the checkpoint (loading and tokenizing the log)");
        let opened = open_trained(&req.run, Some(&req.data), false, &mut |_| {}).map_err(|e| format!("{e:#}"))?;
        *guard = Some(opened);
    }
    let Some(t) = guard.as_ref() else { return Err("no model is open".into()) };
    let Net::Lum(lum) = &t.net else {
        return Err(format!("{} is not a LUM run: attention needs a LUM checkpoint", req.run.display()));
    };
    let user = t.data.users.get(&req.user).ok_or_else(|| format!("user {} is not in the run's log", req.user))?;
    let queries = resolve_queries(&t.data, &req.queries).map_err(|e| e.to_string())?;
    progress(0.7, "forward pass with attention capture");
    let map = attention_map(lum, &t.tok, &t.data, user, &queries).map_err(|e| e.to_string())?;
    Ok(AttentionView { run: req.run.clone(), map: Arc::new(map) })
}

fn same_run(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}
