//! `ask --save`, `ask --conversation` and `history` against a real database file: the exchange
//! is recorded as the app records it, a saved conversation continues with its picture, and the
//! history commands read it back.

mod common;
use common::{fixture, json_of, model, onevision};

#[test]
fn saved_exchanges_continue_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("history.sqlite3");
    let db = db.to_str().unwrap();
    let model = model();
    let model = model.as_str();
    let picture = fixture("images/triangle_64x60.png");

    let first = json_of(&[
        "ask",
        "--model",
        model,
        "--image",
        picture.to_str().unwrap(),
        "--temperature",
        "0",
        "--max-new-tokens",
        "5",
        "--save",
        "--db",
        db,
        "--format",
        "json",
        "What is the area of the triangle?",
    ]);
    let id = first["conversation_id"].as_i64().unwrap();
    let id_text = id.to_string();

    // The follow-up reads the saved question, picture and answer back into the prompt.
    let second = json_of(&[
        "ask",
        "--model",
        model,
        "--conversation",
        &id_text,
        "--db",
        db,
        "--temperature",
        "0",
        "--max-new-tokens",
        "3",
        "--format",
        "json",
        "And its perimeter?",
    ]);
    assert_eq!(second["conversation_id"].as_i64(), Some(id));
    let first_prompt = first["prompt_token_ids"].as_array().unwrap();
    let second_prompt = second["prompt_token_ids"].as_array().unwrap();
    // Everything up to the first answer (the system turn, the question and its picture) is the
    // same prompt again.
    let shared = first_prompt.len() - 3;
    assert_eq!(second_prompt[..shared], first_prompt[..shared]);
    assert!(second_prompt.len() > first_prompt.len() + 5);

    let shown = json_of(&["history", "show", &id_text, "--db", db, "--format", "json"]);
    let messages = shown["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user", "assistant"]);
    assert!(messages.iter().all(|m| m["status"] == "complete"));
    assert_eq!(messages[0]["pictures"].as_array().unwrap().len(), 1);
    assert_eq!(messages[1]["text"], first["text"]);
    assert_eq!(messages[3]["answer"], second["answer"]);

    let listed = json_of(&["history", "list", "--db", db, "--format", "json"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["title"], "What is the area of the triangle?");

    let hits = json_of(&[
        "history",
        "search",
        "perimeter",
        "--db",
        db,
        "--format",
        "json",
    ]);
    assert_eq!(hits[0]["conversation_id"].as_i64(), Some(id));

    let exported = tmp.path().join("out.json");
    let out = onevision(&[
        "history",
        "export",
        &id_text,
        "--to",
        exported.to_str().unwrap(),
        "--db",
        db,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let imported = json_of(&[
        "history",
        "import",
        exported.to_str().unwrap(),
        "--db",
        db,
        "--format",
        "json",
    ]);
    let copy = imported["conversation_id"].as_i64().unwrap().to_string();
    let copy = json_of(&["history", "show", &copy, "--db", db, "--format", "json"]);
    assert_eq!(copy["messages"].as_array().unwrap().len(), 4);
    assert_eq!(copy["messages"][3]["answer"], second["answer"]);
}

#[test]
fn bad_history_input_gets_one_sentence() {
    let tmp = tempfile::tempdir().unwrap();
    let foreign = tmp.path().join("notes.txt");
    std::fs::write(&foreign, "not a database").unwrap();
    let db = tmp.path().join("h.sqlite3");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["history", "list", "--db", foreign.to_str().unwrap()],
            "notes.txt",
        ),
        (
            vec!["history", "show", "42", "--db", db.to_str().unwrap()],
            "42",
        ),
        (
            vec![
                "history",
                "export",
                "1",
                "--to",
                "x.txt",
                "--db",
                db.to_str().unwrap(),
            ],
            "x.txt",
        ),
    ];
    for (args, needle) in cases {
        let out = onevision(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(err.contains(needle), "{args:?}: wanted `{needle}` in {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "not a database");
}
