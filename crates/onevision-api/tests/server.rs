//! The server on the real-tokenizer fixture model, over real HTTP on loopback: answers equal to the
//! engine's own, streamed and whole; the queue, the key, cancellation by a client that leaves, and
//! refusals of bad input (each naming what is wrong) that leave the server answering.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures_util::StreamExt;
use onevision_api::server::{router, serve, ServeOptions};
use onevision_engine::generate::Output;
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::{Job, Worker, WorkerEvent};
use onevision_model::LoadOptions;
use serde_json::{json, Value};

fn model_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/parity/fixtures/real_tokenizer_chat/model")
}

fn picture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/parity/fixtures/images/triangle_64x60.png")
}

fn data_url() -> String {
    let bytes = std::fs::read(picture_path()).unwrap();
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

const QUESTION: &str = "What is in the picture?";

fn question(max_tokens: usize) -> Value {
    json!({
        "model": "fixture",
        "messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": data_url()}},
            {"type": "text", "text": QUESTION},
        ]}],
        "temperature": 0,
        "max_tokens": max_tokens,
    })
}

/// The engine's own greedy answer to the same question, without any server.
fn reference(max_tokens: usize) -> Output {
    let worker = Worker::start(&model_dir(), LoadOptions::default()).unwrap();
    let job = Job {
        messages: vec![Message {
            role: Role::User,
            parts: vec![Part::Image(0), Part::Text(QUESTION.into())],
        }],
        pictures: vec![onevision_model::image::load_image(&picture_path()).unwrap()],
        sampling: Some(SamplingParams::default()),
        max_new_tokens: Some(max_tokens),
        ..Job::default()
    };
    let (tx, rx) = mpsc::channel();
    worker
        .submit(job, move |e| {
            let _ = tx.send(e);
        })
        .unwrap();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)).unwrap() {
            WorkerEvent::Done(out) => return *out,
            WorkerEvent::Failed(e) => panic!("{e}"),
            _ => {}
        }
    }
}

struct Server {
    base: String,
    addr: std::net::SocketAddr,
}

async fn start(options: ServeOptions) -> Server {
    let worker = tokio::task::spawn_blocking(|| {
        Worker::start(&model_dir(), LoadOptions::default()).unwrap()
    })
    .await
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let header_timeout = options.header_timeout;
    tokio::spawn(serve(listener, router(worker, options), header_timeout));
    Server {
        base: format!("http://{addr}"),
        addr,
    }
}

fn options() -> ServeOptions {
    ServeOptions {
        served_model_name: "fixture".into(),
        ..ServeOptions::default()
    }
}

/// A response's body as JSON.
async fn json_body(r: reqwest::Response) -> Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

async fn get_json(url: String) -> Value {
    json_body(reqwest::get(url).await.unwrap()).await
}

async fn post(base: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

/// The `data:` payloads of a whole stream.
async fn stream_data(base: &str, body: &Value) -> Vec<String> {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_and_health() {
    let s = start(options()).await;
    let v = get_json(format!("{}/v1/models", s.base)).await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "fixture");
    assert_eq!(v["data"][0]["input_modalities"], json!(["text", "image"]));
    assert_eq!(v["data"][0]["max_model_len"], 4096);
    let h = get_json(format!("{}/health", s.base)).await;
    assert_eq!(h["status"], "ok");
    let r = reqwest::get(format!("{}/v1/nothing", s.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let e = json_body(r).await;
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/nothing"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_equal_the_engine_whole_and_streamed() {
    let want = tokio::task::spawn_blocking(|| reference(10)).await.unwrap();
    let s = start(options()).await;

    let (status, v) = post(&s.base, &question(10)).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "fixture");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], want.answer.as_str());
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["prompt_tokens"], want.prompt_token_ids.len());
    assert_eq!(v["usage"]["completion_tokens"], 10);
    assert_eq!(v["usage"]["total_tokens"], want.prompt_token_ids.len() + 10);

    let mut body = question(10);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let data = stream_data(&s.base, &body).await;
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, want.answer);
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 10);
    // The second asking of the same question reads its prompt from the cache.
    assert!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .is_some_and(|n| n > 0)
    );
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_clients_at_once_each_get_the_answer() {
    let want = tokio::task::spawn_blocking(|| reference(6)).await.unwrap();
    let s = start(options()).await;
    let asks = (0..4).map(|i| {
        let base = s.base.clone();
        tokio::spawn(async move {
            let mut body = question(6);
            if i % 2 == 1 {
                body["stream"] = json!(true);
                let data = stream_data(&base, &body).await;
                data.iter()
                    .filter_map(|d| serde_json::from_str::<Value>(d).ok())
                    .filter_map(|c| {
                        c["choices"][0]["delta"]["content"]
                            .as_str()
                            .map(String::from)
                    })
                    .collect::<String>()
            } else {
                let (status, v) = post(&base, &body).await;
                assert_eq!(status, 200);
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_string()
            }
        })
    });
    for a in asks {
        assert_eq!(a.await.unwrap(), want.answer);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_strings_end_the_answer_before_them() {
    let want = tokio::task::spawn_blocking(|| reference(10)).await.unwrap();
    // A stop string taken from the middle of the reference answer.
    let chars: Vec<char> = want.answer.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let expected = &want.answer[..want.answer.find(&stop).unwrap()];
    let s = start(options()).await;
    let mut body = question(10);
    body["stop"] = json!([stop]);
    let (status, v) = post(&s.base, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], expected);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_by_name_and_the_server_lives_on() {
    let s = start(ServeOptions {
        max_body_bytes: 1024 * 1024,
        ..options()
    })
    .await;
    let mut broken = question(2);
    broken["messages"][0]["content"][0]["image_url"]["url"] =
        json!("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB");
    let mut remote = question(2);
    remote["messages"][0]["content"][0]["image_url"]["url"] = json!("http://example.com/x.png");
    let mut wrong_model = question(2);
    wrong_model["model"] = json!("gpt-4o");
    for (body, status, names) in [
        (broken, 400, "messages[0].content[0].image_url.url"),
        (remote, 400, "messages[0].content[0].image_url.url"),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}),
            400,
            "temperature",
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}),
            400,
            "max_tokens",
        ),
        (wrong_model, 404, "model"),
    ] {
        let (got, v) = post(&s.base, &body).await;
        assert_eq!(got, status, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(names), "{message}");
        assert_eq!(v["error"]["param"], names);
    }
    // Not JSON at all.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .body("{\"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Larger than the limit: refused on its declared length, before any of it is read. (Sent
    // as bare headers: a client still writing a real 2 MiB body when the 413 comes back may see
    // its connection closed under it instead.)
    let addr = s.addr;
    let (answer, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
              Content-Type: application/json\r\nContent-Length: 2097152\r\n\r\n",
        )
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("larger than the 1 MiB"), "{answer}");
    // Still answering.
    let (status, _) = post(&s.base, &question(2)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_is_required_when_set() {
    let s = start(ServeOptions {
        api_key: Some("sesame".into()),
        ..options()
    })
    .await;
    let client = reqwest::Client::new();
    let url = format!("{}/v1/models", s.base);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 401);
    let wrong = client.get(&url).bearer_auth("open").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let e = json_body(wrong).await;
    assert_eq!(e["error"]["type"], "authentication_error");
    let chat = client
        .post(format!("{}/v1/chat/completions", s.base))
        .body(question(2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 401);
    assert_eq!(
        client
            .get(&url)
            .bearer_auth("sesame")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Health checks need no key.
    assert_eq!(
        client
            .get(format!("{}/health", s.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

async fn busy(base: &str) -> u64 {
    let h = get_json(format!("{base}/health")).await;
    h["busy"].as_u64().unwrap()
}

/// A long streamed answer, read until its first text arrives; returned still open.
async fn open_long_stream(base: &str) -> futures_util::stream::BoxStream<'static, Vec<u8>> {
    let mut body = question(3000);
    body["stream"] = json!(true);
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/chat/completions"))
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut bytes = r.bytes_stream().map(|c| c.unwrap().to_vec()).boxed();
    let mut seen = String::new();
    while !seen.contains("\"content\":\"") || seen.matches("data:").count() < 3 {
        let chunk = bytes.next().await.unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_says_when_to_come_back() {
    let s = start(ServeOptions {
        max_queue: 1,
        ..options()
    })
    .await;
    let long = open_long_stream(&s.base).await;
    let r = reqwest::Client::new()
        .post(format!("{}/v1/chat/completions", s.base))
        .body(question(2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "10");
    drop(long);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_cancels_its_answer() {
    let s = start(options()).await;
    let long = open_long_stream(&s.base).await;
    assert_eq!(busy(&s.base).await, 1);
    drop(long);
    // Uncancelled, the 3,000-token answer would hold the engine for minutes on this model; a
    // cancelled one lets go between two tokens.
    let deadline = Instant::now() + Duration::from_secs(30);
    while busy(&s.base).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the abandoned answer is still running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, v) = post(&s.base, &question(3)).await;
    assert_eq!(status, 200, "{v}");
}

/// Writes `head` to the server and returns what it answers, and whether the server closed the
/// connection (rather than leaving it open past our 30 s patience).
fn raw_exchange(addr: std::net::SocketAddr, head: &[u8]) -> (String, bool) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(head).unwrap();
    let mut out = Vec::new();
    let closed = tcp.read_to_end(&mut out).is_ok();
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_are_cut_off() {
    let s = start(ServeOptions {
        body_timeout: Duration::from_secs(1),
        header_timeout: Duration::from_secs(1),
        ..options()
    })
    .await;
    let addr = s.addr;
    // A body promised and never sent.
    let answer = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mess",
        )
    })
    .await
    .unwrap()
    .0;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("did not arrive within 1 s"), "{answer}");
    // Headers that never end: the server closes the connection.
    let (answer, closed) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    })
    .await
    .unwrap();
    assert!(
        closed,
        "the server kept a connection with unfinished headers open"
    );
    assert!(!answer.contains("200 OK"), "{answer}");
    let (status, _) = post(&s.base, &question(2)).await;
    assert_eq!(status, 200);
}
