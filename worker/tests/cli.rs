//! The command line refuses what it cannot honour, naming the flag, instead of falling back in
//! silence; `--log-format json` writes JSON lines.

use std::process::Command;

fn worker(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_skiff-worker"))
        .args(args)
        .env_remove("SKIFF_LOG_LEVEL")
        .env_remove("SKIFF_LOG_FORMAT")
        .output()
        .unwrap()
}

#[test]
fn an_unknown_log_format_is_refused_with_the_choices() {
    let out = worker(&["--log-format", "xml", "standalone", "missing.properties"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--log-format") && err.contains("text") && err.contains("json"),
        "{err}"
    );
}

#[test]
fn a_log_level_that_does_not_parse_is_refused_naming_the_flag() {
    let out = worker(&[
        "--log-level",
        "info,skiff=loud",
        "standalone",
        "missing.properties",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--log-level") && err.contains("loud"), "{err}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    // A worker file that does not exist: the worker logs the error and exits 1.
    let out = worker(&[
        "--log-format",
        "JSON",
        "standalone",
        "/nonexistent/worker.properties",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        !lines.is_empty(),
        "nothing logged; stderr: {:?}",
        out.stderr
    );
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            v["level"].is_string() && v["fields"]["message"].is_string(),
            "{v}"
        );
    }
}
