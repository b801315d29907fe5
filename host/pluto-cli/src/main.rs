//! `pluto`: the command line, and Pluto's composition root.
//!
//! This is the top of the data path (CLI/HTTP -> runtime loop -> provider -> tool dispatch ->
//! executors -> services): it parses the command line, picks the concrete parts each command
//! needs and hands them down. No other crate reads flags or the environment for configuration.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bundle;
mod chat;
mod compose;
mod mcp;
mod render;
mod run;
mod serve;
mod settings;
mod state;
mod tool;
mod transfer;
mod validate;

/// Pluto hosts AI agents declared in YAML + Markdown (the Pluto Agent Format).
#[derive(Debug, Parser)]
#[command(name = "pluto", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// How logs (on stderr) look: `human`, or `json` for production.
    #[arg(long, global = true, value_name = "FORMAT", default_value = "human", env = "PLUTO_LOG_FORMAT", value_parser = ["human", "json"])]
    log_format: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the agents over HTTP (sessions shared through the state store).
    Serve(serve::Args),
    /// Run an agent once on a prompt, streaming its answer and tool calls.
    Run(run::Args),
    /// Chat with an agent in the terminal.
    Chat(chat::Args),
    /// Check agents and sandbox policies, and report every problem with its file, line and column.
    Validate(validate::Args),
    /// Write an agent as a `.tar.gz` bundle with a manifest of file digests.
    Export(transfer::ExportArgs),
    /// Check a bundle and install its agent locally or through a server's admin API.
    Import(transfer::ImportArgs),
    /// Inspect the agent's MCP servers (`pluto mcp list AGENT`).
    #[command(subcommand)]
    Mcp(mcp::Command),
    /// Inspect a tool component, or run one call of it in the sandbox.
    #[command(subcommand)]
    Tool(tool::Command),
    /// Create or update the state store's schema (PostgreSQL); Pluto also does this at start.
    Migrate(state::MigrateArgs),
}

fn main() -> ExitCode {
    let argv = match settings::apply(std::env::args_os().collect()) {
        Ok(argv) => argv,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cli = Cli::parse_from(argv);
    // Logs go to stderr; PLUTO_LOG (or RUST_LOG) sets the level, default warnings.
    let filter = tracing_subscriber::EnvFilter::try_from_env("PLUTO_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            // The server logs each request; the other commands only what goes wrong.
            let default = if matches!(cli.command, Command::Serve(_)) {
                "warn,pluto=info"
            } else {
                "warn"
            };
            tracing_subscriber::EnvFilter::new(default)
        });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json()
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        logs.init();
    }

    let result = match cli.command {
        Command::Validate(args) => validate::run(&args),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(serve::run(args))),
        Command::Run(args) => runtime().and_then(|rt| rt.block_on(run::run(&args))),
        Command::Chat(args) => runtime().and_then(|rt| rt.block_on(chat::run(&args))),
        Command::Export(args) => transfer::export(&args),
        Command::Import(args) => runtime().and_then(|rt| rt.block_on(transfer::import(&args))),
        Command::Mcp(command) => runtime().and_then(|rt| rt.block_on(mcp::run(&command))),
        Command::Tool(command) => runtime().and_then(|rt| rt.block_on(tool::run(&command))),
        Command::Migrate(args) => runtime().and_then(|rt| rt.block_on(state::migrate(&args))),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
