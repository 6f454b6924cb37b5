//! `lumlab ctr`: a whole run on a tiny sample world, and clear one-line
//! errors for logs that cannot feed the CTR stage.

use assert_cmd::Command;

fn lumlab() -> Command {
    Command::cargo_bin("lumlab").unwrap()
}

#[test]
fn ctr_runs_on_a_sample_world_and_writes_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let world = dir.path().join("world");
    let out = lumlab()
        .args(["sample", "--out"])
        .arg(&world)
        .args(["--users", "80", "--seed", "4", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = dir.path().join("run");
    let small = [
        "--set",
        "emb_dim=8",
        "--set",
        "history_len=10",
        "--set",
        "mlp_hidden=16",
    ];
    // Baseline only (no --lum): says so, still reports the oracle beside it.
    let out = lumlab()
        .args(["ctr", "--data"])
        .arg(world.join("behaviors.csv"))
        .arg("--out")
        .arg(&run)
        .args(small)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("baseline CTR model only"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("baseline") && text.contains("oracle (true p)"),
        "{text}"
    );
    for f in [
        "config.json",
        "run.json",
        "metrics.jsonl",
        "predictions.csv",
        "report.json",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    // The same folder again is refused; --replace with the sanity features writes the comparison.
    let again = lumlab()
        .args(["ctr", "--data"])
        .arg(world.join("behaviors.csv"))
        .arg("--out")
        .arg(&run)
        .output()
        .unwrap();
    assert!(!again.status.success());
    let out = lumlab()
        .args(["ctr", "--data"])
        .arg(world.join("behaviors.csv"))
        .arg("--out")
        .arg(&run)
        .args(small)
        .args(["--sanity-features", "--replace", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object");
    assert_eq!(v["models"][1]["name"], "+sanity");
    assert!(v["lum_source"].as_str().unwrap().contains("NOT LUM"));
    assert!(v["oracle"]["report"]["auc"].as_f64().unwrap() > 0.5);
    assert!(run.join("ranking.jsonl").is_file());
}

#[test]
fn logs_without_what_ctr_needs_fail_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "noimp.csv",
            "user_id,timestamp,item_id,action,query\nu1,1,a,click,q\n",
            "no ad impressions",
        ),
        (
            "nolabel.csv",
            "user_id,timestamp,item_id,action,query\nu1,1,a,impression,q\n",
            "no click labels",
        ),
        (
            "noquery.csv",
            "user_id,timestamp,item_id,action,label\nu1,1,a,impression,1\nu1,2,b,impression,0\n",
            "no queries",
        ),
    ];
    for (name, text, want) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let out = lumlab()
            .args(["ctr", "--data"])
            .arg(&p)
            .arg("--out")
            .arg(dir.path().join(format!("run-{name}")))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = err
            .trim()
            .lines()
            .filter(|l| l.starts_with("error"))
            .collect();
        assert_eq!(lines.len(), 1, "{err}");
        assert!(lines[0].contains(want), "{name}: {err}");
    }
    let out = lumlab()
        .args(["ctr", "--data", "x.csv", "--out"])
        .arg(dir.path().join("r"))
        .args(["--set", "features=colour"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("colour"));
}
