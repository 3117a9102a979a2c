//! Prompts built by the engine equal transformers' processor token for token, and streamed text
//! equals decoding everything at once, on the real Qwen2.5 tokenizer (parity fixture
//! `real_tokenizer_chat`).

use onevision_engine::prompt::{Message, Part, PromptBuilder, Role};
use onevision_engine::stream::Detokenizer;
use serde_json::Value;

mod common;
use common::case_dir;

fn builder() -> PromptBuilder {
    PromptBuilder::from_dir(&case_dir().join("model"), 151655).unwrap()
}

#[test]
fn chat_prompt_matches_the_processor() {
    let case: Value =
        serde_json::from_str(&std::fs::read_to_string(case_dir().join("case.json")).unwrap())
            .unwrap();
    let mut pictures = 0;
    let messages: Vec<Message> = case["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Message {
            role: serde_json::from_value(m["role"].clone()).unwrap(),
            parts: m["content"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| match p["type"].as_str().unwrap() {
                    "image" => {
                        pictures += 1;
                        Part::Image(pictures - 1)
                    }
                    _ => Part::Text(p["text"].as_str().unwrap().to_string()),
                })
                .collect(),
        })
        .collect();
    let b = builder();
    let text = b.render(&messages, true).unwrap();
    assert_eq!(text, case["prompt_text"].as_str().unwrap());
    let tokens_per_picture: Vec<usize> = case["image_grid_thw"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            g.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as usize)
                .product::<usize>()
                / 4
        })
        .collect();
    let ids = b.encode(&text, &tokens_per_picture).unwrap();
    let want: Vec<u32> = case["input_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(ids, want);
}

#[test]
fn placeholder_count_must_match_the_pictures() {
    let b = builder();
    let text = b
        .render(
            &[Message {
                role: Role::User,
                parts: vec![Part::Image(0), Part::Text("hi".into())],
            }],
            true,
        )
        .unwrap();
    let err = b.encode(&text, &[]).unwrap_err().to_string();
    assert!(
        err.contains("1 picture placeholder") && err.contains("0 picture"),
        "{err}"
    );
}

#[test]
fn streamed_text_equals_decoding_at_once_and_never_splits_a_character() {
    let b = builder();
    let tok = b.tokenizer();
    let text =
        "<think>∠ABC = 40°, so π/4 ≈ 0.785; 三角形的面积 😀</think><answer>\\boxed{12}</answer>";
    let ids = tok.encode(text, false).unwrap().get_ids().to_vec();
    let mut d = Detokenizer::new();
    let mut out = String::new();
    for &id in &ids {
        if let Some(delta) = d.push(tok, id).unwrap() {
            assert!(!delta.contains('\u{FFFD}'), "{delta:?}");
            out.push_str(&delta);
        }
    }
    if let Some(rest) = d.finish(tok).unwrap() {
        out.push_str(&rest);
    }
    assert_eq!(out, tok.decode(&ids, true).unwrap());
    assert_eq!(out, text);
}
