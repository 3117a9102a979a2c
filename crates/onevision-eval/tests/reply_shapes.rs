//! The rules against ~300 replies in the shapes R1-Onevision, R1-Onevision-RL, OVR and
//! Qwen2.5-VL write (tests/fixtures/reply_shapes.jsonl: each with the answer a careful grader
//! finds and the verdict, set by hand).

use std::collections::BTreeMap;

use onevision_eval::compare::Verdict;
use onevision_eval::score::score;
use onevision_eval::Item;
use serde::Deserialize;

#[derive(Deserialize)]
struct Case {
    family: String,
    reply: String,
    options: BTreeMap<String, String>,
    answer: String,
    extracted: Option<String>,
    verdict: Verdict,
    why: String,
}

#[test]
fn every_reply_shape_is_read_as_a_grader_reads_it() {
    let text = include_str!("fixtures/reply_shapes.jsonl");
    let mut failures = Vec::new();
    let mut count = 0;
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let case: Case =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        count += 1;
        let item = Item {
            index: (n + 1).to_string(),
            line: n as u64 + 1,
            question: "?".into(),
            hint: None,
            options: case
                .options
                .iter()
                .map(|(l, t)| (l.chars().next().unwrap(), t.clone()))
                .collect(),
            answer: case.answer.clone(),
            pictures: vec![],
            groups: Default::default(),
        };
        let s = score(&item, &case.reply);
        let extracted = s.extracted.as_ref().map(|(t, _)| t.clone());
        if extracted != case.extracted || s.verdict != case.verdict {
            failures.push(format!(
                "line {} ({}; {}): expected {:?} {:?}, got {:?} {:?}",
                n + 1,
                case.family,
                case.why,
                case.extracted,
                case.verdict,
                extracted,
                s.verdict
            ));
        }
    }
    assert!(count >= 250, "only {count} cases");
    assert!(
        failures.is_empty(),
        "{} of {count} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
