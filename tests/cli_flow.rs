//! The `lumlab` binary along the flow: tokens statistics, a tiny pre-training run, then
//! post-training into it; bad runs and logs are refused with one clear line.

use assert_cmd::Command;
use std::path::Path;

fn lumlab() -> Command {
    let mut c = Command::cargo_bin("lumlab").unwrap();
    // Keep tokenizer caches inside the test's temp dirs.
    c.env("XDG_CACHE_HOME", std::env::temp_dir().join("lumlab-cli-flow-cache"));
    c
}

fn sample(dir: &Path, users: &str) -> std::path::PathBuf {
    let out = lumlab().args(["sample", "--out"]).arg(dir).args(["--users", users, "--seed", "4", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    dir.join("behaviors.csv")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object")
}

#[test]
fn tokens_json_reports_the_statistics_of_each_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path(), "40");
    let v = json(&lumlab().arg("tokens").arg(&data).args(["--strategy", "semantic", "--levels", "8,4", "--json"]).output().unwrap());
    assert_eq!(v["stats"]["strategy"], "semantic");
    let sem = &v["stats"]["semantic"];
    assert_eq!(sem["levels"].as_array().unwrap().len(), 2);
    for key in ["used", "size", "dead", "perplexity", "mean_dist"] {
        assert!(sem["levels"][0][key].is_number(), "level stats lack {key}: {sem}");
    }
    assert_eq!(sem["levels"][0]["size"], 8);
    for key in ["collision_rate", "largest_collision_group", "max_suffix"] {
        assert!(sem[key].is_number(), "semantic stats lack {key}");
    }
    assert!(v["stats"]["vocab_by_kind"].as_array().unwrap().iter().any(|k| k["kind"].as_str().unwrap().contains("code")));
    let p = &v["category_purity"];
    assert!(p["purity"].as_f64().unwrap() > p["chance"].as_f64().unwrap(), "{p}");
    let v = json(&lumlab().arg("tokens").arg(&data).args(["--strategy", "id", "--min-count", "3", "--json"]).output().unwrap());
    assert_eq!(v["stats"]["id"]["min_count"], 3);
    assert!(v["stats"]["id"]["items_below_min_count"].as_u64().unwrap() > 0);
    assert!(v["category_purity"].is_null(), "purity is for semantic codes only");
    let t = lumlab().arg("tokens").arg(&data).args(["--strategy", "attributes"]).output().unwrap();
    let text = String::from_utf8_lossy(&t.stdout);
    assert!(t.status.success() && text.contains("vocabulary") && text.contains("attributes:"), "{text}");
    let bad = lumlab().arg("tokens").arg(&data).args(["--strategy", "words"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("unknown strategy"));
}

#[test]
fn posttrain_writes_one_interest_vector_per_search_session() {
    let dir = tempfile::tempdir().unwrap();
    let data = sample(dir.path(), "30");
    let run = dir.path().join("lum");
    let out = lumlab()
        .args(["pretrain", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run)
        .args(["--set", "steps=4", "--set", "d_model=16", "--set", "d_ff=32", "--set", "n_layers=1", "--set", "max_behaviors=16"])
        .args(["--set", "negatives=16", "--set", "batch_size=8", "--set", "eval_users=10", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&lumlab().args(["posttrain", "--run"]).arg(&run).arg("--json").output().unwrap());
    // Count the sessions independently: distinct (user, query, timestamp) of impressions with a query.
    let text = std::fs::read_to_string(&data).unwrap();
    let mut sessions = std::collections::BTreeSet::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[3] == "impression" && !f[4].is_empty() {
            sessions.insert((f[0].to_string(), f[4].to_string(), f[1].to_string()));
        }
    }
    assert_eq!(v["keys"].as_u64().unwrap() as usize, sessions.len());
    assert_eq!(v["dim"], 16);
    assert_eq!(v["finetuned"], false);
    assert!(v["speedup"]["speedup"].as_f64().unwrap() > 0.0);
    let t = lumlab::posttrain::load_interest(&run).unwrap();
    assert_eq!(t.len(), sessions.len());
    let (u, q, ts) = sessions.iter().next().unwrap();
    assert!(t.get(u, q, ts.parse().unwrap()).is_some());
    let index = std::fs::read_to_string(run.join("interest_index.csv")).unwrap();
    assert_eq!(index.lines().count(), sessions.len() + 1);
    // Unchanged run and log: cached; the text summary says so.
    let again = lumlab().args(["posttrain", "--run"]).arg(&run).output().unwrap();
    let s = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success() && s.contains("cached") && s.contains("interest vectors"), "{s}");
    // A popularity run (not a LUM) is refused in one line.
    let sas = dir.path().join("sas");
    let out = lumlab()
        .args(["pretrain", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&sas)
        .args(["--set", "model=popularity", "--set", "eval_users=10", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bad = lumlab().args(["posttrain", "--run"]).arg(&sas).output().unwrap();
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && err.contains("`popularity` model") && err.trim().lines().count() == 1, "{err}");
    let bad = lumlab().args(["posttrain", "--run"]).arg(&run).args(["--set", "steps=3"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("add --finetune"));
}
