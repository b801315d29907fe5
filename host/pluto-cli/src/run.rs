//! `pluto run AGENT PROMPT`: one run, streamed to the terminal.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use pluto_runtime::{Outcome, Recorded};
use tokio_util::sync::CancellationToken;

use crate::compose::{AgentArgs, prepare};
use crate::render::{Style, show};

/// Arguments of `pluto run`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exit status: 0 when the agent answered, 1 when the run failed, 2 when it could not start, \
130 when cancelled (Ctrl-C).\n\nThe provider's key and endpoint come from the conventional variables: \
OPENROUTER_API_KEY, OPENAI_API_KEY / OPENAI_BASE_URL, ANTHROPIC_API_KEY / ANTHROPIC_BASE_URL, OLLAMA_HOST \
(and OPENROUTER_BASE_URL)."
)]
pub struct Args {
    /// The agent: a name in the agents folder, or a path to an agent folder or `.md` file.
    pub agent: String,

    /// The prompt; `-` reads it from standard input.
    pub prompt: String,

    #[command(flatten)]
    pub common: AgentArgs,

    /// Print every event as a JSON line on stdout instead of the answer.
    #[arg(long)]
    pub json: bool,

    /// Continue this stored session (its id was printed when it started); default: a new one.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

/// Runs the command.
pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the prompt from stdin")?;
        text
    } else {
        args.prompt.clone()
    };
    if prompt.trim().is_empty() {
        anyhow::bail!("the prompt is empty");
    }
    let services = args.common.state.open().await?;
    let prepared = prepare(&args.agent, &args.common, services).await?;
    for warning in &prepared.skipped {
        eprintln!("warning: {warning}");
    }
    let style = if args.json {
        Style::JsonLines
    } else {
        Style::Human
    };

    let (session, new) = prepared.open_session(args.session.as_deref()).await?;
    eprintln!(
        "{} session {session} ({})",
        if new { "new" } else { "continuing" },
        prepared.services.describe
    );
    let at = prepared.session(session)?;

    let cancel = CancellationToken::new();
    let on_interrupt = tokio::spawn(cancel_on_ctrl_c(cancel.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Recorded>();
    let printer = tokio::spawn(async move {
        while let Some(recorded) = rx.recv().await {
            show(style, &recorded.event);
        }
    });
    let spec = prepared.spec();
    let report = pluto_runtime::run_in_session(
        &spec,
        &*prepared.provider,
        &prepared.tools,
        tx,
        &at,
        prompt,
        &cancel,
    )
    .await;
    printer.await.context("printing events")?;
    on_interrupt.abort();
    let report = report.context("recording the run in its session")?;
    Ok(match report.outcome {
        Outcome::Completed { .. } => ExitCode::SUCCESS,
        Outcome::Failed { .. } => ExitCode::from(1),
        Outcome::Cancelled => ExitCode::from(130),
    })
}

/// Cancels on the first Ctrl-C; a second one ends the process at once.
pub async fn cancel_on_ctrl_c(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(130);
        }
    }
}
