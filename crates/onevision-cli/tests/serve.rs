//! `onevision serve` and `onevision ask --endpoint` together, as separate processes: the same
//! greedy answer through the server as from the model loaded here, saved to the history with the
//! server and model recorded; the server's refusals of bad command lines.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

mod common;
use common::{fixture, json_of, model, onevision, transcribing_model};

/// A running `onevision serve` on a free port, stopped when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(extra: &[&str]) -> Served {
    serve_model(&model(), extra)
}

fn serve_model(dir: &str, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_onevision"))
        .args(["serve", "--model", dir, "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {first:?}"))
        .to_string();
    Served { child, url }
}

#[test]
fn asking_through_the_server_gives_the_local_answer() {
    let server = serve(&["--served-model-name", "fixture-vl", "--api-key", "k1"]);
    let picture = fixture("images/triangle_64x60.png");
    let picture = picture.to_str().unwrap();
    let common = [
        "--image",
        picture,
        "--temperature",
        "0",
        "--max-new-tokens",
        "9",
        "--format",
        "json",
        "What is shown?",
    ];
    let model = model();
    let mut local_args = vec!["ask", "--model", &model];
    local_args.extend(common);
    let local = json_of(&local_args);

    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.db");
    let mut remote_args = vec![
        "ask",
        "--endpoint",
        &server.url,
        "--api-key",
        "k1",
        "--save",
        "--db",
        db.to_str().unwrap(),
    ];
    remote_args.extend(common);
    let remote = json_of(&remote_args);

    assert_eq!(remote["text"], local["text"]);
    assert_eq!(remote["answer"], local["answer"]);
    assert_eq!(remote["finish_reason"], "length");
    assert_eq!(remote["usage"]["completion_tokens"], 9);
    assert_eq!(
        remote["usage"]["prompt_tokens"],
        local["prompt_token_ids"].as_array().unwrap().len()
    );
    assert_eq!(remote["device"], "server");
    assert_eq!(remote["model"], "fixture-vl");
    assert_eq!(remote["endpoint"], format!("{}/v1", server.url));
    // A server gives no token ids: absent, not empty.
    assert!(remote.get("generated_token_ids").is_none());

    // The history records the exchange, the model and the server.
    let id = remote["conversation_id"].as_i64().unwrap().to_string();
    let shown = json_of(&[
        "history",
        "show",
        &id,
        "--db",
        db.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let text = shown.to_string();
    assert!(text.contains("fixture-vl"), "{text}");
    assert!(text.contains(&server.url), "{text}");
    let messages = shown["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["text"], local["text"]);
    assert_eq!(messages.last().unwrap()["status"], "complete");
}

#[test]
fn transcribe_first_works_the_same_through_a_server() {
    let tmp = tempfile::tempdir().unwrap();
    let scripted = transcribing_model(tmp.path());
    let server = serve_model(scripted.to_str().unwrap(), &[]);
    let picture = fixture("images/triangle_64x60.png");
    let v = json_of(&[
        "ask",
        "--endpoint",
        &server.url,
        "--image",
        picture.to_str().unwrap(),
        "--transcribe-first",
        "--preset",
        "plain",
        "--temperature",
        "0",
        "--max-new-tokens",
        "60",
        "--format",
        "json",
        "What is AC?",
    ]);
    // The first pass is an ordinary request to the server, the second continues it.
    assert_eq!(v["transcription"]["kind"], "geometry");
    assert_eq!(v["transcription"]["text"], "AB = 3, BC = 4, angle B = 90°.");
    assert_eq!(v["transcription"]["pass"]["device"], "server");
    assert_eq!(v["answer"], "AC = 5");
    assert_eq!(v["device"], "server");
}

#[test]
fn a_wrong_key_is_one_sentence() {
    let server = serve(&["--api-key", "right"]);
    let out = onevision(&["ask", "--endpoint", &server.url, "--api-key", "wrong", "hi"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("answered 401"), "{err}");
    assert!(err.contains("the API key is wrong"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn serve_refuses_bad_command_lines() {
    for (args, needle) in [
        (vec!["serve"], "--model"),
        (
            vec!["serve", "--model", "/nonexistent/model", "--port", "0"],
            "/nonexistent/model",
        ),
        (
            vec!["serve", "--model", "x", "--host", "not-an-ip"],
            "not-an-ip",
        ),
        (
            vec!["serve", "--model", "x", "--max-body-mb", "0"],
            "--max-body-mb",
        ),
    ] {
        let out = onevision(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}
