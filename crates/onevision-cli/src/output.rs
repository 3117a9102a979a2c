//! What every subcommand shares about its output: the `--format` choice and the exit code of a
//! command stopped by Ctrl-C.

use clap::ValueEnum;

/// The exit code of a command stopped by Ctrl-C, as shells report SIGINT.
pub const INTERRUPTED: u8 = 130;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}
