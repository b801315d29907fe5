//! `pluto chat AGENT`: an interactive chat in the terminal, history kept for the session.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use pluto_runtime::Recorded;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::compose::{AgentArgs, prepare};
use crate::render::{Style, show};

/// Arguments of `pluto chat`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "In the chat: /reset starts a new session, /exit (or Ctrl-D) leaves, \
Ctrl-C cancels the answer being written. The conversation is stored as it goes (see --state): \
`pluto chat AGENT --session ID` or `pluto run AGENT PROMPT --session ID` continues it later."
)]
pub struct Args {
    /// The agent: a name in the agents folder, or a path to an agent folder or `.md` file.
    pub agent: String,

    #[command(flatten)]
    pub common: AgentArgs,

    /// Continue this stored session (its id was printed when it started); default: a new one.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
}

/// Reads lines on a thread of its own, so that Ctrl-C can be handled while waiting.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn prompt(interactive: bool) {
    if interactive {
        eprint!("you> ");
        let _ = std::io::stderr().flush();
    }
}

/// Runs the command.
pub async fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let services = args.common.state.open().await?;
    let prepared = prepare(&args.agent, &args.common, services).await?;
    for warning in &prepared.skipped {
        eprintln!("warning: {warning}");
    }
    let interactive = std::io::stdin().is_terminal();
    let m = &prepared.agent.manifest;
    let mode = if prepared.sandboxed {
        ", tools sandboxed"
    } else {
        ""
    };
    eprintln!(
        "{} — {} ({} {}{mode}). /reset to start over, /exit to leave.",
        m.name,
        m.description,
        m.model.provider.as_str(),
        m.model.name
    );
    let (session, new) = prepared.open_session(args.session.as_deref()).await?;
    eprintln!(
        "{} session {session} ({})",
        if new { "new" } else { "continuing" },
        prepared.services.describe
    );
    let mut at = prepared.session(session)?;
    let mut lines = stdin_lines();
    loop {
        prompt(interactive);
        let line = tokio::select! {
            line = lines.recv() => line,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("\n(nothing to cancel; /exit or Ctrl-D leaves)");
                continue;
            }
        };
        let Some(line) = line else { break };
        match line.trim() {
            "" => continue,
            "/exit" | "/quit" => break,
            "/reset" => {
                let (session, _) = prepared.open_session(None).await?;
                eprintln!("(new session {session})");
                at = prepared.session(session)?;
                continue;
            }
            _ => {}
        }
        let cancel = CancellationToken::new();
        let on_interrupt = tokio::spawn(interrupt(cancel.clone()));
        let (tx, mut rx) = mpsc::unbounded_channel::<Recorded>();
        let printer = tokio::spawn(async move {
            while let Some(recorded) = rx.recv().await {
                show(Style::Human, &recorded.event);
            }
        });
        let spec = prepared.spec();
        let report = pluto_runtime::run_in_session(
            &spec,
            &*prepared.provider,
            &prepared.tools,
            tx,
            &at,
            line,
            &cancel,
        )
        .await;
        let _ = printer.await;
        if let Err(e) = report {
            eprintln!("error: recording the run in its session: {e}");
        }
        on_interrupt.abort();
    }
    Ok(ExitCode::SUCCESS)
}

/// Cancels the current answer on Ctrl-C (the chat goes on).
async fn interrupt(cancel: CancellationToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        cancel.cancel();
    }
}
