//! Search latency over a large history (the target: under 20 ms with 10,000 conversations).
//!
//! ```sh
//! cargo run --release -p onevision-store --example search_bench -- [--conversations N] [--db PATH]
//! ```
//!
//! Builds a history of N conversations (default 10,000) of generated but realistic homework
//! exchanges — a question, a long reasoning, an answer, and follow-ups in a third of them —
//! each on one of eleven subjects, spread over a year and over three models; then times
//! `Store::search` end to end for a fixed mix of queries (subject words, words found in nearly
//! every message, rare words, two-word queries, prefixes as while typing, model and date
//! filters), several rounds each, and prints the median and 95th percentile.
//! With `--db` an existing database is reused (and filled first if it is empty).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use onevision_store::{
    ConversationExport, ExportedMessage, GenerationStats, MessageKind, MessageStatus, Role,
    SearchQuery, Store, EXPORT_FORMAT, EXPORT_VERSION,
};

const MODELS: [&str; 3] = ["r1-onevision-7b", "r1-onevision-7b-rl", "qwen2.5-vl-7b"];
const YEAR_MS: i64 = 365 * 86_400_000;
const START_MS: i64 = 1_704_067_200_000; // 2024-01-01

/// Each conversation is about one subject and draws most of its content words from it, as
/// real homework does; the general words below cut across subjects.
const TOPICS: &[&[&str]] = &[
    &[
        "triangle",
        "hypotenuse",
        "angle",
        "isosceles",
        "congruent",
        "bisector",
        "altitude",
        "perimeter",
        "area",
        "vertex",
        "Pythagoras",
        "similar",
        "acute",
        "obtuse",
        "median",
    ],
    &[
        "circle",
        "radius",
        "diameter",
        "chord",
        "tangent",
        "arc",
        "sector",
        "circumference",
        "inscribed",
        "secant",
        "centre",
        "segment",
        "concentric",
        "annulus",
        "pi",
    ],
    &[
        "parabola",
        "quadratic",
        "discriminant",
        "roots",
        "vertex",
        "factor",
        "polynomial",
        "coefficient",
        "intercept",
        "symmetric",
        "axis",
        "completing",
        "square",
        "ellipse",
        "hyperbola",
    ],
    &[
        "derivative",
        "integral",
        "limit",
        "continuous",
        "tangent",
        "slope",
        "maximum",
        "minimum",
        "antiderivative",
        "chain",
        "substitution",
        "convergent",
        "series",
        "Riemann",
        "asymptote",
    ],
    &[
        "vector",
        "matrix",
        "determinant",
        "eigenvalue",
        "eigenvector",
        "orthogonal",
        "projection",
        "basis",
        "span",
        "rank",
        "transpose",
        "inverse",
        "linear",
        "dot",
        "cross",
    ],
    &[
        "probability",
        "histogram",
        "median",
        "variance",
        "deviation",
        "distribution",
        "sample",
        "mean",
        "regression",
        "scatter",
        "correlation",
        "outlier",
        "quartile",
        "binomial",
        "normal",
    ],
    &[
        "circuit",
        "resistor",
        "capacitor",
        "voltage",
        "current",
        "inductor",
        "transistor",
        "series",
        "parallel",
        "Kirchhoff",
        "ohm",
        "battery",
        "diode",
        "impedance",
        "ground",
    ],
    &[
        "molecule",
        "benzene",
        "isomer",
        "bond",
        "electron",
        "oxidation",
        "reduction",
        "titration",
        "equilibrium",
        "mole",
        "acid",
        "base",
        "stoichiometry",
        "catalyst",
        "enthalpy",
    ],
    &[
        "cell",
        "enzyme",
        "photosynthesis",
        "mitochondria",
        "osmosis",
        "membrane",
        "protein",
        "chromosome",
        "mitosis",
        "chlorophyll",
        "glucose",
        "respiration",
        "nucleus",
        "organism",
        "diffusion",
    ],
    &[
        "velocity",
        "acceleration",
        "momentum",
        "friction",
        "pendulum",
        "projectile",
        "force",
        "mass",
        "gravity",
        "energy",
        "inclined",
        "torque",
        "collision",
        "spring",
        "newton",
    ],
    &[
        "lens",
        "refraction",
        "reflection",
        "wavelength",
        "frequency",
        "mirror",
        "focal",
        "prism",
        "diffraction",
        "interference",
        "photon",
        "spectrum",
        "ray",
        "image",
        "Snell",
    ],
];
const GENERAL: &[&str] = &[
    "equation",
    "value",
    "figure",
    "diagram",
    "graph",
    "table",
    "formula",
    "result",
    "unit",
    "number",
    "ratio",
    "answer",
    "length",
    "total",
    "label",
    "point",
    "line",
    "axis",
    "solution",
    "approximately",
    "step",
    "method",
    "check",
    "therefore",
    "given",
];
const VERBS: &[&str] = &[
    "Find",
    "Compute",
    "Determine",
    "Estimate",
    "Prove",
    "Explain",
    "Calculate",
    "Show",
    "Derive",
    "Compare",
    "Sketch",
    "Identify",
    "Measure",
    "Simplify",
    "Evaluate",
];
const FILLER: &[&str] = &[
    "the",
    "of",
    "and",
    "is",
    "in",
    "so",
    "that",
    "we",
    "this",
    "with",
    "from",
    "then",
    "for",
    "by",
    "it",
    "a",
    "an",
    "to",
    "be",
    "are",
    "first",
    "next",
    "because",
    "each",
    "both",
    "since",
    "notice",
    "wait",
    "again",
    "using",
    "gives",
    "means",
    "labelled",
    "unknown",
    "known",
    "carefully",
    "exactly",
    "let",
    "me",
    "us",
    "now",
    "here",
    "which",
    "where",
    "when",
    "if",
    "not",
    "but",
    "can",
    "should",
];

/// A small deterministic generator (xorshift64*), so every run builds the same history.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed towards the start of the list, as word frequencies are.
    fn zipf<'a>(&mut self, words: &[&'a str]) -> &'a str {
        let r = self.below(words.len());
        words[self.below(r + 1)]
    }
    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.below(words.len())]
    }
}

fn sentence(rng: &mut Rng, topic: &[&str], words: usize) -> String {
    let mut s = String::new();
    for i in 0..words {
        if i > 0 {
            s.push(' ');
        }
        match rng.below(20) {
            0..=2 => s.push_str(rng.zipf(topic)),
            3 => s.push_str(rng.zipf(GENERAL)),
            4 => s.push_str(&format!(
                "${}x + {} = {}$",
                rng.below(9) + 1,
                rng.below(20),
                rng.below(50)
            )),
            5 => s.push_str(&rng.below(1000).to_string()),
            _ => s.push_str(rng.zipf(FILLER)),
        }
    }
    s.push('.');
    s
}

fn paragraph(rng: &mut Rng, topic: &[&str], sentences: usize) -> String {
    (0..sentences)
        .map(|_| {
            let n = 8 + rng.below(14);
            sentence(rng, topic, n)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn conversation(rng: &mut Rng) -> ConversationExport {
    let model = MODELS[rng.below(MODELS.len())];
    let topic = TOPICS[rng.below(TOPICS.len())];
    let start = START_MS + (rng.next() % YEAR_MS as u64) as i64;
    let mut at = start;
    let mut messages = Vec::new();
    let turns = 1 + usize::from(rng.below(3) == 0) + usize::from(rng.below(6) == 0);
    let mut first_question = String::new();
    for _ in 0..turns {
        let question = format!(
            "{} the {} of the {} in the picture. {}",
            rng.pick(VERBS),
            rng.pick(GENERAL),
            rng.zipf(topic),
            paragraph(rng, topic, 1)
        );
        if first_question.is_empty() {
            first_question = question.clone();
        }
        messages.push(message(
            Role::User,
            question,
            String::new(),
            String::new(),
            at,
        ));
        at += 2_000;
        let think_sentences = 6 + rng.below(20);
        let think = paragraph(rng, topic, think_sentences);
        let answer_sentences = 2 + rng.below(3);
        let answer = format!(
            "{} Therefore the answer is $\\boxed{{{}}}$.",
            paragraph(rng, topic, answer_sentences),
            rng.below(500)
        );
        messages.push(message(Role::Assistant, String::new(), think, answer, at));
        at += 60_000;
    }
    ConversationExport {
        format: EXPORT_FORMAT.into(),
        version: EXPORT_VERSION,
        title: onevision_store::title_from_question(&first_question),
        model_id: model.into(),
        pinned: rng.below(50) == 0,
        created_at: start,
        updated_at: at,
        messages,
        pictures: vec![],
    }
}

fn message(role: Role, text: String, think: String, answer: String, at: i64) -> ExportedMessage {
    ExportedMessage {
        role,
        kind: MessageKind::Reply,
        status: MessageStatus::Complete,
        text,
        think,
        answer,
        edited_from: None,
        final_answer: None,
        error: None,
        stats: GenerationStats::default(),
        settings: None,
        created_at: at,
        updated_at: at,
        pictures: vec![],
    }
}

fn queries() -> Vec<(&'static str, SearchQuery)> {
    let mut out = Vec::new();
    for word in ["triangle", "circle", "vector", "integral", "voltage"] {
        out.push(("subject word", SearchQuery::new(word)));
    }
    // In most messages: the worst case, every match has to be ranked.
    for word in ["equation", "answer", "the"] {
        out.push(("everywhere word", SearchQuery::new(word)));
    }
    for word in ["Snell", "annulus", "catalyst", "Riemann", "quartile"] {
        out.push(("rare word", SearchQuery::new(word)));
    }
    for q in [
        "tangent circle",
        "resistor voltage",
        "area triangle",
        "velocity friction",
    ] {
        out.push(("two words", SearchQuery::new(q)));
    }
    for q in ["hyp", "trian", "eig", "pho", "capac"] {
        out.push(("prefix (typing)", SearchQuery::new(q)));
    }
    out.push(("no match", SearchQuery::new("zeppelin")));
    for word in ["triangle", "matrix", "enzyme", "equation"] {
        out.push((
            "model filter",
            SearchQuery {
                model_id: Some(MODELS[1].into()),
                ..SearchQuery::new(word)
            },
        ));
        out.push((
            "date filter",
            SearchQuery {
                from_ms: Some(START_MS + YEAR_MS / 2),
                until_ms: Some(START_MS + YEAR_MS / 2 + 30 * 86_400_000),
                ..SearchQuery::new(word)
            },
        ));
    }
    out
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut count = 10_000usize;
    let mut db: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--conversations" => count = args.next().ok_or("--conversations needs N")?.parse()?,
            "--db" => db = Some(args.next().ok_or("--db needs a path")?.into()),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let _temp;
    let db = match db {
        Some(p) => p,
        None => {
            _temp = tempfile::tempdir()?;
            _temp.path().join("history.sqlite3")
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let store = Store::open(&db).await?;
        if store.list_conversations(1, 0).await?.is_empty() {
            let started = Instant::now();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            for _ in 0..count {
                store.import_json(conversation(&mut rng)).await?;
            }
            println!(
                "built {count} conversations in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
        store.clone().close().await;
        let size = std::fs::metadata(&db)?.len();
        let opened = Instant::now();
        let store = Store::open(&db).await?;
        println!(
            "database {:.1} MB; reopening it (checks included) took {:.1} ms",
            size as f64 / 1e6,
            ms(opened.elapsed())
        );

        let queries = queries();
        // How many messages each query matches (before filters), to show what was measured.
        let raw = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&db)
                .read_only(true),
        )
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM messages")
            .fetch_one(&raw)
            .await?;
        let mut matches: Vec<(&str, i64)> = Vec::new();
        for (kind, q) in &queries {
            let fts = onevision_store::search::to_fts_query(&q.text).unwrap_or_default();
            let n: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH ?1")
                    .bind(fts)
                    .fetch_one(&raw)
                    .await?;
            match matches.iter_mut().find(|(k, _)| k == kind) {
                Some((_, m)) => *m = (*m).max(n),
                None => matches.push((kind, n)),
            }
        }
        raw.close().await;
        println!("{total} messages");
        // Warm the page cache and statement cache once, as a running app would be.
        for (_, q) in &queries {
            store.search(q).await?;
        }
        const ROUNDS: usize = 20;
        let mut all = Vec::new();
        let mut by_kind: Vec<(&str, Vec<Duration>, usize)> = Vec::new();
        for _ in 0..ROUNDS {
            for (kind, q) in &queries {
                let t = Instant::now();
                let hits = store.search(q).await?;
                let d = t.elapsed();
                all.push(d);
                match by_kind.iter_mut().find(|(k, _, _)| k == kind) {
                    Some((_, v, n)) => {
                        v.push(d);
                        *n = hits.len();
                    }
                    None => by_kind.push((kind, vec![d], hits.len())),
                }
            }
        }
        all.sort();
        println!(
            "{} searches: median {:.2} ms, p95 {:.2} ms, max {:.2} ms",
            all.len(),
            ms(percentile(&all, 0.5)),
            ms(percentile(&all, 0.95)),
            ms(*all.last().unwrap_or(&Duration::ZERO))
        );
        for (kind, mut v, hits) in by_kind {
            v.sort();
            let most = matches
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, n)| *n);
            println!(
                "  {kind:<16} median {:>6.2} ms  p95 {:>6.2} ms  (up to {most} matching messages; last query {hits} hits)",
                ms(percentile(&v, 0.5)),
                ms(percentile(&v, 0.95))
            );
        }
        Ok(())
    })
}
