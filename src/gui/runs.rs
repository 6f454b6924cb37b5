//! Reading run folders for the Runs and Train panels: the engine's
//! [`RunSummary`] (kind, status, created, headline metrics with protocols)
//! plus what the panels draw: every numeric field of `metrics.jsonl` as a
//! series (x = its `step`), `config.json` flattened to dotted keys for the
//! config diff, and the tail of `events.log`. egui-free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::eval::Metric;
use crate::run::{self, RunDir, RunSummary};
/// Keys of a metrics line that are x coordinates, not metrics.
const X_KEYS: [&str; 5] = ["step", "epoch", "time", "timestamp", "elapsed_secs"];
/// Numeric fields of a metrics row that are bookkeeping, not curves.
const NOT_METRICS: [&str; 1] = ["users"];
/// Event-log lines kept per run.
const EVENTS_KEPT: usize = 200;

/// One metric over steps.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricSeries {
    /// Dotted key, e.g. `loss` or `eval.ndcg@10`.
    pub name: String,
    /// `[step, value]`, in file order.
    pub points: Vec<[f64; 2]>,
}

/// What a run folder holds.
#[derive(Clone, Debug, PartialEq)]
pub struct RunInfo {
    pub path: PathBuf,
    pub name: String,
    /// The engine's summary: kind, status, created time, headline metrics.
    pub summary: RunSummary,
    pub has_checkpoint: bool,
    /// `config.json` flattened to dotted keys.
    pub config: BTreeMap<String, String>,
    pub series: Vec<MetricSeries>,
    /// The tail of `events.log`.
    pub events: Vec<String>,
    /// Files that exist but could not be read, as messages.
    pub problems: Vec<String>,
    /// What post-training wrote into this (pre-training) run, if it ran.
    pub posttrain: Option<PosttrainInfo>,
}

/// The figures of a run's `posttrain.json` the Flow panel shows.
#[derive(Clone, Debug, PartialEq)]
pub struct PosttrainInfo {
    /// (user, query, time) keys with an interest vector.
    pub keys: u64,
    pub users: u64,
    pub extract_secs: f64,
    /// Grouped vs one forward pass per query, when it was measured.
    pub speedup: Option<f64>,
    /// Whether condition-aware fine-tuning (LumLab's extension) ran first.
    pub finetuned: bool,
}

impl PosttrainInfo {
    /// Reads the figures from a `posttrain.json` value (None unless it names its keys).
    pub fn from_report(v: &Value) -> Option<Self> {
        Some(PosttrainInfo {
            keys: v.get("keys")?.as_u64()?,
            users: v.get("users").and_then(Value::as_u64).unwrap_or(0),
            extract_secs: v.get("extract_secs").and_then(Value::as_f64).unwrap_or(0.0),
            speedup: v.pointer("/speedup/speedup").and_then(Value::as_f64),
            finetuned: v.get("finetuned").and_then(Value::as_bool).unwrap_or(false),
        })
    }
}

impl RunInfo {
    /// The series called `name`, if any.
    pub fn series(&self, name: &str) -> Option<&MetricSeries> {
        self.series.iter().find(|s| s.name == name)
    }
    /// The largest step seen in `metrics.jsonl`.
    pub fn last_step(&self) -> Option<u64> {
        self.series
            .iter()
            .flat_map(|s| s.points.last())
            .map(|p| p[0] as u64)
            .max()
    }
    /// A config value by its dotted key.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }
    /// The first config value among `keys` (schemas differ in nesting).
    pub fn config_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.config_value(k))
    }
    /// Final metrics with their protocols: the engine's headline (report, else the last
    /// metrics row), then the last point of every other series.
    pub fn final_metrics(&self) -> Vec<Metric> {
        let mut out = self.summary.headline.clone();
        // With a headline, only the final loss joins it (the rest are the headline's own curves).
        let headline = !out.is_empty();
        for s in &self.series {
            if out.iter().any(|m| m.name == s.name) || (headline && s.name != "loss") {
                continue;
            }
            if let Some(p) = s.points.last() {
                out.push(Metric::new(
                    s.name.clone(),
                    p[1],
                    format!("metrics.jsonl, step {}", p[0] as u64),
                ));
            }
        }
        out
    }
}

/// Flattens JSON into dotted keys: `{"a":{"b":1}}` -> `a.b = 1`.
pub fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(v, &key, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads one run folder; unreadable files are reported in `problems`, never fatal.
pub fn read_run(dir: &RunDir) -> RunInfo {
    let path = dir.path().to_path_buf();
    let mut problems = Vec::new();
    let mut config = BTreeMap::new();
    match dir.read_config::<Value>() {
        Ok(v) => {
            let mut flat = BTreeMap::new();
            flatten(&v, "", &mut flat);
            config = flat
                .iter()
                .map(|(k, v)| (k.clone(), value_text(v)))
                .collect();
        }
        Err(e) => problems.push(format!("config.json: {e}")),
    }
    let series = match std::fs::read_to_string(dir.metrics_path()) {
        Ok(text) => parse_metrics(&text, &mut problems),
        Err(_) => Vec::new(),
    };
    let events = std::fs::read_to_string(dir.events_path())
        .map(|text| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(EVENTS_KEPT)..]
                .iter()
                .map(|l| l.to_string())
                .collect()
        })
        .unwrap_or_default();
    let posttrain_path = dir.path().join(crate::posttrain::table::REPORT_FILE);
    let posttrain = match std::fs::read_to_string(&posttrain_path) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(v) => PosttrainInfo::from_report(&v),
            Err(e) => {
                problems.push(format!("{}: {e}", crate::posttrain::table::REPORT_FILE));
                None
            }
        },
        Err(_) => None,
    };
    RunInfo {
        name: dir.name(),
        summary: RunSummary::read(dir),
        has_checkpoint: dir.checkpoint_path().is_file(),
        path,
        config,
        series,
        events,
        problems,
        posttrain,
    }
}

/// Parses `metrics.jsonl`: one JSON object per line; numeric leaves become series.
pub fn parse_metrics(text: &str, problems: &mut Vec<String>) -> Vec<MetricSeries> {
    let mut series: BTreeMap<String, Vec<[f64; 2]>> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let value: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                if problems.len() < 3 {
                    problems.push(format!("metrics.jsonl:{}: {e}", i + 1));
                }
                continue;
            }
        };
        let mut flat = BTreeMap::new();
        flatten(&value, "", &mut flat);
        let x = flat.get("step").and_then(Value::as_f64).unwrap_or(i as f64);
        // Evaluation rows: `"split": "valid", "metrics": [["NDCG@10 (full, ...)", 0.11], ...]`.
        let split = flat
            .get("split")
            .and_then(Value::as_str)
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        if let Some(pairs) = value.get("metrics").and_then(Value::as_array) {
            for pair in pairs {
                if let Some([Value::String(label), v]) = pair.as_array().map(Vec::as_slice)
                    && let Some(y) = v.as_f64().filter(|y| y.is_finite())
                {
                    series
                        .entry(format!("{split}{label}"))
                        .or_default()
                        .push([x, y]);
                }
            }
        }
        for (k, v) in &flat {
            if X_KEYS.contains(&k.as_str()) || NOT_METRICS.contains(&k.as_str()) {
                continue;
            }
            if let Some(y) = v.as_f64().filter(|y| y.is_finite()) {
                series.entry(k.clone()).or_default().push([x, y]);
            }
        }
    }
    series
        .into_iter()
        .map(|(name, points)| MetricSeries { name, points })
        .collect()
}

/// Every run folder under `dir` as the engine lists them (flow folders' runs as
/// `flow/pretrain`), newest first.
pub fn scan_runs(dir: &Path) -> Result<Vec<RunInfo>, String> {
    let listed = run::list_runs(dir).map_err(|e| e.to_string())?;
    Ok(listed
        .iter()
        .filter_map(|s| {
            let mut info = read_run(&RunDir::open(&s.path).ok()?);
            info.name = s.name.clone();
            info.summary.name = s.name.clone();
            Some(info)
        })
        .collect())
}

/// Config keys whose values differ between `runs` (a missing key counts as "–").
pub fn config_diff(runs: &[&RunInfo]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<&String> = runs.iter().flat_map(|r| r.config.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<String> = runs
                .iter()
                .map(|r| r.config.get(k).cloned().unwrap_or_else(|| "–".into()))
                .collect();
            values
                .iter()
                .any(|v| *v != values[0])
                .then(|| (k.clone(), values))
        })
        .collect()
}

/// The runs table as CSV: name, kind, status, steps, then every final metric as
/// `NAME (PROTOCOL)` (union over runs).
pub fn runs_table_csv(runs: &[&RunInfo]) -> String {
    let finals: Vec<Vec<Metric>> = runs.iter().map(|r| r.final_metrics()).collect();
    let mut labels: Vec<String> = finals.iter().flatten().map(Metric::label).collect();
    labels.sort();
    labels.dedup();
    let mut out = String::from("run,kind,status,steps");
    for k in &labels {
        out.push(',');
        out.push_str(&csv_field(k));
    }
    out.push('\n');
    for (run, metrics) in runs.iter().zip(&finals) {
        let steps = run.last_step().map(|s| s.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{steps}",
            csv_field(&run.name),
            csv_field(&run.summary.kind),
            csv_field(&run.summary.status)
        ));
        for k in &labels {
            out.push(',');
            if let Some(m) = metrics.iter().find(|m| m.label() == *k) {
                out.push_str(&m.value.to_string());
            }
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_eval_rows_become_one_series_per_split_and_metric() {
        let mut problems = Vec::new();
        let text = "{\"kind\":\"step\",\"step\":1,\"loss\":3.5,\"lr\":0.001}\n\
                    {\"kind\":\"eval\",\"split\":\"valid\",\"step\":1,\"users\":50,\"metrics\":[[\"NDCG@10 (full)\",0.2],[\"HR@10 (full)\",0.4]]}\n";
        let s = parse_metrics(text, &mut problems);
        let names: Vec<&str> = s.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            ["loss", "lr", "valid HR@10 (full)", "valid NDCG@10 (full)"]
        );
        assert_eq!(s[3].points, vec![[1.0, 0.2]]);
        assert!(problems.is_empty());
    }

    #[test]
    fn metrics_lines_become_series_by_step() {
        let mut problems = Vec::new();
        let text = "{\"step\":10,\"loss\":2.5,\"eval\":{\"ndcg@10\":0.1}}\n{\"step\":20,\"loss\":2.0}\nnot json\n";
        let s = parse_metrics(text, &mut problems);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "eval.ndcg@10");
        assert_eq!(s[0].points, vec![[10.0, 0.1]]);
        assert_eq!(s[1].name, "loss");
        assert_eq!(s[1].points, vec![[10.0, 2.5], [20.0, 2.0]]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("metrics.jsonl:3:"));
    }

    #[test]
    fn scan_reads_folders_and_diffs_configs() {
        let dir = tempfile::tempdir().unwrap();
        for (name, d) in [("a", 32), ("b", 64)] {
            let run = dir.path().join(name);
            std::fs::create_dir(&run).unwrap();
            std::fs::write(
                run.join("config.json"),
                format!("{{\"model\":{{\"d_model\":{d},\"layers\":2}}}}"),
            )
            .unwrap();
            std::fs::write(
                run.join("metrics.jsonl"),
                "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":2.0}\n",
            )
            .unwrap();
        }
        std::fs::create_dir(dir.path().join("not-a-run")).unwrap();
        std::fs::write(dir.path().join("not-a-run").join("metrics.jsonl"), "").unwrap();
        let runs = scan_runs(dir.path()).unwrap();
        assert_eq!(runs.len(), 2);
        let refs: Vec<&RunInfo> = runs.iter().collect();
        let diff = config_diff(&refs);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff[0].0, "model.d_model");
        assert_eq!(runs[0].last_step(), Some(2));
        let csv = runs_table_csv(&refs);
        assert_eq!(
            csv.lines().next(),
            Some("run,kind,status,steps,\"loss (last metrics row, step 2)\"")
        );
        assert!(csv.lines().any(|l| l == "a,unknown,unknown,2,2"), "{csv}");
        assert!(scan_runs(&dir.path().join("missing")).unwrap().is_empty());
    }
}
