//! The client against servers' recorded stream shapes (tests/fixtures/streams/), replayed over
//! loopback HTTP by a small server of the test's own that can also hang up, go quiet, send
//! garbage or refuse. Every job ends in exactly one Done or Failed, keeping the text that came.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use onevision_api::client::{base_url, probe_pictures, served_by, ClientOptions, ServerEngine};
use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::worker::{Job, WorkerEvent};
use onevision_engine::ChatEngine;
use serde_json::Value;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/streams")
            .join(name),
    )
    .unwrap()
}

/// What the replay server does with a chat request.
#[derive(Clone)]
enum Reply {
    /// 200 and these pieces of the event stream, a pause before each; then it closes, or (with
    /// `hang`) keeps the connection open and silent.
    Stream {
        pieces: Vec<Vec<u8>>,
        pause: Duration,
        hang: bool,
    },
    /// This status and body.
    Status(u16, String),
}

fn stream(body: Vec<u8>) -> Reply {
    Reply::Stream {
        pieces: vec![body],
        pause: Duration::ZERO,
        hang: false,
    }
}

struct Replay {
    address: String,
    /// The chat request bodies the server received.
    received: Arc<Mutex<Vec<Value>>>,
}

fn read_request(tcp: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut reader = BufReader::new(tcp.try_clone().ok()?);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((first, body))
}

fn replay(reply: Reply) -> Replay {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let received = Arc::new(Mutex::new(Vec::new()));
    let log = received.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(mut tcp) = tcp else { continue };
            let reply = reply.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let Some((first, body)) = read_request(&mut tcp) else {
                    return;
                };
                if first.starts_with("GET /v1/models") {
                    let list = r#"{"object":"list","data":[{"id":"served-model","object":"model","created":0,"owned_by":"test"}]}"#;
                    let _ = write!(
                        tcp,
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{list}",
                        list.len()
                    );
                    return;
                }
                if let Ok(v) = serde_json::from_slice(&body) {
                    log.lock().unwrap().push(v);
                }
                match reply {
                    Reply::Status(code, text) => {
                        let _ = write!(
                            tcp,
                            "HTTP/1.1 {code} Refused\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                            text.len()
                        );
                    }
                    Reply::Stream {
                        pieces,
                        pause,
                        hang,
                    } => {
                        let _ = write!(
                            tcp,
                            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n"
                        );
                        for p in pieces {
                            std::thread::sleep(pause);
                            if tcp.write_all(&p).and_then(|_| tcp.flush()).is_err() {
                                return;
                            }
                        }
                        if hang {
                            std::thread::sleep(Duration::from_secs(60));
                        }
                    }
                }
            });
        }
    });
    Replay { address, received }
}

fn job() -> Job {
    Job {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Image(0), Part::Text("Find x.".into())],
        }],
        pictures: vec![image::RgbImage::from_pixel(8, 8, image::Rgb([200, 10, 10]))],
        max_new_tokens: Some(64),
        ..Job::default()
    }
}

/// All events of one job, with a test-sized idle timeout; `cancel_after_text` stops the job
/// once the first text has come.
fn run_with(address: &str, idle: Duration, cancel_after_text: bool) -> Vec<WorkerEvent> {
    let engine = ServerEngine::connect(
        address,
        None,
        Some("key"),
        ClientOptions {
            idle_timeout: idle,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    assert_eq!(engine.model(), "served-model");
    let (tx, rx) = mpsc::channel();
    let handle = engine
        .submit_job(
            job(),
            Box::new(move |e| {
                let _ = tx.send(e);
            }),
        )
        .unwrap();
    let mut events = Vec::new();
    loop {
        let e = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("the job ends within 30 s");
        let last = matches!(e, WorkerEvent::Done(_) | WorkerEvent::Failed(_));
        if cancel_after_text && matches!(e, WorkerEvent::Answer(_) | WorkerEvent::Think(_)) {
            handle.cancel();
        }
        events.push(e);
        if last {
            return events;
        }
    }
}

fn run(address: &str) -> Vec<WorkerEvent> {
    run_with(address, Duration::from_secs(20), false)
}

fn texts(events: &[WorkerEvent]) -> (String, String) {
    let mut think = String::new();
    let mut answer = String::new();
    for e in events {
        match e {
            WorkerEvent::Think(t) => think.push_str(t),
            WorkerEvent::Answer(t) => answer.push_str(t),
            _ => {}
        }
    }
    (think, answer)
}

fn done(events: &[WorkerEvent]) -> &Output {
    match events.last() {
        Some(WorkerEvent::Done(out)) => out,
        other => panic!("expected Done, got {other:?}"),
    }
}

fn failed(events: &[WorkerEvent]) -> &str {
    match events.last() {
        Some(WorkerEvent::Failed(e)) => &e.message,
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[test]
fn vllm_with_a_reasoning_parser() {
    let server = replay(stream(fixture("vllm_reasoning_parser.sse")));
    let events = run(&server.address);
    let out = done(&events);
    assert_eq!(
        out.think,
        "The angles of a triangle sum to 180°, so x = 180 − 70 − 60 = 50."
    );
    assert_eq!(out.answer, "\n\n$x = 50^\\circ$");
    assert_eq!(texts(&events), (out.think.clone(), out.answer.clone()));
    assert_eq!(out.final_answer.as_deref(), Some("$x = 50^\\circ$"));
    assert_eq!(out.finish_reason, FinishReason::Stop);
    assert_eq!(
        (out.usage.prompt_tokens, out.usage.completion_tokens),
        (412, 37)
    );
    assert!(out.prompt_token_ids.is_empty() && out.generated_token_ids.is_empty());
    // Thinking took the two reasoning chunks, and some time before the answer began.
    assert_eq!(out.think_tokens, 2);
    assert!(out.timings.think_ms > 0.0);
    assert!(out.timings.think_ms <= out.timings.time_to_first_token_ms + out.timings.decode_ms);

    // What the server was asked: the served model, a stream with usage, the picture inline.
    let sent = &server.received.lock().unwrap()[0];
    assert_eq!(sent["model"], "served-model");
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["max_tokens"], 64);
    let url = sent["messages"][0]["content"][0]["image_url"]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("data:image/png;base64,"));
    assert_eq!(sent["messages"][0]["content"][1]["text"], "Find x.");
}

#[test]
fn vllm_without_a_reasoning_parser_splits_think_tags_in_content() {
    let server = replay(stream(fixture("vllm_think_in_content.sse")));
    let events = run(&server.address);
    let out = done(&events);
    assert_eq!(out.think, "\nThe bar for 2021 is the tallest.\n");
    assert_eq!(out.answer, "\nB");
    assert_eq!(out.final_answer.as_deref(), Some("B"));
    assert_eq!(out.usage.completion_tokens, 22);
}

#[test]
fn sglang_with_nulls_and_matched_stop() {
    let server = replay(stream(fixture("sglang.sse")));
    let out = done(&run(&server.address)).clone();
    assert_eq!(out.think, "Ohm's law: I = V / R = 12 / 4.");
    assert_eq!(out.answer, "The current is 3 A.\nAnswer: 3 A");
    assert_eq!(out.final_answer.as_deref(), Some("3 A"));
    assert_eq!(out.usage.prompt_tokens, 731);
}

#[test]
fn llama_server_with_keep_alives_cut_by_length() {
    let server = replay(stream(fixture("llama_server.sse")));
    let out = done(&run(&server.address)).clone();
    assert_eq!(out.think, "\nLet the side be $a$. Then $a^2 = 49$, so");
    assert_eq!(out.answer, "");
    assert_eq!(out.finish_reason, FinishReason::Length);
    assert_eq!(out.usage.completion_tokens, 16);
}

#[test]
fn ollama_reasoning_field() {
    let server = replay(stream(fixture("ollama.sse")));
    let out = done(&run(&server.address)).clone();
    assert_eq!(
        out.think,
        "The molecule has two carbons and a hydroxyl group."
    );
    assert_eq!(
        out.answer,
        "It is ethanol, so the final answer is \\boxed{C_2H_5OH}."
    );
    assert_eq!(out.final_answer.as_deref(), Some("C_2H_5OH"));
    assert_eq!(out.usage.prompt_tokens + out.usage.completion_tokens, 633);
}

#[test]
fn a_stream_with_a_finish_reason_but_no_done_is_complete() {
    let server = replay(stream(fixture("no_done.sse")));
    let out = done(&run(&server.address)).clone();
    assert_eq!(out.answer, "Answer: 12");
    assert_eq!(out.finish_reason, FinishReason::Stop);
    // No usage from the server: the text chunks stand in for the token count.
    assert_eq!(out.usage.completion_tokens, 1);
}

#[test]
fn a_server_that_hangs_up_mid_answer_fails_keeping_the_text() {
    let whole = String::from_utf8(fixture("vllm_reasoning_parser.sse")).unwrap();
    // The first four events: the role and three pieces of text, then the connection closes.
    let cut: String = whole.split("\n\n").take(4).collect::<Vec<_>>().join("\n\n") + "\n\n";
    let server = replay(stream(cut.into_bytes()));
    let events = run(&server.address);
    let e = failed(&events);
    assert!(
        e.contains("closed the connection before the answer was finished"),
        "{e}"
    );
    assert!(e.contains(&server.address), "{e}");
    let (think, answer) = texts(&events);
    assert!(think.starts_with("The angles of a triangle"), "{think}");
    assert_eq!(answer, "\n\n");
}

#[test]
fn garbage_is_named_and_ends_the_answer() {
    let server = replay(stream(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: <html><body>502 Bad Gateway</body></html>\n\n".to_vec(),
    ));
    let events = run(&server.address);
    let e = failed(&events);
    assert!(e.contains("not a chat completion chunk"), "{e}");
    assert!(e.contains("502 Bad Gateway"), "{e}");
    assert_eq!(texts(&events).1, "Hel");
}

#[test]
fn an_error_inside_the_stream_is_reported_after_the_text() {
    let server = replay(stream(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Step 1\"}}]}\n\ndata: {\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"InternalServerError\",\"code\":500}}\n\ndata: [DONE]\n\n".to_vec(),
    ));
    let events = run(&server.address);
    let e = failed(&events);
    assert!(e.contains("CUDA out of memory"), "{e}");
    assert_eq!(texts(&events).1, "Step 1");
}

#[test]
fn refusals_carry_the_servers_own_words() {
    for (body, words) in [
        (
            r#"{"error":{"message":"Invalid API key","type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "Invalid API key",
        ),
        // Older vLLM.
        (
            r#"{"object":"error","message":"This model's maximum context length is 32768 tokens.","type":"BadRequestError","param":null,"code":400}"#,
            "maximum context length is 32768",
        ),
        (
            r#"{"error":"model \"qwen9\" not found, try pulling it first"}"#,
            "try pulling it first",
        ),
        (
            "<html>Service Unavailable</html>",
            "<html>Service Unavailable</html>",
        ),
    ] {
        let server = replay(Reply::Status(400, body.into()));
        let events = run(&server.address);
        let e = failed(&events);
        assert!(e.contains("answered 400"), "{e}");
        assert!(e.contains(words), "{e}");
    }
}

#[test]
fn a_silent_server_times_out_keeping_the_text() {
    let server = replay(Reply::Stream {
        pieces: vec![
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Partial\"}}]}\n\n".to_vec(),
        ],
        pause: Duration::ZERO,
        hang: true,
    });
    let events = run_with(&server.address, Duration::from_secs(1), false);
    let e = failed(&events);
    assert!(e.contains("sent nothing for 1 s"), "{e}");
    assert_eq!(texts(&events).1, "Partial");
}

#[test]
fn keep_alives_count_as_signs_of_life() {
    // Comments every 300 ms for 1.5 s against an idle timeout of 1 s, then the answer.
    let mut pieces = vec![b": keep-alive\n\n".to_vec(); 5];
    pieces.push(fixture("no_done.sse"));
    let server = replay(Reply::Stream {
        pieces,
        pause: Duration::from_millis(300),
        hang: false,
    });
    let events = run_with(&server.address, Duration::from_secs(1), false);
    assert_eq!(done(&events).answer, "Answer: 12");
}

#[test]
fn a_cancelled_answer_keeps_what_came() {
    let piece = |t: &str| {
        format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}}}}]}}\n\n")
            .into_bytes()
    };
    let server = replay(Reply::Stream {
        pieces: (0..50).map(|i| piece(&format!("w{i} "))).collect(),
        pause: Duration::from_millis(100),
        hang: false,
    });
    let events = run_with(&server.address, Duration::from_secs(20), true);
    let out = done(&events);
    assert_eq!(out.finish_reason, FinishReason::Cancelled);
    assert!(out.answer.starts_with("w0 "), "{}", out.answer);
    assert!(!out.answer.contains("w49"), "{}", out.answer);
}

#[test]
fn unreachable_servers_and_bad_addresses_say_so() {
    // A port nobody listens on: bind one, then free it.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = ServerEngine::connect(
        &format!("127.0.0.1:{port}"),
        None,
        None,
        ClientOptions::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        e.starts_with("cannot reach the server at http://127.0.0.1:"),
        "{e}"
    );
    let e = ServerEngine::connect("ftp://x", None, None, ClientOptions::default())
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a server address"), "{e}");
}

#[test]
fn addresses_gain_a_scheme_and_v1() {
    assert_eq!(
        base_url("localhost:8000").unwrap(),
        "http://localhost:8000/v1"
    );
    assert_eq!(
        base_url("http://10.0.0.2:8000/").unwrap(),
        "http://10.0.0.2:8000/v1"
    );
    assert_eq!(
        base_url("http://school.example/openai/v1").unwrap(),
        "http://school.example/openai/v1"
    );
    assert!(base_url("").is_err());
    let e = base_url("https://school.example/v1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("https:// servers are not supported yet"), "{e}");
}

#[test]
fn a_probe_says_whether_pictures_are_read() {
    let probe = |reply: Reply| {
        let server = replay(reply);
        let base = base_url(&server.address).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let found = rt.block_on(probe_pictures(&base, "m", None, &ClientOptions::default()));
        let sent = server.received.lock().unwrap()[0].clone();
        (found, sent)
    };
    let (found, sent) = probe(stream(fixture("no_done.sse")));
    assert_eq!(found, Some(true));
    assert_eq!(sent["max_tokens"], 1);
    assert!(sent["messages"][0]["content"][0]["image_url"]["url"]
        .as_str()
        .unwrap()
        .starts_with("data:image/png;base64,"));
    let refusal = r#"{"object":"error","message":"At most 0 image(s) may be provided in one request.","type":"BadRequestError","code":400}"#;
    assert_eq!(probe(Reply::Status(400, refusal.into())).0, Some(false));
    assert_eq!(probe(Reply::Status(500, "{}".into())).0, None);
}

#[test]
fn the_engine_behind_a_server_is_named_from_owned_by() {
    assert_eq!(served_by("vllm"), Some("vLLM"));
    assert_eq!(served_by("sglang"), Some("SGLang"));
    assert_eq!(served_by("llamacpp"), Some("llama.cpp"));
    assert_eq!(served_by("library"), Some("Ollama"));
    assert_eq!(served_by("onevision"), Some("onevision serve"));
    assert_eq!(served_by("openai"), None);
}
