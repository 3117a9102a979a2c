//! `onevision models list | download | verify` against a private Hugging Face cache and a hub on
//! 127.0.0.1 serving the parity fixtures.

mod common;
#[path = "../../onevision-engine/tests/fake_hub/mod.rs"]
mod fake_hub;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::fixture;
use fake_hub::{FakeHub, COMMIT};
use serde_json::Value;

/// The command with a private hub cache and no token from this machine's environment.
fn cmd(home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_onevision"));
    c.args(args)
        .env("HF_HOME", home)
        .env("HF_HUB_CACHE", home.join("hub"))
        .env_remove("HF_TOKEN")
        .env_remove("HUGGING_FACE_HUB_TOKEN")
        .env_remove("HF_TOKEN_PATH")
        .env_remove("HF_ENDPOINT");
    c
}

fn run(home: &Path, args: &[&str]) -> Output {
    cmd(home, args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

fn chat_model() -> PathBuf {
    fixture("real_tokenizer_chat/model")
}

/// The sharded fixture with the chat fixture's tokenizer: a complete two-shard checkpoint.
fn sharded_copy(to: &Path) -> PathBuf {
    copy_dir(&fixture("resize_portrait_sharded/model"), to);
    std::fs::copy(
        chat_model().join("tokenizer.json"),
        to.join("tokenizer.json"),
    )
    .unwrap();
    to.to_path_buf()
}

#[test]
fn list_shows_the_catalog_what_is_on_disk_and_what_fits() {
    let home = tempfile::tempdir().unwrap();
    let hub = home.path().join("hub");
    // A complete R1-Onevision-7B snapshot and an incomplete Qwen2.5-VL-3B one, as the hub
    // cache lays them out.
    let r1 = hub.join("models--Fancy-MLLM--R1-Onevision-7B");
    copy_dir(&chat_model(), &r1.join("snapshots/abc123"));
    std::fs::create_dir_all(r1.join("refs")).unwrap();
    std::fs::write(r1.join("refs/main"), "abc123").unwrap();
    let q3 = hub.join("models--Qwen--Qwen2.5-VL-3B-Instruct/snapshots/def456");
    copy_dir(&chat_model(), &q3);
    std::fs::remove_file(q3.join("model.safetensors")).unwrap();
    // Not a vision-language model: left out.
    std::fs::create_dir_all(hub.join("models--bert--tiny/snapshots/1")).unwrap();
    std::fs::write(
        hub.join("models--bert--tiny/snapshots/1/config.json"),
        r#"{"model_type":"bert"}"#,
    )
    .unwrap();
    let mine = home.path().join("mine");
    sharded_copy(&mine.join("my-model"));

    let out = run(
        home.path(),
        &[
            "models",
            "list",
            "--folder",
            mine.to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let catalog = v["catalog"].as_array().unwrap();
    assert_eq!(catalog.len(), 5);
    let entry = |id: &str| catalog.iter().find(|e| e["id"] == id).unwrap().clone();

    let r1_entry = entry("r1-onevision-7b");
    assert_eq!(r1_entry["repo"], "Fancy-MLLM/R1-Onevision-7B");
    assert_eq!(r1_entry["preset"], "r1-onevision");
    assert_eq!(r1_entry["max_pixels"], 1_003_520);
    let found = &r1_entry["found"][0];
    assert_eq!(found["complete"], true, "{found}");
    assert_eq!(found["commit"], "abc123");
    assert!(found["path"]
        .as_str()
        .unwrap()
        .ends_with("snapshots/abc123"));
    let fit = &r1_entry["fit"];
    assert!(
        fit["advice"].as_str().unwrap().contains("R1-Onevision-7B"),
        "{fit}"
    );
    assert!(["none", "q8_0", "q4k"].contains(&fit["quant"].as_str().unwrap()));

    let q3_found = &entry("qwen2.5-vl-3b")["found"][0];
    assert_eq!(q3_found["complete"], false);
    assert_eq!(
        q3_found["missing"],
        serde_json::json!(["model.safetensors"])
    );
    assert_eq!(entry("qwen2.5-vl-3b")["tied_embeddings"], true);
    assert_eq!(entry("ovr-7b-rl")["gated"], true);
    assert!(entry("ovr-7b-rl")["found"].as_array().unwrap().is_empty());

    let other = v["other"].as_array().unwrap();
    assert_eq!(other.len(), 1, "{other:?}");
    assert!(other[0]["found"]["path"]
        .as_str()
        .unwrap()
        .ends_with("my-model"));
    assert_eq!(other[0]["found"]["complete"], true);
    assert!(other[0]["fit"]["needed_bytes"].as_u64().unwrap() > 0);
    if !cfg!(any(feature = "cuda", feature = "metal")) {
        assert!(v["hardware"]["gpu_note"]
            .as_str()
            .unwrap()
            .contains("no CUDA"));
    }

    let out = run(home.path(), &["models", "list"]);
    let text = stdout(&out);
    assert!(text.starts_with("This machine: "), "{text}");
    assert!(
        text.contains("not on disk: onevision models download ovr-7b-rl"),
        "{text}"
    );
    assert!(
        text.contains("incomplete: missing model.safetensors"),
        "{text}"
    );
}

#[test]
fn a_pinned_precision_is_judged_as_asked() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &[
            "models", "list", "--device", "cpu", "--quant", "q4k", "--format", "json",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for e in v["catalog"].as_array().unwrap() {
        assert_eq!(
            (e["fit"]["device"].as_str(), e["fit"]["quant"].as_str()),
            (Some("cpu"), Some("q4k")),
            "{e}"
        );
    }
}

#[test]
fn verify_accepts_complete_folders_and_names_the_file_at_fault() {
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["models", "verify", chat_model().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is a complete checkpoint: 1 weight file(s)"),
        "{}",
        stdout(&out)
    );

    let dir = sharded_copy(&home.path().join("sharded"));
    let d = dir.to_str().unwrap();
    let out = run(home.path(), &["models", "verify", d, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["weight_files"], 2);

    // A shard cut short.
    let shard = dir.join("model-00002-of-00002.safetensors");
    let bytes = std::fs::read(&shard).unwrap();
    std::fs::write(&shard, &bytes[..bytes.len() - 100]).unwrap();
    let out = run(home.path(), &["models", "verify", d]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("model-00002-of-00002.safetensors") && err.contains("truncated"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A shard missing.
    std::fs::remove_file(&shard).unwrap();
    let out = run(home.path(), &["models", "verify", d]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("model-00002-of-00002.safetensors is missing"),
        "{err}"
    );

    // No tokenizer.
    let out = run(
        home.path(),
        &[
            "models",
            "verify",
            fixture("single_exact/model").to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("tokenizer.json is missing"),
        "{}",
        stderr(&out)
    );
}

/// R1-Onevision-7B-RL downloaded from a stand-in hub into `home`'s cache: the command's output.
fn download_rl(home: &Path) -> Output {
    let hub = FakeHub::start();
    hub.add_repo(
        "Fancy-MLLM/R1-Onevision-7B-RL",
        fake_hub::files_of(&chat_model(), &[]),
        None,
    );
    let out = run(
        home,
        &[
            "models",
            "download",
            "r1-onevision-7b-rl",
            "--endpoint",
            &hub.url,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    out
}

/// R1-Onevision-7B-RL's entry in `models list --format json`.
fn listed_rl(home: &Path) -> Value {
    let out = run(home, &["models", "list", "--format", "json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == "r1-onevision-7b-rl")
        .unwrap()
        .clone()
}

#[test]
fn download_fills_the_hub_cache_and_the_copy_verifies_against_the_hub_hashes() {
    let home = tempfile::tempdir().unwrap();
    let out = download_rl(home.path());
    let snapshot = stdout(&out).trim().to_string();
    assert!(
        snapshot.ends_with(&format!(
            "models--Fancy-MLLM--R1-Onevision-7B-RL/snapshots/{COMMIT}"
        )),
        "{snapshot}"
    );
    assert!(stderr(&out).contains("Fetched"), "{}", stderr(&out));
    let out = run(home.path(), &["models", "verify", &snapshot]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("7 files match their hub hashes"),
        "{}",
        stdout(&out)
    );

    // One flipped byte inside the weights: the header still parses, only the hash can tell.
    let blob = std::fs::canonicalize(Path::new(&snapshot).join("model.safetensors")).unwrap();
    let mut bytes = std::fs::read(&blob).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&blob, &bytes).unwrap();
    let out = run(home.path(), &["models", "verify", &snapshot, "--no-hash"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(home.path(), &["models", "verify", &snapshot]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("model.safetensors is damaged"), "{err}");
    let rl = listed_rl(home.path());
    assert_eq!(rl["found"][0]["path"], snapshot.as_str());
}

#[test]
fn a_gated_download_without_a_token_says_how_to_give_one() {
    let hub = FakeHub::start();
    hub.add_repo(
        "Kangheng/OVR-7B-RL",
        fake_hub::files_of(&chat_model(), &[]),
        Some("hf_ok"),
    );
    let home = tempfile::tempdir().unwrap();
    let out = run(
        home.path(),
        &["models", "download", "ovr-7b-rl", "--endpoint", &hub.url],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("--token") && err.contains("HF_TOKEN") && err.contains("Kangheng/OVR-7B-RL"),
        "{err}"
    );
    // The token file `huggingface-cli login` writes is used.
    std::fs::write(home.path().join("token"), "hf_ok\n").unwrap();
    let out = run(
        home.path(),
        &["models", "download", "ovr-7b-rl", "--endpoint", &hub.url],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = run(home.path(), &["models", "download", "no-such-model"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown model \"no-such-model\""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ctrl_c_stops_a_download_and_the_next_run_resumes_it() {
    let hub = FakeHub::start();
    hub.add_repo(
        "Fancy-MLLM/R1-Onevision-7B",
        fake_hub::files_of(&chat_model(), &[]),
        None,
    );
    hub.slow(Duration::from_millis(30));
    let home = tempfile::tempdir().unwrap();
    let child = cmd(
        home.path(),
        &[
            "models",
            "download",
            "r1-onevision-7b",
            "--endpoint",
            &hub.url,
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let blobs = home
        .path()
        .join("hub/models--Fancy-MLLM--R1-Onevision-7B/blobs");
    let partial_len = || -> u64 {
        std::fs::read_dir(&blobs)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".incomplete"))
                    .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while partial_len() < 300_000 {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("run it again to resume"),
        "{}",
        stderr(&out)
    );
    let kept = partial_len();
    assert!(kept >= 300_000, "{kept}");

    let out = run(
        home.path(),
        &[
            "models",
            "download",
            "r1-onevision-7b",
            "--endpoint",
            &hub.url,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        hub.seen()
            .iter()
            .any(|s| s.range.as_deref().is_some_and(|r| r != "bytes=0-")),
        "no resumed request: {:?}",
        hub.seen()
    );
    assert_eq!(partial_len(), 0);
}

#[test]
fn remove_deletes_a_downloaded_copy_with_its_packed_weights() {
    let home = tempfile::tempdir().unwrap();
    let packed = home.path().join("packed");
    let snapshot = PathBuf::from(stdout(&download_rl(home.path())).trim());
    let kept = onevision_model::packed::target_file(
        &packed,
        &snapshot,
        onevision_model::Quantization::Q8_0,
    );
    std::fs::create_dir_all(&packed).unwrap();
    std::fs::write(&kept, vec![0u8; 4096]).unwrap();
    let repo = snapshot.parent().unwrap().parent().unwrap().to_path_buf();
    let on_disk: u64 = std::fs::read_dir(repo.join("blobs"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();

    let remove = |format: &str| {
        cmd(
            home.path(),
            &[
                "models",
                "remove",
                snapshot.to_str().unwrap(),
                "--format",
                format,
            ],
        )
        .env("ONEVISION_PACKED_DIR", &packed)
        .output()
        .unwrap()
    };
    let out = remove("json");
    assert!(out.status.success(), "{}", stderr(&out));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["packed_files"], 1);
    // The blobs, the packed file and refs/main (the commit's 40 characters).
    assert_eq!(v["freed_bytes"], on_disk + 4096 + COMMIT.len() as u64);
    assert!(!repo.exists() && !kept.exists());
    let rl = listed_rl(home.path());
    assert_eq!(rl["found"].as_array().map(Vec::len), Some(0), "{rl}");

    let out = remove("text");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not a model folder, nothing was removed"),
        "{err}"
    );
}
