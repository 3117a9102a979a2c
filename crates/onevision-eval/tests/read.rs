//! The fixture benchmark (tests/eval/fixtures, drawn by tests/eval/make_fixture.py) read from its
//! TSV and its JSONL: the same items, the shared and the doubled pictures, the broken row named.

use std::path::PathBuf;

use onevision_eval::item::decode_picture;
use onevision_eval::{Dataset, Item, PictureSource, RowError};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/eval/fixtures")
        .join(name)
}

fn read(name: &str) -> (usize, Vec<Item>, Vec<RowError>) {
    let data = Dataset::open(&fixture(name)).unwrap();
    let (mut items, mut errors) = (Vec::new(), Vec::new());
    for r in data.items().unwrap() {
        match r {
            Ok(i) => items.push(i),
            Err(e) => errors.push(e),
        }
    }
    (data.rows(), items, errors)
}

#[test]
fn tsv_and_jsonl_hold_the_same_items() {
    let (rows, tsv, tsv_errors) = read("bench.tsv");
    let (jrows, jsonl, jsonl_errors) = read("bench.jsonl");
    assert_eq!((rows, jrows), (32, 32));
    assert_eq!((tsv.len(), jsonl.len()), (31, 31));
    for (a, b) in tsv.iter().zip(&jsonl) {
        assert_eq!(a.index, b.index);
        assert_eq!(a.question, b.question);
        assert_eq!(a.options, b.options, "item {}", a.index);
        assert_eq!(a.answer, b.answer);
        assert_eq!(a.groups, b.groups);
        assert_eq!(a.pictures, b.pictures, "item {}", a.index);
    }
    let two = tsv.iter().find(|i| i.index == "29").unwrap();
    assert_eq!(two.pictures.len(), 2);
    assert_eq!(two.options.len(), 2, "empty option columns are not options");
    let first = tsv.iter().find(|i| i.index == "1").unwrap();
    let shared = tsv.iter().find(|i| i.index == "30").unwrap();
    assert_eq!(
        shared.pictures, first.pictures,
        "a row may point at an earlier row's picture"
    );
    assert_eq!(
        first.groups.keys().collect::<Vec<_>>(),
        ["level", "subject"],
        "grouping columns are the ones besides index, image, question, options and answer"
    );

    // The broken row is named by its line and index; the items after it still come.
    assert_eq!(tsv_errors.len(), 1);
    assert_eq!(tsv_errors[0].index.as_deref(), Some("32"));
    assert_eq!(tsv_errors[0].line, 9);
    assert!(
        tsv_errors[0].to_string().contains("fields"),
        "{}",
        tsv_errors[0]
    );
    assert_eq!(jsonl_errors.len(), 1);
    assert_eq!(jsonl_errors[0].line, 8);
    assert_eq!(
        jsonl_errors[0].index.as_deref(),
        Some("32"),
        "the index is read from a line cut short"
    );
    assert!(
        jsonl_errors[0].to_string().contains("not JSON"),
        "{}",
        jsonl_errors[0]
    );
}

#[test]
fn pictures_decode_and_a_broken_one_names_its_item() {
    let (_, items, _) = read("bench.tsv");
    for item in items.iter().filter(|i| i.index != "31") {
        for p in &item.pictures {
            let pic = decode_picture(item, p).unwrap();
            assert_eq!(pic.dimensions(), (64, 56));
        }
    }
    let broken = items.iter().find(|i| i.index == "31").unwrap();
    let e = decode_picture(broken, &broken.pictures[0]).unwrap_err();
    assert!(e.starts_with("item 31 (line 33)"), "{e}");
    assert!(e.contains("not a picture"), "{e}");
}

#[test]
fn layouts_that_cannot_be_read_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bench.csv");
    std::fs::write(&csv, "index,question\n").unwrap();
    let e = Dataset::open(&csv).unwrap_err().to_string();
    assert!(e.contains("bench.csv") && e.contains(".tsv"), "{e}");

    let no_answer = dir.path().join("no_answer.tsv");
    std::fs::write(&no_answer, "index\tquestion\n1\tWhat?\n").unwrap();
    let e = Dataset::open(&no_answer).unwrap_err().to_string();
    assert!(
        e.contains("no_answer.tsv") && e.contains("\"answer\""),
        "{e}"
    );

    let missing = dir.path().join("missing.tsv");
    let e = Dataset::open(&missing).unwrap_err().to_string();
    assert!(e.contains("missing.tsv"), "{e}");

    // Rows that say too little, each named; the good one still comes.
    let rows = dir.path().join("rows.jsonl");
    std::fs::write(
        &rows,
        concat!(
            "{\"index\": 1, \"question\": \"Q\", \"answer\": \"E\", \"A\": \"x\", \"B\": \"y\"}\n",
            "{\"index\": 2, \"question\": \"\", \"answer\": \"1\"}\n",
            "[1, 2]\n",
            "{\"index\": 3, \"question\": \"Q\", \"answer\": \"2\", \"image\": \"99\"}\n",
            "{\"index\": 4, \"question\": \"Q\", \"answer\": \"2\", \"options\": [\"1\", \"2\"]}\n",
            "{\"index\": 4, \"question\": \"Q\", \"answer\": \"2\"}\n",
        ),
    )
    .unwrap();
    let data = Dataset::open(&rows).unwrap();
    let all: Vec<_> = data.items().unwrap().collect();
    let messages: Vec<String> = all
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert!(
        messages[0].contains("line 1 (index 1)") && messages[0].contains("\"E\""),
        "{messages:?}"
    );
    assert!(messages[1].contains("question is empty"), "{messages:?}");
    assert!(
        messages[2].contains("line 3") && messages[2].contains("not a JSON object"),
        "{messages:?}"
    );
    assert!(messages[3].contains("\"99\""), "{messages:?}");
    assert!(
        messages[4].contains("already used on line 5"),
        "{messages:?}"
    );
    let good: Vec<&Item> = all.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(good.len(), 1);
    assert_eq!(
        good[0].answer, "B",
        "an option's text as the answer is read as its letter"
    );
    assert_eq!(good[0].pictures, Vec::<PictureSource>::new());
}
