//! Reading run folders for the Runs and Train panels, without assuming more
//! of their schema than the folder layout: `config.json`, `metrics.jsonl`,
//! `report.json`, `checkpoint.safetensors`, `events.log`.
//!
//! Every numeric field of a metrics line becomes a series (x = its `step`);
//! configs and reports are flattened to dotted keys, so the table and the
//! config diff work for whatever the training engine writes. egui-free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Files that make a folder a run folder.
const RUN_MARKERS: [&str; 3] = ["config.json", "metrics.jsonl", "report.json"];
/// Keys of a metrics line that are x coordinates, not metrics.
const X_KEYS: [&str; 5] = ["step", "epoch", "time", "timestamp", "elapsed_secs"];
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
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunInfo {
    pub path: PathBuf,
    pub name: String,
    /// Last modification of the folder's newest file (Unix seconds).
    pub modified_unix: Option<i64>,
    pub has_checkpoint: bool,
    /// `config.json` flattened to dotted keys.
    pub config: BTreeMap<String, String>,
    /// `report.json` numeric leaves, flattened.
    pub report: BTreeMap<String, f64>,
    pub series: Vec<MetricSeries>,
    /// The tail of `events.log`.
    pub events: Vec<String>,
    /// Files that exist but could not be read, as messages.
    pub problems: Vec<String>,
}

impl RunInfo {
    /// The series called `name`, if any.
    pub fn series(&self, name: &str) -> Option<&MetricSeries> {
        self.series.iter().find(|s| s.name == name)
    }
    /// The largest step seen in `metrics.jsonl`.
    pub fn last_step(&self) -> Option<u64> {
        self.series.iter().flat_map(|s| s.points.last()).map(|p| p[0] as u64).max()
    }
    /// A config value by its dotted key.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(String::as_str)
    }
    /// The first config value among `keys` (schemas differ in nesting).
    pub fn config_any(&self, keys: &[&str]) -> Option<&str> {
        keys.iter().find_map(|k| self.config_value(k))
    }
    /// Final metrics: report values, else each series' last point.
    pub fn final_metrics(&self) -> BTreeMap<String, f64> {
        let mut out: BTreeMap<String, f64> =
            self.series.iter().filter_map(|s| s.points.last().map(|p| (s.name.clone(), p[1]))).collect();
        out.extend(self.report.iter().map(|(k, v)| (k.clone(), *v)));
        out
    }
}

/// Flattens JSON into dotted keys: `{"a":{"b":1}}` -> `a.b = 1`.
pub fn flatten(value: &Value, prefix: &str, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
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
pub fn read_run(path: &Path) -> RunInfo {
    let mut run = RunInfo {
        path: path.to_path_buf(),
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        has_checkpoint: path.join("checkpoint.safetensors").is_file(),
        ..RunInfo::default()
    };
    run.modified_unix = std::fs::read_dir(path)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
        .max();
    let mut read_json = |file: &str| -> Option<Value> {
        let p = path.join(file);
        let text = std::fs::read_to_string(&p).ok()?;
        serde_json::from_str(&text).map_err(|e| run.problems.push(format!("{file}: {e}"))).ok()
    };
    let config = read_json("config.json");
    let report = read_json("report.json");
    if let Some(v) = config {
        let mut flat = BTreeMap::new();
        flatten(&v, "", &mut flat);
        run.config = flat.iter().map(|(k, v)| (k.clone(), value_text(v))).collect();
    }
    if let Some(v) = report {
        let mut flat = BTreeMap::new();
        flatten(&v, "", &mut flat);
        run.report = flat.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect();
    }
    if let Ok(text) = std::fs::read_to_string(path.join("metrics.jsonl")) {
        run.series = parse_metrics(&text, &mut run.problems);
    }
    if let Ok(text) = std::fs::read_to_string(path.join("events.log")) {
        let lines: Vec<&str> = text.lines().collect();
        run.events = lines[lines.len().saturating_sub(EVENTS_KEPT)..].iter().map(|l| l.to_string()).collect();
    }
    run
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
        for (k, v) in &flat {
            if X_KEYS.contains(&k.as_str()) {
                continue;
            }
            if let Some(y) = v.as_f64().filter(|y| y.is_finite()) {
                series.entry(k.clone()).or_default().push([x, y]);
            }
        }
    }
    series.into_iter().map(|(name, points)| MetricSeries { name, points }).collect()
}

/// Every run folder directly under `dir` (a folder holding config, metrics or a report), newest first.
pub fn scan_runs(dir: &Path) -> Result<Vec<RunInfo>, String> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut runs: Vec<RunInfo> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && RUN_MARKERS.iter().any(|m| p.join(m).is_file()))
        .map(|p| read_run(&p))
        .collect();
    runs.sort_by(|a, b| b.modified_unix.cmp(&a.modified_unix).then_with(|| a.name.cmp(&b.name)));
    Ok(runs)
}

/// Config keys whose values differ between `runs` (a missing key counts as "–").
pub fn config_diff(runs: &[&RunInfo]) -> Vec<(String, Vec<String>)> {
    let mut keys: Vec<&String> = runs.iter().flat_map(|r| r.config.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<String> =
                runs.iter().map(|r| r.config.get(k).cloned().unwrap_or_else(|| "–".into())).collect();
            values.iter().any(|v| *v != values[0]).then(|| (k.clone(), values))
        })
        .collect()
}

/// The runs table as CSV: name, steps, then every final metric (union over runs).
pub fn runs_table_csv(runs: &[&RunInfo]) -> String {
    let finals: Vec<BTreeMap<String, f64>> = runs.iter().map(|r| r.final_metrics()).collect();
    let mut metric_keys: Vec<&String> = finals.iter().flat_map(|m| m.keys()).collect();
    metric_keys.sort();
    metric_keys.dedup();
    let mut out = String::from("run,steps");
    for k in &metric_keys {
        out.push(',');
        out.push_str(&csv_field(k));
    }
    out.push('\n');
    for (run, m) in runs.iter().zip(&finals) {
        out.push_str(&csv_field(&run.name));
        out.push(',');
        out.push_str(&run.last_step().map(|s| s.to_string()).unwrap_or_default());
        for k in &metric_keys {
            out.push(',');
            if let Some(v) = m.get(*k) {
                out.push_str(&v.to_string());
            }
        }
        out.push('\n');
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            std::fs::write(run.join("config.json"), format!("{{\"model\":{{\"d_model\":{d},\"layers\":2}}}}")).unwrap();
            std::fs::write(run.join("metrics.jsonl"), "{\"step\":1,\"loss\":3.0}\n{\"step\":2,\"loss\":2.0}\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("not-a-run")).unwrap();
        let runs = scan_runs(dir.path()).unwrap();
        assert_eq!(runs.len(), 2);
        let refs: Vec<&RunInfo> = runs.iter().collect();
        let diff = config_diff(&refs);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff[0].0, "model.d_model");
        assert_eq!(runs[0].last_step(), Some(2));
        let csv = runs_table_csv(&refs);
        assert_eq!(csv.lines().next(), Some("run,steps,loss"));
        assert!(csv.lines().any(|l| l == "a,2,2"));
        assert!(scan_runs(&dir.path().join("missing")).unwrap().is_empty());
    }
}
