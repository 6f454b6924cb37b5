//! The Ranking panel's background work: reading a CTR run's rankings and
//! projecting one user's interest vectors (the table read once per LUM run, the
//! LUM reopened once for probes), plus the same work done synchronously for
//! headless rendering. Results land in `Workspace::ranking`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::data::Dataset;
use crate::gui::jobs::{JobHandle, Waker, spawn_job};
use crate::gui::ranking_data::{LumModel, MAP_ITEMS, MAP_SESSIONS, MapRequest, QuerySort, RankingRun, Slot, UserMap, ctr_run_for, load_ranking_run, map_request};
use crate::gui::workspace::{JobView, Workspace};
use crate::posttrain::table::FINETUNED_CHECKPOINT_FILE;
use crate::posttrain::{InterestTable, interest_map, load_interest, probe_interests};
use crate::train::pretrain::{Net, open_trained};

/// What a map job hands back: the table and model it used (for reuse) and the map.
type MapOutcome = (Arc<InterestTable>, Option<Arc<LumModel>>, UserMap);

/// Reopens the LUM run with the weights its interest table was read with, on `log` (the
/// log loaded in the GUI) when it is the run's own, else on the log the run recorded.
fn open_model(run: &Path, finetuned: bool, log: Option<&Path>) -> anyhow::Result<LumModel> {
    let t = match log.map(|p| open_trained(run, Some(p), false, &mut |_| {})) {
        Some(Ok(t)) => t,
        _ => open_trained(run, None, false, &mut |_| {})?,
    };
    let ft = run.join(FINETUNED_CHECKPOINT_FILE);
    if finetuned && ft.is_file() {
        // A clone of a VarMap shares its variables: loading into it updates the net.
        let mut vm = t.varmap.clone();
        vm.load(&ft)?;
    }
    Ok(LumModel { run: run.to_path_buf(), trained: Arc::new(t) })
}

/// o(u, q) of the request's user under each probe query (those the LUM has a token for).
fn read_probes(m: &LumModel, req: &MapRequest) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let t = &m.trained;
    let Net::Lum(lum) = &t.net else { anyhow::bail!("{} is not a LUM run", m.run.display()) };
    let user = t.data.users.get(&req.user).ok_or_else(|| anyhow::anyhow!("user {} is not in the LUM's log", req.user))?;
    let known: Vec<(String, u32)> = req
        .probes
        .iter()
        .filter_map(|text| t.data.queries.get(text).filter(|&q| t.tok.query_condition(q).is_some()).map(|q| (text.clone(), q)))
        .collect();
    let ids: Vec<u32> = known.iter().map(|(_, q)| *q).collect();
    let vectors = probe_interests(lum, &t.tok, &t.seqs, &t.data, user, &ids, req.timestamp)?;
    let d = vectors.len() / ids.len().max(1);
    Ok(known.into_iter().zip(vectors.chunks(d.max(1))).map(|((text, _), v)| (text, v.to_vec())).collect())
}

/// Computes one interest map, reading the table and the model unless cached for that run.
fn compute_map(req: &MapRequest, cached: Option<(PathBuf, Arc<InterestTable>)>, model: Option<Arc<LumModel>>, data: Option<(PathBuf, Arc<Dataset>)>) -> Result<MapOutcome, String> {
    let table = match cached.filter(|(p, _)| *p == req.lum_run) {
        Some((_, t)) => t,
        None => Arc::new(load_interest(&req.lum_run).map_err(|e| e.to_string())?),
    };
    let (mut probes, mut note, mut used) = (Vec::new(), None, None);
    if !req.probes.is_empty() {
        let model = match model.filter(|m| m.run == req.lum_run) {
            Some(m) => Ok(m),
            None => open_model(&req.lum_run, table.finetuned, data.as_ref().map(|(p, _)| p.as_path())).map(Arc::new),
        };
        match model.and_then(|m| read_probes(&m, req).map(|p| (m, p))) {
            Ok((m, p)) => {
                probes = p;
                used = Some(m);
            }
            Err(e) => note = Some(format!("other queries not probed: {e:#}")),
        }
    }
    let map = interest_map(&table, data.as_ref().map(|(_, d)| d.as_ref()), &req.user, MAP_SESSIONS, MAP_ITEMS, &req.highlight, &probes).map_err(|e| e.to_string())?;
    Ok((table, used, UserMap { map, note }))
}

/// The Ranking panel's background jobs: reading a run, projecting interests.
#[derive(Default)]
pub struct RankingJobs {
    run: Option<JobHandle<RankingRun>>,
    map: Option<JobHandle<MapOutcome>>,
}

impl RankingJobs {
    /// Starts reading the CTR run at `path` (replacing any read in flight).
    pub fn load_run(&mut self, ws: &mut Workspace, path: PathBuf, waker: Waker) -> Result<(), String> {
        if let Some(old) = self.run.take() {
            old.cancel();
        }
        ws.ranking.run = Some(Slot { key: path.clone(), value: None });
        let job = spawn_job("read-ranking", waker, move |sink| {
            sink.progress(0.0, "reading ranking.jsonl");
            load_ranking_run(&path)
        })
        .map_err(|e| e.to_string())?;
        self.run = Some(job);
        Ok(())
    }

    /// Starts projecting `req.user`'s interest vectors.
    pub fn compute_map(&mut self, ws: &mut Workspace, req: MapRequest, waker: Waker) -> Result<(), String> {
        if let Some(old) = self.map.take() {
            old.cancel();
        }
        let cached = ws.ranking.table.clone();
        let model = ws.ranking.model.clone();
        let data = ws.data.as_ref().map(|d| (d.path.clone(), d.dataset.clone()));
        ws.ranking.map = Some(Slot { key: req.clone(), value: None });
        let job = spawn_job("interest-map", waker, move |sink| {
            sink.progress(0.0, format!("projecting the interest vectors of {}", req.user));
            compute_map(&req, cached, model, data)
        })
        .map_err(|e| e.to_string())?;
        self.map = Some(job);
        Ok(())
    }

    /// Moves finished results onto the workspace (until `deadline`).
    pub fn drain(&mut self, ws: &mut Workspace, deadline: Instant) {
        if let Some(job) = &mut self.run
            && let Some(result) = job.drain(deadline)
        {
            self.run = None;
            if let Some(slot) = &mut ws.ranking.run {
                slot.value = Some(result.map(Arc::new));
            }
        }
        if let Some(job) = &mut self.map
            && let Some(result) = job.drain(deadline)
        {
            self.map = None;
            let value = result.map(|(table, model, map)| {
                if let Some(slot) = &ws.ranking.map {
                    ws.ranking.table = Some((slot.key.lum_run.clone(), table));
                }
                if model.is_some() {
                    ws.ranking.model = model;
                }
                Arc::new(map)
            });
            if let Some(slot) = &mut ws.ranking.map {
                slot.value = Some(value);
            }
        }
    }

    /// Whether a job is in flight.
    pub fn is_busy(&self) -> bool {
        self.run.is_some() || self.map.is_some()
    }

    /// Progress of the jobs in flight, for the jobs chip.
    pub fn views(&self) -> Vec<JobView> {
        let view = |name: &str, p: f32, m: &str| JobView { name: name.to_string(), progress: p, eta_secs: None, message: m.to_string() };
        let mut out = Vec::new();
        if let Some(j) = &self.run {
            out.push(view(j.name(), j.progress(), j.message()));
        }
        if let Some(j) = &self.map {
            out.push(view(j.name(), j.progress(), j.message()));
        }
        out
    }
}

/// Fills the Ranking panel's data synchronously (headless rendering): the CTR run it
/// would show, and the interest map of the page it opens on. Errors land in the slots
/// (the panel shows them), as they would from the jobs.
pub fn preload_blocking(ws: &mut Workspace) {
    let Some(path) = ctr_run_for(ws).map(|r| r.path.clone()) else { return };
    let run = match load_ranking_run(&path) {
        Ok(run) => Arc::new(run),
        Err(e) => {
            ws.ranking.run = Some(Slot { key: path, value: Some(Err(e)) });
            return;
        }
    };
    ws.ranking.run = Some(Slot { key: path, value: Some(Ok(run.clone())) });
    let first = run.query_rows("", QuerySort::default()).first().copied();
    let Some(page) = first.and_then(|q| run.default_page(q)) else { return };
    if let Some(req) = map_request(&run, page) {
        let data = ws.data.as_ref().map(|d| (d.path.clone(), d.dataset.clone()));
        let result = compute_map(&req, None, None, data);
        let value = result.map(|(table, model, map)| {
            ws.ranking.table = Some((req.lum_run.clone(), table));
            ws.ranking.model = model;
            Arc::new(map)
        });
        ws.ranking.map = Some(Slot { key: req, value: Some(value) });
    }
}

