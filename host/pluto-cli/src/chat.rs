//! `pluto chat AGENT`: an interactive chat in the terminal, history kept for the session.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use pluto_core::{Event, Message};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::compose::{AgentArgs, prepare};
use crate::render::{Style, show};

/// Arguments of `pluto chat`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "In the chat: /reset forgets the conversation, /exit (or Ctrl-D) leaves, \
Ctrl-C cancels the answer being written."
)]
pub struct Args {
    /// The agent: a name in the agents folder, or a path to an agent folder or `.md` file.
    pub agent: String,

    #[command(flatten)]
    pub common: AgentArgs,
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
    let prepared = prepare(&args.agent, &args.common).await?;
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
    let mut lines = stdin_lines();
    let mut history: Vec<Message> = Vec::new();
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
                history.clear();
                eprintln!("(conversation cleared)");
                continue;
            }
            _ => {}
        }
        let cancel = CancellationToken::new();
        let on_interrupt = tokio::spawn(interrupt(cancel.clone()));
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let printer = tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                show(Style::Human, &event);
            }
        });
        let spec = prepared.spec();
        pluto_runtime::run(
            &spec,
            &*prepared.provider,
            &prepared.tools,
            &tx,
            &mut history,
            line,
            &cancel,
        )
        .await;
        drop(tx);
        let _ = printer.await;
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
