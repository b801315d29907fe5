//! `pluto`: the command line, and Pluto's composition root.
//!
//! This is the top of the data path (CLI/HTTP -> runtime loop -> provider -> tool dispatch ->
//! executors -> services): it parses the command line, picks the concrete parts each command
//! needs and hands them down. No other crate reads flags or the environment for configuration.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod validate;

/// Pluto hosts AI agents declared in YAML + Markdown (the Pluto Agent Format).
#[derive(Debug, Parser)]
#[command(name = "pluto", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check agents and sandbox policies, and report every problem with its file, line and column.
    Validate(validate::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
