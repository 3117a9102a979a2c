//! `onevision ask` end to end on the real-tokenizer parity fixture, and its refusals of bad input.

use std::process::Command;

use serde_json::Value;

mod common;
use common::{fixture, json_of, model, onevision};

#[test]
fn json_output_follows_the_contract_and_matches_transformers() {
    let case: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("real_tokenizer_chat/case.json")).unwrap(),
    )
    .unwrap();
    // The conversation as a --messages file, its picture path relative to the file.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("images/triangle_64x60.png"),
        tmp.path().join("fig.png"),
    )
    .unwrap();
    let messages = serde_json::json!([{"role": "user", "content": [
        {"type": "image", "image": "fig.png"},
        {"type": "text", "text": case["messages"][0]["content"][1]["text"]},
    ]}]);
    let messages_path = tmp.path().join("chat.json");
    std::fs::write(&messages_path, messages.to_string()).unwrap();
    let v = json_of(&[
        "ask",
        "--model",
        &model(),
        "--messages",
        messages_path.to_str().unwrap(),
        "--temperature",
        "0",
        "--max-new-tokens",
        "12",
        "--logprobs",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(v["prompt_token_ids"], case["input_ids"]);
    assert_eq!(v["generated_token_ids"], case["greedy_new_tokens"]);
    assert_eq!(v["finish_reason"], "length");
    assert_eq!(v["device"], "cpu");
    assert_eq!(v["dtype"], "f32");
    assert_eq!(v["logprobs"].as_array().unwrap().len(), 12);
    for key in ["text", "think", "answer"] {
        assert!(v[key].is_string(), "{key}");
    }
    for key in [
        "load_ms",
        "vision_ms",
        "prefill_ms",
        "decode_ms",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
    ] {
        assert!(
            v["timings"][key].as_f64().is_some_and(|x| x >= 0.0),
            "{key}"
        );
    }
}

#[test]
fn sampling_with_a_seed_is_reproducible() {
    let run = |seed: &str| {
        let v = json_of(&[
            "ask",
            "--model",
            &model(),
            "--temperature",
            "0.8",
            "--top-p",
            "0.9",
            "--top-k",
            "50",
            "--seed",
            seed,
            "--max-new-tokens",
            "8",
            "--format",
            "json",
            "Hello",
        ]);
        v["generated_token_ids"].clone()
    };
    assert_eq!(run("5"), run("5"));
    assert_ne!(run("5"), run("6"));
}

#[test]
fn text_format_streams_the_reply() {
    let out = onevision(&[
        "ask",
        "--model",
        &model(),
        "--temperature",
        "0",
        "--max-new-tokens",
        "5",
        "Hi",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).trim().is_empty());
}

#[test]
fn bad_input_gets_one_sentence_and_a_failure_code() {
    let tmp = tempfile::tempdir().unwrap();
    let bad_messages = tmp.path().join("bad.json");
    std::fs::write(&bad_messages, r#"{"role": "user"}"#).unwrap();
    let wrong_role = tmp.path().join("role.json");
    std::fs::write(&wrong_role, r#"[{"role": "robot", "content": "hi"}]"#).unwrap();
    let m = model();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--temperature", "-1", "x"], "--temperature"),
        (vec!["--top-p", "1.5", "x"], "--top-p"),
        (
            vec!["--repetition-penalty", "0", "x"],
            "--repetition-penalty",
        ),
        (
            vec!["--image", "/nonexistent/fig.png", "x"],
            "/nonexistent/fig.png",
        ),
        (
            vec!["--messages", bad_messages.to_str().unwrap()],
            "bad.json",
        ),
        (vec!["--messages", wrong_role.to_str().unwrap()], "robot"),
        (vec!["--max-new-tokens", "0", "x"], "--max-new-tokens"),
        (vec!["--max-new-tokens", "5000", "x"], "context"),
        (vec!["--quant", "q5", "x"], "'q5'"),
        (vec!["--dtype", "f64", "x"], "'f64'"),
        (vec![], "nothing to ask"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["ask", "--model", m.as_str()];
        args.extend(extra.iter().copied());
        let out = onevision(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(
            err.contains(needle),
            "{extra:?}: wanted `{needle}` in {err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = onevision(&["ask", "--model", "/nonexistent/model", "x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("/nonexistent/model"),
        "{err}"
    );
}

#[test]
fn ctrl_c_stops_the_answer_and_keeps_what_was_said() {
    // Greedy decoding on this fixture runs 3,000 tokens without an end token (about 30 s here).
    let child = Command::new(env!("CARGO_BIN_EXE_onevision"))
        .args([
            "ask",
            "--model",
            &model(),
            "--temperature",
            "0",
            "--max-new-tokens",
            "3000",
            "--format",
            "json",
            "Hello",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["finish_reason"], "cancelled");
    let n = v["generated_token_ids"].as_array().unwrap().len();
    assert!(n > 0 && n < 3000, "{n} tokens");
}

#[test]
fn quantised_run_reports_its_format() {
    let v = json_of(&[
        "ask",
        "--model",
        &model(),
        "--quant",
        "q8_0",
        "--max-new-tokens",
        "3",
        "--format",
        "json",
        "Hi",
    ]);
    assert_eq!(v["quant"], "q8_0");
    assert_eq!(v["generated_token_ids"].as_array().unwrap().len(), 3);
}

#[test]
fn bench_reports_every_measure_over_its_runs() {
    let picture = fixture("images/triangle_64x60.png");
    let v = json_of(&[
        "bench",
        "--model",
        &model(),
        "--image",
        picture.to_str().unwrap(),
        "--runs",
        "3",
        "--warmup",
        "0",
        "--max-new-tokens",
        "4",
        "--format",
        "json",
    ]);
    assert_eq!(v["runs"], 3);
    assert_eq!(v["runs_raw"].as_array().unwrap().len(), 3);
    assert_eq!(v["generated_tokens"], 4);
    // 64x60 resizes to 56x56: 4x4 patches, 4 tokens after 2x2 merging.
    assert_eq!(v["image_tokens"], 4);
    assert!(v["load_ms"].as_f64().unwrap() > 0.0);
    for key in [
        "vision_ms",
        "prefill_ms",
        "prefill_tokens_per_s",
        "decode_tokens_per_s",
        "time_to_first_token_ms",
    ] {
        let (min, median) = (
            v[key]["min"].as_f64().unwrap(),
            v[key]["median"].as_f64().unwrap(),
        );
        assert!(min > 0.0 && min <= median, "{key}: {min} {median}");
    }
    assert!(v["peak_rss_mib"].as_f64().unwrap() > 1.0);

    let out = onevision(&["bench", "--model", &model(), "--runs", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--runs"), "{err}");
}
