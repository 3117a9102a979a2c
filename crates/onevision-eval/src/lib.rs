//! Benchmarks by education stage (DESIGN.md §9): items read from VLMEvalKit's TSV layout or JSONL,
//! asked through the engine's seam (a model here or a server), scored by rules as a careful grader
//! reads (a judge model for what the rules cannot), tallied by stage and subject.

pub mod asking;
pub mod chart;
pub mod compare;
pub mod error;
pub mod extract;
pub mod item;
pub mod judge;
pub mod number;
pub mod prompt;
pub mod read;
pub mod record;
pub mod run;
pub mod score;
pub mod summary;

pub use error::{EvalError, Result};
pub use item::{Item, PictureSource};
pub use read::{Dataset, RowError};
