//! Every example runs against `trackflow collect`, and the collector decodes what each sent.

#![cfg(all(feature = "cli", feature = "retail", feature = "talent", feature = "webhook"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

mod support;

fn example(name: &str) -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_trackflow"));
    bin.parent().unwrap().join("examples").join(name)
}

#[test]
fn every_example_against_the_collector() {
    let (mut collector, url) = support::trackflow_collect(
        &["--json", "--webhook-secret-env", "TRACKFLOW_WEBHOOK_SECRET"],
        &[("TRACKFLOW_WEBHOOK_SECRET", "example-secret")],
        std::process::Stdio::piped(),
    );

    let runs: [(&str, &[&str]); 8] = [
        ("quickstart", &[]),
        ("growingio", &["all"]),
        ("gravity", &[]),
        ("personalize", &[]),
        ("retail", &[]),
        ("talent", &[]),
        ("fanout", &[]),
        ("webhook", &[]),
    ];
    let dir = std::env::temp_dir().join(format!("trackflow-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, args) in runs
        .iter()
        .copied()
        .chain([("axum_service", &["--self-test"][..])])
    {
        let out = Command::new(example(name))
            .args(args)
            .env("TRACKFLOW_URL", &url)
            .env("TRACKFLOW_WEBHOOK_SECRET", "example-secret")
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "example {name} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    collector.kill().unwrap();
    collector.wait().unwrap();
    let lines: Vec<Value> = BufReader::new(collector.stdout.take().unwrap())
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    let count = |backend: &str| lines.iter().filter(|l| l["backend"] == backend).count();
    // growingio: 4 codecs x (events, item) + fan-out + the axum service's batches.
    assert!(count("growingio") >= 10, "{}", count("growingio"));
    assert_eq!(count("gravity"), 2);
    assert_eq!(count("personalize"), 4);
    assert_eq!(count("retail"), 5);
    assert_eq!(count("talent"), 3);
    // Signed with the collector's secret, so accepted.
    let hooks: Vec<&Value> = lines.iter().filter(|l| l["backend"] == "webhook").collect();
    assert_eq!(hooks.len(), 1);
    assert_eq!(hooks[0]["status"], 200);
    assert_eq!(hooks[0]["decoded"].as_array().unwrap().len(), 2);
    // The collector undid every encoding it was sent.
    let steps: Vec<String> = lines
        .iter()
        .flat_map(|l| l["steps"].as_array().cloned().unwrap_or_default())
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    for step in ["gunzip", "xor", "unsnappy", "protobuf", "json"] {
        assert!(steps.iter().any(|s| s == step), "no request decoded with {step}");
    }
    let pb = lines
        .iter()
        .find(|l| {
            l["steps"].as_array().unwrap().iter().any(|s| s == "protobuf")
                && l["path"].as_str().unwrap().ends_with("/collect")
        })
        .unwrap();
    assert_eq!(pb["decoded"]["values"][0]["event_name"], "purchase");
    let gravity = lines.iter().find(|l| l["backend"] == "gravity").unwrap();
    assert_eq!(gravity["decoded"]["client_id"], "client-001");
    assert_eq!(
        gravity["query"], "access_token=***",
        "the collector's printout masks the token"
    );
}
