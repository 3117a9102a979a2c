//! `onevision ask` end to end on the real-tokenizer parity fixture, and its refusals of bad input.

use std::process::Command;

use serde_json::Value;

mod common;
use common::{decode, fixture, json_of, model, onevision, transcribing_model};

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
    // Greedy decoding on this fixture runs 3,000 tokens without an end token (about 8 s here).
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
    // Long enough for the first tokens while other tests load both cores (1.5 s once saw none
    // with a model being quantised beside it), well before the run's end.
    std::thread::sleep(std::time::Duration::from_millis(3000));
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
fn quantised_run_reports_its_format_and_keeps_its_packed_weights() {
    let packed = tempfile::tempdir().unwrap();
    let run = || {
        json_of(&[
            "ask",
            "--model",
            &model(),
            "--quant",
            "q8_0",
            "--packed-dir",
            packed.path().to_str().unwrap(),
            "--max-new-tokens",
            "3",
            "--format",
            "json",
            "Hi",
        ])
    };
    let first = run();
    assert_eq!(first["quant"], "q8_0");
    assert_eq!(first["packed_weights"], "kept");
    assert_eq!(first["generated_token_ids"].as_array().unwrap().len(), 3);
    let second = run();
    assert_eq!(second["packed_weights"], "reused");
    assert_eq!(second["generated_token_ids"], first["generated_token_ids"]);
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
    assert_eq!(v["sampling"], "greedy");

    // With the sampling a model suggests, the same rows are timed with top-p at work.
    let sampled = json_of(&[
        "bench",
        "--model",
        &model(),
        "--runs",
        "1",
        "--warmup",
        "0",
        "--max-new-tokens",
        "3",
        "--temperature",
        "0.6",
        "--top-p",
        "0.95",
        "--format",
        "json",
    ]);
    assert_eq!(
        sampled["sampling"],
        "temperature 0.6, top-p 0.95, top-k 0, repetition penalty 1"
    );
    assert_eq!(sampled["generated_tokens"], 3);

    // Earlier steps put decoding deep into a context.
    let deep = json_of(&[
        "bench",
        "--model",
        &model(),
        "--runs",
        "1",
        "--warmup",
        "0",
        "--max-new-tokens",
        "2",
        "--context-tokens",
        "300",
        "--format",
        "json",
    ]);
    let short = sampled["prompt_tokens"].as_u64().unwrap();
    let long = deep["prompt_tokens"].as_u64().unwrap();
    assert!(
        (short + 290..short + 360).contains(&long),
        "{short} -> {long}"
    );

    let out = onevision(&["bench", "--model", &model(), "--runs", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--runs"), "{err}");
    let out = onevision(&["bench", "--model", &model(), "--top-p", "1.5"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("--top-p"), "{err}");
}

#[test]
fn transcribe_first_reads_the_picture_then_answers_from_the_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let scripted = transcribing_model(tmp.path());
    let picture = fixture("images/triangle_64x60.png");
    let ask = |extra: &[&str]| {
        let mut args = vec![
            "ask",
            "--model",
            scripted.to_str().unwrap(),
            "--image",
            picture.to_str().unwrap(),
            "--temperature",
            "0",
            "--max-new-tokens",
            "60",
            "--preset",
            "plain",
        ];
        args.extend_from_slice(extra);
        args.push("What is AC?");
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };

    let v = json_of(
        &ask(&["--transcribe-first", "--format", "json"])
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    let t = &v["transcription"];
    assert_eq!(t["kind"], "geometry");
    assert_eq!(t["text"], "AB = 3, BC = 4, angle B = 90°.");
    assert_eq!(v["answer"], "AC = 5");
    assert_eq!(v["think"], "\nUse the sides.");
    // The answer's prompt continues the first pass: the picture, the request, the transcription
    // as the model wrote it, then the question; all of the first pass is read from its cache.
    let first: Vec<&Value> = t["pass"]["prompt_token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let second: Vec<&Value> = v["prompt_token_ids"].as_array().unwrap().iter().collect();
    assert_eq!(second[..first.len()], first[..]);
    let prompt = decode(&v["prompt_token_ids"]);
    let reading = prompt
        .find("Kind: geometry\nAB = 3, BC = 4, angle B = 90°.")
        .expect(&prompt);
    let question = prompt
        .rfind("trust the transcription.\n\nWhat is AC?")
        .expect(&prompt);
    assert!(reading < question, "{prompt}");
    assert!(
        v["reused_prompt_tokens"].as_u64().unwrap() >= first.len() as u64,
        "reused {} of the first pass's {} prompt tokens",
        v["reused_prompt_tokens"],
        first.len()
    );

    // The student's correction replaces the model's reading: no first pass, the edited text in
    // the prompt.
    let corrected = tmp.path().join("corrected.txt");
    std::fs::write(
        &corrected,
        "Kind: geometry\nAB = 6, BC = 8, angle B = 90°.\n",
    )
    .unwrap();
    let v = json_of(
        &ask(&[
            "--transcription",
            corrected.to_str().unwrap(),
            "--format",
            "json",
        ])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    );
    assert_eq!(v["transcription"]["text"], "AB = 6, BC = 8, angle B = 90°.");
    assert!(v["transcription"]["pass"].is_null());
    let prompt = decode(&v["prompt_token_ids"]);
    assert!(
        prompt.contains("Kind: geometry\nAB = 6, BC = 8, angle B = 90°.<|im_end|>"),
        "{prompt}"
    );
    assert!(!prompt.contains("AB = 3"), "{prompt}");
    assert_eq!(v["answer"], "AC = 5");

    // As text: the transcription under its heading, then the thinking and the answer.
    let out = Command::new(env!("CARGO_BIN_EXE_onevision"))
        .args(ask(&["--transcribe-first"]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "transcription:\nKind: geometry\nAB = 3, BC = 4, angle B = 90°.\n\nthinking:\n\nUse the sides.\n\nanswer:\nAC = 5\n"
    );

    // Bad input: one sentence naming what is wrong, a failure code, nothing asked.
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "Kind: geometry\n  \n").unwrap();
    for (extra, says) in [
        (
            vec!["--transcription", empty.to_str().unwrap()],
            "empty.txt cannot be used: the transcription is empty",
        ),
        (
            vec!["--transcription", "/nonexistent/reading.txt"],
            "cannot read the transcription /nonexistent/reading.txt",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_onevision"))
            .args(ask(&extra))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(says),
            "{extra:?}: {err}"
        );
    }
    let out = onevision(&[
        "ask",
        "--model",
        scripted.to_str().unwrap(),
        "--transcribe-first",
        "What is AC?",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs a picture"),
        "{err}"
    );
}

#[test]
fn a_saved_transcription_is_kept_and_shown_again_when_the_conversation_continues() {
    let tmp = tempfile::tempdir().unwrap();
    let scripted = transcribing_model(tmp.path());
    let db = tmp.path().join("history.sqlite");
    let picture = fixture("images/triangle_64x60.png");
    let (model, db, picture) = (
        scripted.to_str().unwrap(),
        db.to_str().unwrap(),
        picture.to_str().unwrap(),
    );
    let common = [
        "--model",
        model,
        "--temperature",
        "0",
        "--max-new-tokens",
        "60",
        "--preset",
        "plain",
        "--db",
        db,
        "--format",
        "json",
    ];
    let mut args = vec!["ask", "--image", picture, "--transcribe-first", "--save"];
    args.extend_from_slice(&common);
    args.push("What is AC?");
    let v = json_of(&args);
    assert_eq!(v["answer"], "AC = 5");
    let conversation = v["conversation_id"].as_i64().unwrap().to_string();
    let reading_id = v["transcription"]["message_id"].as_i64().unwrap();
    assert!(v["message_id"].as_i64().unwrap() > reading_id);

    // The history holds the question, the transcription and the answer, each complete.
    let shown = json_of(&[
        "history",
        "show",
        &conversation,
        "--db",
        db,
        "--format",
        "json",
    ]);
    let rows: Vec<String> = shown["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| format!("{} {} {}", m["role"], m["kind"], m["status"]))
        .collect();
    assert_eq!(
        rows,
        [
            r#""user" "reply" "complete""#,
            r#""assistant" "transcription" "complete""#,
            r#""assistant" "reply" "complete""#
        ]
    );
    assert_eq!(
        shown["messages"][1]["answer"],
        "Kind: geometry\nAB = 3, BC = 4, angle B = 90°."
    );
    assert_eq!(shown["messages"][1]["id"], reading_id);

    // A follow-up sees the first question as it was answered (its pictures with the request,
    // the reading, the question with the note), then the new question.
    let mut args = vec!["ask", "--conversation", &conversation];
    args.extend_from_slice(&common);
    args.push("And what is AC?");
    let v = json_of(&args);
    assert_eq!(v["answer"], "AC = 5");
    let prompt = decode(&v["prompt_token_ids"]);
    let request = onevision_engine::preset::PromptPreset::Plain.transcription_request();
    let at = |needle: &str| {
        prompt
            .find(needle)
            .unwrap_or_else(|| panic!("{needle:?} is not in {prompt}"))
    };
    let reading = "<|im_start|>assistant\nKind: geometry\nAB = 3, BC = 4, angle B = 90°.<|im_end|>";
    let question = "trust the transcription.\n\nWhat is AC?";
    assert!(at(&request) < at(reading));
    assert!(at(reading) < at(question));
    assert!(at(question) < at("AC = 5"));
    assert!(at("AC = 5") < at("And what is AC?"));
}
