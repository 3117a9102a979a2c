//! `--format text`: what a reply says, written as it streams.

use std::io::{IsTerminal, Write};

use anyhow::{Context, Result};

use crate::save::Recorder;
use crate::stream::Streamed;

/// Writes thinking (dimmed on a terminal) and then the answer as they stream in; with
/// transcribe-first, each pass is a section whose answer has a heading.
pub struct TextPrinter {
    enabled: bool,
    dim: &'static str,
    reset: &'static str,
    in_think: bool,
    /// The heading of this section's answer, written before its first text.
    label: Option<&'static str>,
    answering: bool,
    wrote: bool,
}

impl TextPrinter {
    pub fn new(enabled: bool) -> Self {
        let tty = std::io::stdout().is_terminal();
        TextPrinter {
            enabled,
            dim: if tty { "\x1b[2m" } else { "" },
            reset: if tty { "\x1b[0m" } else { "" },
            in_think: false,
            label: None,
            answering: false,
            wrote: false,
        }
    }

    /// Starts a section whose answer is headed `label`.
    pub fn section(&mut self, label: &'static str) {
        self.label = Some(label);
        self.in_think = false;
        self.answering = false;
    }

    fn write(&mut self, s: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(s.as_bytes())
            .and_then(|_| out.flush())
            .context("cannot write to standard output")?;
        self.wrote = true;
        Ok(())
    }

    /// A blank line between what was written and a new heading.
    fn gap(&self) -> &'static str {
        if self.wrote {
            "\n\n"
        } else {
            ""
        }
    }

    pub fn think(&mut self, t: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let head = if self.in_think {
            String::new()
        } else {
            format!("{}thinking:\n", self.gap())
        };
        self.in_think = true;
        let s = format!("{}{head}{t}{}", self.dim, self.reset);
        self.write(&s)
    }

    pub fn answer(&mut self, t: &str) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        let head = match (self.answering, self.label, self.in_think) {
            (true, _, _) => String::new(),
            (false, Some(label), _) => format!("{}{label}:\n", self.gap()),
            (false, None, true) => format!("{}answer:\n", self.gap()),
            (false, None, false) => String::new(),
        };
        self.in_think = false;
        self.answering = true;
        self.write(&format!("{head}{t}"))
    }

    pub fn finish(&mut self) -> Result<()> {
        if self.enabled && self.wrote {
            self.write("\n")?;
        }
        Ok(())
    }
}

/// Streamed text to the terminal and, when saving, to the message being recorded.
pub fn show_and_record(
    printer: &mut TextPrinter,
    recorder: Option<&mut Recorder>,
    event: Streamed,
) -> Result<()> {
    match event {
        Streamed::Think(t) => {
            printer.think(t)?;
            recorder.map(|r| r.think(t)).transpose()?;
        }
        Streamed::Answer(t) => {
            printer.answer(t)?;
            recorder.map(|r| r.answer(t)).transpose()?;
        }
    }
    Ok(())
}
