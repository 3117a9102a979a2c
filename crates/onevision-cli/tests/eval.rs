//! `onevision eval` end to end on the fixture benchmark (tests/eval/fixtures): through a server
//! that answers like vLLM with recorded replies (the exact table, retries, a judge, a kill and a
//! resume), and through a scripted checkpoint loaded here.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn bench(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/eval/fixtures")
        .join(name)
}

fn read_json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(bench(name)).unwrap()).unwrap()
}

/// Runs `onevision eval` and returns its exit code and JSON summary.
fn eval(args: &[&str]) -> (i32, Value) {
    let out = common::onevision(&[&["eval", "--format", "json"], args].concat());
    let code = out.status.code().unwrap_or(-1);
    let summary = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{args:?} gave no summary ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, summary)
}

/// The parts of a summary the fixture's expectations fix.
fn table(summary: &Value) -> Value {
    let mut failed: Vec<String> = summary["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    failed.sort();
    let strip = |v: &Value| -> Value {
        let mut out = serde_json::Map::new();
        for (k, t) in v.as_object().unwrap() {
            out.insert(
                k.clone(),
                serde_json::json!({"correct": t["correct"], "total": t["total"]}),
            );
        }
        Value::Object(out)
    };
    serde_json::json!({
        "overall": {"correct": summary["overall"]["correct"], "total": summary["overall"]["total"]},
        "by": {"level": strip(&summary["by"]["level"]), "subject": strip(&summary["by"]["subject"])},
        "failed": failed,
    })
}

fn predictions(dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(dir.join("predictions.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_server_run_gives_the_exact_table_retries_and_skips_broken_items() {
    let replies = read_json("replies.json");
    let expected = read_json("expected.json");
    let server = common::recorded::start(&replies, Duration::ZERO);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("run");
    let (code, summary) = eval(&[
        "--data",
        bench("bench.tsv").to_str().unwrap(),
        "--endpoint",
        &server.url,
        "--api-model",
        "recorded",
        "--concurrency",
        "4",
        "--retry-wait",
        "0.05",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "some items could not be asked: exit 1");
    assert_eq!(table(&summary), expected["without_judge"]);
    let methods = &summary["methods"];
    assert_eq!(methods["rules"], expected["methods"]["rules"]);
    assert_eq!(methods["unscored"], expected["methods"]["undecided"]);
    assert_eq!(methods["failed"], 2);

    // Each item asked once, the two in trouble twice; the broken picture never sent.
    let log = server.log.lock().unwrap();
    let asked = |i: &str| log.requests.iter().filter(|(_, x)| x == i).count();
    assert_eq!(log.requests.len(), 30 + 2);
    assert_eq!((asked("7"), asked("16"), asked("1")), (2, 2, 1));
    drop(log);
    let preds = predictions(&out_dir);
    let by_index = |i: &str| preds.iter().find(|p| p["index"] == i).unwrap().clone();
    assert_eq!(by_index("7")["attempts"], 2);
    assert_eq!(by_index("16")["attempts"], 2);
    assert_eq!(
        by_index("16")["correct"],
        true,
        "the retried stream is read whole"
    );
    let broken = by_index("31");
    assert_eq!(broken["method"], "failed");
    assert!(
        broken["error"].as_str().unwrap().contains("item 31"),
        "{broken}"
    );
    // Each record says what was found and which rule or who decided.
    let third = by_index("3");
    assert_eq!(third["extracted"], "There are two bulbs");
    assert_eq!(third["method"], "unscored");
    assert_eq!(by_index("5")["rule"], "answer_line");
    assert_eq!(by_index("27")["extracted"], Value::Null);

    for f in ["summary.json", "summary.md", "chart.svg"] {
        assert!(out_dir.join(f).is_file(), "{f} was not written");
    }
    let md = std::fs::read_to_string(out_dir.join("summary.md")).unwrap();
    assert!(md.contains("| level \\ subject | math | physics |"), "{md}");
    let svg = std::fs::read_to_string(out_dir.join("chart.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("junior high school"),
        "{svg}"
    );
}

#[test]
fn a_judge_scores_what_the_rules_cannot_and_its_word_is_kept() {
    let replies = read_json("replies.json");
    let expected = read_json("expected.json");
    let server = common::recorded::start(&replies, Duration::ZERO);
    let out = tempfile::tempdir().unwrap();
    let (_, summary) = eval(&[
        "--data",
        bench("bench.jsonl").to_str().unwrap(),
        "--endpoint",
        &server.url,
        "--api-model",
        "recorded",
        "--judge-endpoint",
        &server.url,
        "--judge-model",
        "judge",
        "--retry-wait",
        "0.05",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(table(&summary), expected["with_judge"]);
    assert_eq!(
        summary["methods"]["judge"],
        expected["methods"]["undecided"]
    );
    let judged: Vec<String> = server
        .log
        .lock()
        .unwrap()
        .requests
        .iter()
        .filter(|(m, _)| m == "judge")
        .map(|(_, i)| i.clone())
        .collect();
    assert_eq!(
        judged,
        ["3", "20", "24"],
        "only what the rules could not read is judged"
    );
    let preds = predictions(out.path());
    let twenty = preds.iter().find(|p| p["index"] == "20").unwrap();
    assert_eq!(twenty["method"], "judge");
    assert_eq!(twenty["judge_reply"], "CORRECT");
    assert_eq!(twenty["correct"], true);
}

#[test]
fn a_killed_run_resumes_asking_only_what_is_missing() {
    let replies = read_json("replies.json");
    let expected = read_json("expected.json");
    let slow = common::recorded::start(&replies, Duration::from_millis(150));
    let out = tempfile::tempdir().unwrap();
    let data = bench("bench.tsv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_onevision"))
        .args(["eval", "--format", "json", "--retry-wait", "0.05", "--data"])
        .arg(&data)
        .args(["--endpoint", &slow.url, "--api-model", "recorded", "--out"])
        .arg(out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while predictions(out.path()).len() < 8 {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the run did not progress"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let kept = predictions(out.path());
    assert!(kept.len() < 31, "killed before the end");
    let answered_before = kept.iter().filter(|p| p["method"] != "failed").count();

    let fast = common::recorded::start(&replies, Duration::ZERO);
    let (_, summary) = eval(&[
        "--data",
        data.to_str().unwrap(),
        "--endpoint",
        &fast.url,
        "--api-model",
        "recorded",
        "--retry-wait",
        "0.05",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(table(&summary), expected["without_judge"]);
    // Only the items without an answer were asked (the broken picture is tried again, sending
    // nothing).
    assert_eq!(summary["run"]["asked"], 31 - answered_before);
    let mut asked_again: Vec<String> = fast
        .log
        .lock()
        .unwrap()
        .requests
        .iter()
        .map(|(_, i)| i.clone())
        .collect();
    asked_again.sort();
    asked_again.dedup();
    for p in kept.iter().filter(|p| p["method"] != "failed") {
        let i = p["index"].as_str().unwrap().to_string();
        assert!(!asked_again.contains(&i), "item {i} was asked again");
    }
}

#[test]
fn a_scripted_checkpoint_answers_every_item_here() {
    // The engine's example writer, built by `cargo test --workspace` beside this binary.
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_onevision"));
    let writer = bin.parent().unwrap().join("examples/scripted_model");
    assert!(
        writer.is_file(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        writer.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    let status = Command::new(&writer)
        .args(["--tokenizer-from", &common::model(), "--out"])
        .arg(&model)
        .args([
            "--text",
            "<think>\nThe figure shows bars.</think><answer>(B)</answer>",
        ])
        .status()
        .unwrap();
    assert!(status.success());
    let out = dir.path().join("run");
    let (code, summary) = eval(&[
        "--data",
        bench("bench.jsonl").to_str().unwrap(),
        "--model",
        model.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    // Every answer is "(B)": right exactly where the reference is B; free-form references
    // cannot be compared with a letter, so those are left unscored (wrong).
    let items = read_json("replies.json");
    let bench_rows: Vec<Value> = std::fs::read_to_string(bench("bench.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let answered: Vec<&Value> = bench_rows
        .iter()
        .filter(|r| items["items"].get(r["index"].to_string()).is_some())
        .collect();
    let right = answered.iter().filter(|r| r["answer"] == "B").count();
    let choice = answered.iter().filter(|r| r.get("A").is_some()).count();
    assert_eq!(summary["overall"]["correct"], right);
    assert_eq!(summary["overall"]["total"], 32);
    assert_eq!(summary["methods"]["rules"], choice);
    assert_eq!(summary["methods"]["unscored"], answered.len() - choice);
    let preds = predictions(&out);
    assert!(preds.iter().filter(|p| p["method"] != "failed").all(|p| {
        p["reply"] == "<think>\nThe figure shows bars.</think><answer>(B)</answer>"
            && p["extracted"] == "(B)"
            && p["tokens"]["prompt"].as_u64().unwrap() > 20
    }));
}
