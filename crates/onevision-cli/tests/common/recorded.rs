//! A server that answers like vLLM's OpenAI endpoint (no reasoning parser: the thinking arrives
//! as `<think>` text in `content`), with replies recorded per benchmark question
//! (tests/eval/fixtures/replies.json), and trouble on cue: a 503, a stream cut mid-answer.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

#[derive(Default)]
pub struct Log {
    /// (model asked, item index) of every chat request, in order.
    pub requests: Vec<(String, String)>,
}

pub struct Recorded {
    pub url: String,
    pub log: Arc<Mutex<Log>>,
}

struct State {
    items: Vec<(String, Value)>,
    trouble: HashMap<String, String>,
    delay: Duration,
    log: Arc<Mutex<Log>>,
}

/// Starts the server on a free port; `delay` is waited before each reply.
pub fn start(replies: &Value, delay: Duration) -> Recorded {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Log::default()));
    let state = Arc::new(Mutex::new(State {
        items: replies["items"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        trouble: replies["trouble"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect(),
        delay,
        log: log.clone(),
    }));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let state = state.clone();
            std::thread::spawn(move || {
                let _ = handle(conn, &state);
            });
        }
    });
    Recorded { url, log }
}

fn handle(mut conn: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut length = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    if request_line.starts_with("GET /v1/models") {
        let models = json!({"object": "list", "data": [
            {"id": "recorded", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
            {"id": "judge", "object": "model", "owned_by": "vllm", "max_model_len": 32768},
        ]});
        return respond_json(&mut conn, 200, &models);
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let model = request["model"].as_str().unwrap_or("").to_string();
    let prompt = prompt_text(&request);
    let (index, reply, trouble, delay) = {
        let mut st = state.lock().unwrap();
        let found = st
            .items
            .iter()
            .find(|(_, v)| prompt.contains(v["question"].as_str().unwrap()))
            .map(|(k, v)| (k.clone(), v.clone()));
        let Some((index, item)) = found else {
            drop(st);
            return respond_json(
                &mut conn,
                400,
                &json!({"error": {"message": "unknown question"}}),
            );
        };
        st.log
            .lock()
            .unwrap()
            .requests
            .push((model.clone(), index.clone()));
        let reply = if model == "judge" {
            item["judge"]
                .as_str()
                .unwrap_or("I cannot tell.")
                .to_string()
        } else {
            item["reply"].as_str().unwrap().to_string()
        };
        let trouble = if model == "judge" {
            None
        } else {
            st.trouble.remove(&index)
        };
        (index, reply, trouble, st.delay)
    };
    std::thread::sleep(delay);
    let _ = index;
    match trouble.as_deref() {
        Some("503") => respond_json(
            &mut conn,
            503,
            &json!({"object": "error", "message": "the server is busy", "code": 503}),
        ),
        Some(_) => stream(&mut conn, &model, &reply, true),
        None => stream(&mut conn, &model, &reply, false),
    }
}

fn prompt_text(request: &Value) -> String {
    let mut text = String::new();
    for m in request["messages"].as_array().into_iter().flatten() {
        match &m["content"] {
            Value::String(s) => text.push_str(s),
            Value::Array(parts) => {
                for p in parts {
                    if let Some(t) = p["text"].as_str() {
                        text.push_str(t);
                    }
                }
            }
            _ => {}
        }
    }
    text
}

fn respond_json(conn: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let body = body.to_string();
    write!(
        conn,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn chunk(model: &str, delta: Value, finish: Option<&str>) -> String {
    let c = json!({
        "id": "chatcmpl-recorded", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    format!("data: {c}\n\n")
}

/// The reply in pieces of a few characters, as vLLM streams tokens; `cut` stops halfway with no
/// end.
fn stream(conn: &mut TcpStream, model: &str, reply: &str, cut: bool) -> std::io::Result<()> {
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
    )?;
    conn.write_all(chunk(model, json!({"role": "assistant", "content": ""}), None).as_bytes())?;
    let chars: Vec<char> = reply.chars().collect();
    let pieces: Vec<String> = chars.chunks(7).map(|c| c.iter().collect()).collect();
    for (i, p) in pieces.iter().enumerate() {
        if cut && i == pieces.len() / 2 {
            conn.flush()?;
            return Ok(());
        }
        conn.write_all(chunk(model, json!({"content": p}), None).as_bytes())?;
    }
    conn.write_all(chunk(model, json!({"content": ""}), Some("stop")).as_bytes())?;
    let usage = json!({
        "id": "chatcmpl-recorded", "object": "chat.completion.chunk", "created": 1, "model": model,
        "choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": pieces.len(), "total_tokens": 100 + pieces.len()},
    });
    conn.write_all(format!("data: {usage}\n\ndata: [DONE]\n\n").as_bytes())?;
    conn.flush()
}
