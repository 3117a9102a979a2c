//! The scripted-checkpoint writer (examples/scripted_model.rs) through the real engine: a long
//! script that repeats digits, `\boxed`, `$` and newlines is said exactly, with a picture in the
//! prompt and again on a follow-up; a loop repeats; a script the construction cannot carry is
//! refused with a sentence.

use std::path::{Path, PathBuf};
use std::process::Command;

use onevision_engine::generate::{FinishReason, Output};
use onevision_engine::prompt::{Message, Part, Role};
use onevision_engine::sampler::SamplingParams;
use onevision_engine::worker::{Job, Worker};
use onevision_model::LoadOptions;

mod common;
use common::{case_dir, done, run};

/// `cargo test` builds the examples beside the test binaries' `deps/` folder.
fn writer() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let writer = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/scripted_model");
    assert!(
        writer.is_file(),
        "{} is missing: run `cargo test -p onevision-engine`, which builds it",
        writer.display()
    );
    writer
}

fn write(out: &Path, text: &str, looped: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(writer());
    cmd.arg("--tokenizer-from")
        .arg(case_dir().join("model"))
        .arg("--out")
        .arg(out)
        .args(["--text", text]);
    if let Some(l) = looped {
        cmd.args(["--loop", l]);
    }
    cmd.output().unwrap()
}

fn answer(worker: &Worker, messages: Vec<Message>, max_new_tokens: usize) -> Output {
    let picture =
        image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 3, y as u8 * 5, 90]));
    let job = Job {
        messages,
        pictures: vec![picture],
        sampling: Some(SamplingParams::default()),
        max_new_tokens: Some(max_new_tokens),
        ..Job::default()
    };
    done(&run(worker, job)).clone()
}

fn question(text: &str) -> Vec<Message> {
    vec![Message {
        role: Role::User,
        parts: vec![Part::Image(0), Part::Text(text.into())],
    }]
}

/// Reasoning as R1-Onevision writes it, with digits, operators, `$`, `\frac` and newlines used
/// many times over: the old bigram writer could say each token once.
const LONG_SCRIPT: &str = r"<think>
The figure shows a right triangle with legs 3 and 4. By the Pythagorean theorem, $c^2 = a^2 + b^2$, and with $a = 3$, $b = 4$ that is $9 + 16 = 25$, so $c = 5$.
Check the area two ways: $\frac{1}{2} \cdot 3 \cdot 4 = 6$, and with the height $h$ to the hypotenuse, $\frac{5h}{2} = 6$ gives $h = \frac{12}{5} = 2.4$.
Is 2*3*4 = 24? Yes: 6 times 4 is 24.
The perimeter is $3 + 4 + 5 = 12$, and the ratio of area to perimeter is $\frac{6}{12} = \frac{1}{2}$.
</think>
<answer>
The hypotenuse is $c = \sqrt{3^2 + 4^2} = \sqrt{25} = 5$, the height to it is $2.4$, and the product $2 \times 3 \times 4$ is $24$.

**Answer:** \boxed{5}
</answer>";

#[test]
fn a_long_script_with_repeats_is_said_exactly_and_again_on_a_follow_up() {
    let dir = tempfile::tempdir().unwrap();
    let text = LONG_SCRIPT;
    let wrote = write(dir.path(), text, None);
    assert!(
        wrote.status.success(),
        "{}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let worker = Worker::start(dir.path(), LoadOptions::default()).unwrap();
    let first = answer(&worker, question("Is 2*3*4 = 24?"), 4000);
    assert_eq!(first.finish_reason, FinishReason::Stop);
    assert!(
        first.generated_token_ids.len() > 200,
        "{} tokens",
        first.generated_token_ids.len()
    );
    assert_eq!(first.text, text);

    let mut messages = question("Is 2*3*4 = 24?");
    messages.push(Message::text(Role::Assistant, first.text.clone()));
    messages.push(Message::text(Role::User, "And 3*4*5?"));
    // The follow-up starts the same script again, now after a longer prompt read partly from
    // the cache (its first tokens are enough to show the look-back still holds).
    let again = answer(&worker, messages, 60);
    assert_eq!(again.generated_token_ids, first.generated_token_ids[..60]);
    assert!(
        again.reused_prompt_tokens > 0,
        "the follow-up did not reuse the cache"
    );
}

#[test]
fn a_loop_repeats_after_the_script_until_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let wrote = write(
        dir.path(),
        "<think>\nCount.</think>Counted:",
        Some(" 1, 2, 3, 4,"),
    );
    assert!(
        wrote.status.success(),
        "{}",
        String::from_utf8_lossy(&wrote.stderr)
    );
    let worker = Worker::start(dir.path(), LoadOptions::default()).unwrap();
    let out = answer(&worker, question("Count"), 600);
    assert_eq!(out.finish_reason, FinishReason::Length);
    let rest = out
        .text
        .strip_prefix("<think>\nCount.</think>Counted:")
        .unwrap();
    let whole = " 1, 2, 3, 4,".repeat(200);
    assert!(whole.starts_with(rest) && rest.len() > 400, "{rest:?}");
}

#[test]
fn a_script_whose_pairs_lead_two_ways_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // " a b c d e f" is followed once by " g" and once by " h".
    let wrote = write(dir.path(), "x a b c d e f g y a b c d e f h", None);
    assert!(!wrote.status.success());
    let err = String::from_utf8_lossy(&wrote.stderr);
    assert!(err.contains("\" a b c d e f\" twice"), "{err}");
    assert!(!dir.path().join("model.safetensors").exists());
}
