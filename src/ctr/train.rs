//! The CTR training loop and the run it produces: baseline and +LUM (and
//! optional one-feature ablations) trained with the same seed, the same data
//! order, the same optimiser and the same budget, then evaluated on the same
//! test split and written to the run folder.
//!
//! One loop for every model and device: the caller passes a `Device`, the
//! loop reports through a `JobEvent` sink and obeys a `CancelToken` every step.

use std::time::Instant;

use anyhow::Context as _;
use candle_core::Device;
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde_json::json;

use super::batch::{dims_for, gather};
use super::config::{CtrConfig, FeatureSet, LumFeature};
use super::data::CtrSamples;
use super::features::{ExtraInputs, LumFeatures, lum_inputs};
use super::model::{DinModel, bce_with_logits};
use super::report::{
    self, CtrResult, EpochRow, ModelResult, PREDICTIONS_FILE, RANKING_FILE, Truth, eval_query_keys,
};
use crate::data::Dataset;
use crate::eval::{CtrReport, Metric, RankingSummary};
use crate::job::{CancelToken, JobEvent, Stopped};
use crate::run::{RunDir, RunStatus};
use crate::util::Rng;

/// Samples per forward pass when predicting (no gradients kept).
const EVAL_BATCH: usize = 2048;
/// RNG stream of the per-epoch shuffles (parameters use streams named after them).
const SHUFFLE_STREAM: u64 = 0x5348_5546; // "SHUF"

/// A short device name for reports.
fn device_name(d: &Device) -> String {
    match d {
        Device::Cpu => "cpu".to_string(),
        Device::Cuda(_) => "cuda".to_string(),
        Device::Metal(_) => "metal".to_string(),
    }
}

/// Trains and evaluates baseline (and, with `lum`, +LUM and the configured
/// ablations) on `data`, writing `metrics.jsonl`, `predictions.csv`,
/// `ranking.jsonl` and `report.json` into `run` (created by the caller with
/// `cfg` as its config). `truth`: the sample world's true click
/// probabilities, for the oracle row. Runs on the device named by `cfg.device`.
pub fn train_ctr(
    data: &Dataset,
    truth: Option<&Truth>,
    lum: Option<&LumFeatures>,
    cfg: &CtrConfig,
    run: &RunDir,
    sink: &mut dyn FnMut(JobEvent),
    cancel: &CancelToken,
) -> anyhow::Result<CtrResult> {
    let device = crate::train::device::pick(&cfg.device)?;
    train_ctr_on(&device, data, truth, lum, cfg, run, sink, cancel)
}

/// [`train_ctr`] on an explicit device. Sets the run's status (finished,
/// stopped or failed) before returning.
#[allow(clippy::too_many_arguments)]
pub fn train_ctr_on(
    device: &Device,
    data: &Dataset,
    truth: Option<&Truth>,
    lum: Option<&LumFeatures>,
    cfg: &CtrConfig,
    run: &RunDir,
    sink: &mut dyn FnMut(JobEvent),
    cancel: &CancelToken,
) -> anyhow::Result<CtrResult> {
    let out = run_ctr(device, data, truth, lum, cfg, run, sink, cancel);
    // The run's own status is bookkeeping: failing to record it must not hide the result or the error.
    match &out {
        Ok(_) => {
            let _ = run.set_status(RunStatus::Finished);
        }
        Err(e) if e.chain().any(|c| c.is::<Stopped>()) => {
            let _ = run.log_event("stopped");
            let _ = run.set_status(RunStatus::Stopped);
        }
        Err(e) => {
            let _ = run.log_event(&format!("failed: {e:#}"));
            let _ = run.set_status(RunStatus::Failed);
        }
    }
    out
}

/// One model to train: its name and LUM features (`None` = baseline).
struct ModelSpec {
    name: String,
    features: Option<FeatureSet>,
}

fn model_specs(lum: Option<&LumFeatures>, cfg: &CtrConfig) -> Vec<ModelSpec> {
    let mut specs = vec![ModelSpec {
        name: "baseline".to_string(),
        features: None,
    }];
    if let Some(l) = lum {
        specs.push(ModelSpec {
            name: l.label.clone(),
            features: Some(cfg.features.clone()),
        });
        if cfg.ablations {
            for f in LumFeature::ALL {
                let only = FeatureSet::only(f);
                if only != cfg.features {
                    specs.push(ModelSpec {
                        name: format!("{} ({} only)", l.label, f.name()),
                        features: Some(only),
                    });
                }
            }
        }
    }
    specs
}

/// Shared state of one run's training loop.
struct Loop<'a> {
    device: &'a Device,
    samples: &'a CtrSamples,
    cfg: &'a CtrConfig,
    run: &'a RunDir,
    test: &'a [usize],
    split_name: &'a str,
    /// One shuffled order of the training samples per epoch, shared by every model.
    orders: Vec<Vec<usize>>,
    /// Global step over all models (drives the progress bar).
    step: u64,
}

impl Loop<'_> {
    /// Click probabilities of `indices`, in order.
    fn predict(
        &self,
        model: &DinModel,
        indices: &[usize],
        extra: Option<&ExtraInputs>,
    ) -> anyhow::Result<Vec<f32>> {
        let mut out = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(EVAL_BATCH) {
            let b = gather(
                self.samples,
                chunk,
                self.cfg.history_len,
                self.cfg.max_position,
                extra,
                false,
                self.device,
            )?;
            let p = candle_nn::ops::sigmoid(&model.forward(&b)?)?;
            out.extend(p.to_vec1::<f32>()?);
        }
        if let Some(k) = out.iter().position(|p| !p.is_finite()) {
            anyhow::bail!(
                "prediction for test impression {k} is not finite; the model diverged (try a lower lr)"
            );
        }
        Ok(out)
    }

    /// Trains one model for the fixed budget; returns it with its curve.
    fn train_one(
        &mut self,
        spec: &ModelSpec,
        extra: Option<&ExtraInputs>,
        sink: &mut dyn FnMut(JobEvent),
        cancel: &CancelToken,
    ) -> anyhow::Result<(DinModel, Vec<EpochRow>, f64, u64)> {
        let cfg = self.cfg;
        let dims = dims_for(self.samples, cfg, extra.map_or(0, |e| e.width));
        let sp = &self.samples.split;
        let prior_ctr = sp.train_clicks as f64 / sp.train_impressions.max(1) as f64;
        let model = DinModel::new(&dims, cfg.seed, cfg.init_sd, prior_ctr, self.device)?;
        let params = ParamsAdamW {
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            ..ParamsAdamW::default()
        };
        let mut opt = AdamW::new(model.vars(), params)?;
        let mut curve = Vec::new();
        let mut train_secs = 0.0;
        let mut steps = 0u64;
        sink(JobEvent::info(format!(
            "training {} ({} parameters)",
            spec.name,
            crate::util::thousands(model.n_params() as u64)
        )));
        for epoch in 0..cfg.epochs {
            let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
            let epoch_start = Instant::now();
            let order = std::mem::take(&mut self.orders[epoch]);
            for chunk in order.chunks(cfg.batch_size) {
                cancel.check()?;
                let t = Instant::now();
                let batch = gather(
                    self.samples,
                    chunk,
                    cfg.history_len,
                    cfg.max_position,
                    extra,
                    true,
                    self.device,
                )?;
                let labels = batch
                    .label
                    .as_ref()
                    .context("training batch without labels")?;
                let loss = bce_with_logits(&model.forward(&batch)?, labels)?;
                opt.backward_step(&loss)?;
                let loss = loss.to_scalar::<f32>()?;
                self.step += 1;
                steps += 1;
                if !loss.is_finite() {
                    anyhow::bail!(
                        "{}: training loss is {loss} at epoch {} step {steps}; the model diverged (try a lower lr, now {})",
                        spec.name,
                        epoch + 1,
                        cfg.lr
                    );
                }
                loss_sum += loss as f64 * chunk.len() as f64;
                loss_n += chunk.len();
                let secs = t.elapsed().as_secs_f32();
                sink(JobEvent::Step {
                    step: self.step,
                    loss,
                    tokens_per_sec: chunk.len() as f32 / secs.max(1e-9),
                    step_secs: secs,
                    lr: cfg.lr as f32,
                });
                if steps.is_multiple_of(cfg.log_every as u64) {
                    self.run.append_metric(&json!({
                        "model": spec.name, "step": self.step, "model_step": steps, "epoch": epoch + 1, "loss": loss,
                    }))?;
                }
            }
            self.orders[epoch] = order;
            train_secs += epoch_start.elapsed().as_secs_f64();
            let probs = self.predict(&model, self.test, extra)?;
            let labels: Vec<bool> = self.test.iter().map(|&i| self.samples.label[i]).collect();
            let auc = crate::eval::auc(&labels, &probs)?;
            let logloss = crate::eval::logloss(&labels, &probs)?;
            let row = EpochRow {
                epoch: epoch + 1,
                step: self.step,
                train_loss: loss_sum / loss_n.max(1) as f64,
                test_auc: auc,
                test_logloss: logloss,
            };
            let proto = format!("{}, after epoch {}", self.split_name, epoch + 1);
            sink(JobEvent::Eval {
                step: self.step,
                metrics: vec![
                    Metric::new(
                        format!("{} AUC", spec.name),
                        auc,
                        format!("{proto}, ties count half"),
                    ),
                    Metric::new(
                        format!("{} logloss", spec.name),
                        logloss,
                        format!("{proto}, p clipped to [1e-7, 1-1e-7]"),
                    ),
                    Metric::new(
                        format!("{} train loss", spec.name),
                        row.train_loss,
                        format!("mean BCE over epoch {}", epoch + 1),
                    ),
                ],
            });
            self.run.append_metric(&json!({
                "model": spec.name, "step": self.step, "epoch": epoch + 1, "train_loss": row.train_loss,
                "test_auc": auc, "test_logloss": logloss,
            }))?;
            curve.push(row);
        }
        Ok((model, curve, train_secs, steps))
    }
}

#[allow(clippy::too_many_arguments)]
fn run_ctr(
    device: &Device,
    data: &Dataset,
    truth: Option<&Truth>,
    lum: Option<&LumFeatures>,
    cfg: &CtrConfig,
    run: &RunDir,
    sink: &mut dyn FnMut(JobEvent),
    cancel: &CancelToken,
) -> anyhow::Result<CtrResult> {
    cfg.validate()?;
    let say = |sink: &mut dyn FnMut(JobEvent), text: String| {
        let _ = run.log_event(&text);
        sink(JobEvent::info(text));
    };
    say(
        sink,
        format!(
            "building CTR samples ({} behaviours)",
            crate::util::thousands(data.n_behaviors() as u64)
        ),
    );
    let samples = CtrSamples::build(data, cfg.test_days)?;
    let sp = &samples.split;
    say(
        sink,
        format!(
            "split: train {} impressions ({} clicks, {:.1} per user), test {} impressions ({} clicks); {}",
            sp.train_impressions,
            sp.train_clicks,
            sp.train_impressions_per_user,
            sp.test_impressions,
            sp.test_clicks,
            sp.protocol
        ),
    );
    let mut notes = vec![
        samples.split.protocol.clone(),
        format!(
            "history: the last {} non-impression behaviours strictly before each impression (DIN attention, no softmax)",
            cfg.history_len
        ),
        "logloss clips p to [1e-7, 1-1e-7]; AUC counts ties half; GAUC = impression-weighted mean over groups with both classes".to_string(),
        "fixed budget: per-epoch test metrics are reported, never used to pick an epoch or a setting".to_string(),
    ];
    if let Some(l) = lum {
        l.validate(samples.len(), samples.n_items)?;
        notes.push(format!("{} features from: {}", l.label, l.source));
    } else {
        notes.push("baseline only: no LUM features were given".to_string());
        say(
            sink,
            "no LUM features given: training the baseline only".to_string(),
        );
    }
    let specs = model_specs(lum, cfg);
    let train = samples.train_indices();
    let test = samples.test_indices();
    let split_name = format!(
        "test, last {} days, {} impressions",
        cfg.test_days,
        test.len()
    );
    // The +LUM inputs are frozen features: computed once, before training starts.
    let mut extras = Vec::with_capacity(specs.len());
    for (k, spec) in specs.iter().enumerate() {
        extras.push(match (&spec.features, lum) {
            (Some(f), Some(l)) => {
                sink(JobEvent::Progress {
                    done: k as u64,
                    total: specs.len() as u64,
                    what: format!("features for {}", spec.name),
                });
                Some(lum_inputs(&samples, l, f, cfg))
            }
            _ => None,
        });
    }
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size) as u64;
    let total_steps = steps_per_epoch * cfg.epochs as u64 * specs.len() as u64;
    let orders = (0..cfg.epochs)
        .map(|e| {
            let mut o = train.clone();
            Rng::fork(cfg.seed ^ SHUFFLE_STREAM, e as u64).shuffle(&mut o);
            o
        })
        .collect();
    sink(JobEvent::Started {
        total_steps,
        label: "ctr".to_string(),
    });
    let mut lp = Loop {
        device,
        samples: &samples,
        cfg,
        run,
        test: &test,
        split_name: &split_name,
        orders,
        step: 0,
    };
    let labels: Vec<bool> = test.iter().map(|&i| samples.label[i]).collect();
    let users: Vec<u32> = test.iter().map(|&i| samples.user[i]).collect();
    let queries = eval_query_keys(&samples, &test);

    let mut results: Vec<ModelResult> = Vec::new();
    let mut scores: Vec<(String, Vec<f32>)> = Vec::new();
    for (spec, extra) in specs.iter().zip(&extras) {
        let (model, curve, train_secs, steps) = lp.train_one(spec, extra.as_ref(), sink, cancel)?;
        let probs = lp.predict(&model, &test, extra.as_ref())?;
        let mut rep = CtrReport::compute(&split_name, &labels, &probs, &users, Some(&queries))?;
        if let Some(base) = results.first() {
            rep = rep.with_baseline(&base.report);
        }
        say(
            sink,
            format!(
                "{}: test AUC {:.4}, GAUC(user) {}, logloss {:.4}, {:.1} s",
                spec.name,
                rep.auc,
                fmt_opt(rep.gauc_user.value),
                rep.logloss,
                train_secs
            ),
        );
        results.push(ModelResult {
            name: spec.name.clone(),
            features: spec.features.as_ref().map(|f| f.to_string()),
            report: rep,
            train_secs,
            steps,
            params: model.n_params(),
            epochs: curve,
        });
        scores.push((spec.name.clone(), probs));
    }

    let oracle = truth.and_then(|t| report::oracle(data, &samples, &test, t, &split_name));
    match (&oracle, truth) {
        (Some(o), _) => {
            if o.missing > 0 {
                notes.push(format!("oracle: {} test impressions were not in truth.csv; oracle metrics cover the {} found", o.missing, o.matched));
            }
            say(
                sink,
                format!(
                    "oracle (true p_click): test AUC {:.4}, logloss {:.4}",
                    o.report.auc, o.report.logloss
                ),
            );
        }
        (None, Some(_)) => notes.push(
            "oracle: no test impression was found in truth.csv (different data?)".to_string(),
        ),
        (None, None) => {}
    }

    let mut files = vec![
        crate::run::CONFIG_FILE.to_string(),
        crate::run::METRICS_FILE.to_string(),
        PREDICTIONS_FILE.to_string(),
    ];
    report::write_predictions(
        &run.path().join(PREDICTIONS_FILE),
        data,
        &samples,
        &test,
        &scores,
        truth,
    )
    .with_context(|| format!("writing {}", run.path().join(PREDICTIONS_FILE).display()))?;
    let (mut ranking_model, mut ranking, mut per_query) = (None, None, Vec::new());
    if scores.len() > 1 {
        let mut pages = report::session_rankings(data, &samples, &test, &scores[0].1, &scores[1].1)?;
        // "Why it moved" in the Ranking panel: the compared model's sim and SimTier inputs.
        if let Some(l) = lum {
            let ours = extras.get(1).and_then(Option::as_ref);
            if !ours.is_some_and(|e| report::attach_lum_features(&mut pages, &samples, &test, e)) {
                let why = FeatureSet::parse("sim,simtier").map_err(anyhow::Error::msg)?;
                let e = lum_inputs(&samples, l, &why, cfg);
                report::attach_lum_features(&mut pages, &samples, &test, &e);
            }
        }
        report::write_ranking(&run.path().join(RANKING_FILE), &pages)
            .with_context(|| format!("writing {}", run.path().join(RANKING_FILE).display()))?;
        files.push(RANKING_FILE.to_string());
        let qr: Vec<_> = pages.iter().map(|p| p.ranking.clone()).collect();
        let summary = RankingSummary::from_queries(&qr);
        per_query = report::per_query(&pages);
        sink(JobEvent::Ranking(serde_json::to_value(&per_query)?));
        ranking_model = Some(scores[1].0.clone());
        ranking = Some(summary);
    } else {
        notes.push(
            "per-query ranking comparison skipped: it needs a second model (LUM features)"
                .to_string(),
        );
    }
    let headline = report::headline(&results, oracle.as_ref());
    sink(JobEvent::Eval {
        step: lp.step,
        metrics: headline.clone(),
    });
    files.push(crate::run::REPORT_FILE.to_string());
    let result = CtrResult {
        kind: "ctr".to_string(),
        status: "finished".to_string(),
        headline,
        config: cfg.clone(),
        device: device_name(device),
        split: samples.split.clone(),
        lum_source: lum.map(|l| l.source.clone()),
        models: results,
        oracle,
        ranking_model,
        ranking,
        per_query,
        notes,
        files,
    };
    run.write_report(&result)?;
    Ok(result)
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.4}"))
}
