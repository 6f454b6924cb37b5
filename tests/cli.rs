//! The `lumlab` binary: sample, inspect, --json and error exits.

use assert_cmd::Command;

fn lumlab() -> Command {
    Command::cargo_bin("lumlab").unwrap()
}

#[test]
fn sample_then_inspect_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = lumlab().args(["sample", "--out"]).arg(dir.path()).args(["--users", "60", "--seed", "3", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["users"], 60);
    let auc = s["oracle_auc"].as_f64().unwrap();
    assert!(auc > 0.5 && auc < 1.0);
    let out = lumlab().arg("inspect").arg(dir.path().join("behaviors.csv")).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is exactly one JSON object");
    assert_eq!(v["stats"]["users"], 60);
    assert_eq!(v["report"]["format"], "native");
    assert!(v["stats"]["seq_len"]["p50"].as_u64().unwrap() > 5);
    let text = lumlab().arg("inspect").arg(dir.path().join("behaviors.csv")).output().unwrap();
    let t = String::from_utf8_lossy(&text.stdout);
    assert!(t.contains("users        60") && t.contains("p50") && t.contains("behaviours per user"), "{t}");
}

#[test]
fn bad_input_is_one_line_and_nonzero() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.csv");
    std::fs::write(&p, "user_id,timestamp,item_id\na,1,x\nb,2\n").unwrap();
    let out = lumlab().arg("inspect").arg(&p).arg("--strict").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("bad.csv:3: expected 3 fields, found 2"), "{err}");
    let out = lumlab().arg("inspect").arg(dir.path()).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is a directory"));
    let out = lumlab().args(["sample", "--out"]).arg(dir.path()).args(["--set", "nope=1"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid keys"));
}

#[test]
fn help_explains_every_command() {
    let out = lumlab().arg("--help").output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout);
    for c in ["sample", "inspect", "bench", "gui"] {
        assert!(t.contains(c), "{c} missing from --help");
    }
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("b.csv");
    std::fs::write(&p, "user_id,timestamp,item_id\nu1,1500000000,a\nu1,1500000100,b\n").unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lumlab"))
        .arg("inspect")
        .arg(&p)
        .arg("--no-cache")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked") && out.status.code() != Some(101), "{:?}: {err}", out.status);
}

#[cfg(unix)]
#[test]
fn json_report_of_a_path_that_is_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(std::ffi::OsStr::from_bytes(b"b\xff.csv"));
    std::fs::write(&p, "user_id,timestamp,item_id\nu1,1500000000,a\nu1,1500000100,b\n").unwrap();
    let out = lumlab().arg("inspect").arg(&p).args(["--json", "--no-cache"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["report"]["source"].as_str().unwrap().ends_with("b\u{FFFD}.csv"));
}
