//! The `shell` tool: `bash -c COMMAND` in the workspace, on the host (the permissive default).
//!
//! The command runs in its own process group, so that a timeout or a cancelled run kills it and
//! everything it started. The model sees the combined output (head and tail past 64 KiB) and
//! the exit code; clients get stdout, stderr, the exit code and the duration in `details`.

use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Mutex;

use crate::toolbox::Tool;
use pluto_files::output::cap;

/// The most output bytes the model is shown.
pub const MODEL_LIMIT: usize = 64 * 1024;
/// The most bytes of each stream kept for `details`.
pub const KEEP_LIMIT: usize = 1024 * 1024;
/// The timeout when the model gives none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// The longest timeout the model may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(600);

/// The `shell` tool.
pub struct Shell;

/// Kills the process group when dropped, unless disarmed: a dropped call (a cancelled run)
/// leaves nothing running.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pgid) = self.0.take() {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Output gathered from both streams: each on its own, and interleaved as it arrived.
#[derive(Default)]
struct Gathered {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    combined: Vec<u8>,
    total: usize,
}

async fn gather(mut pipe: impl AsyncRead + Unpin, into: &Mutex<Gathered>, is_stdout: bool) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut g = into.lock().await;
        g.total += n;
        let own = if is_stdout {
            &mut g.stdout
        } else {
            &mut g.stderr
        };
        if own.len() < KEEP_LIMIT {
            own.extend_from_slice(&buf[..n.min(KEEP_LIMIT - own.len())]);
        }
        // Keep the start and the most recent output of the combined stream.
        g.combined.extend_from_slice(&buf[..n]);
        if g.combined.len() > 2 * KEEP_LIMIT {
            let drop_from = KEEP_LIMIT / 2;
            let excess = g.combined.len() - 2 * KEEP_LIMIT + KEEP_LIMIT / 2;
            g.combined.drain(drop_from..drop_from + excess);
        }
    }
}

#[async_trait]
impl Tool for Shell {
    fn definition(&self) -> ToolDef {
        ToolDef {
            name: "shell".into(),
            description: "Run a command line with bash in the workspace folder. Returns the combined stdout and stderr and the exit code.".into(),
            input_schema: json!({"type": "object", "properties": {
                "command": {"type": "string", "minLength": 1, "description": "The command line, run as `bash -c COMMAND`"},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "Kill the command after this many milliseconds (default 120000, at most 600000)"}},
                "required": ["command"], "additionalProperties": false}),
        }
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let command = args["command"].as_str().unwrap_or_default().to_owned();
        let asked = args["timeout_ms"]
            .as_u64()
            .map_or(DEFAULT_TIMEOUT, Duration::from_millis)
            .min(MAX_TIMEOUT);
        let timeout = asked.min(ctx.deadline.saturating_duration_since(Instant::now()));
        let started = Instant::now();
        let mut child = match tokio::process::Command::new("bash")
            .arg("-c")
            .arg(&command)
            .current_dir(&ctx.workspace)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(e) => return ToolResult::error(format!("cannot start bash: {e}")),
        };
        let mut guard = GroupGuard(
            child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw),
        );
        let gathered = Mutex::new(Gathered::default());
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let outputs = async {
            tokio::join!(
                async {
                    if let Some(p) = stdout {
                        gather(p, &gathered, true).await;
                    }
                },
                async {
                    if let Some(p) = stderr {
                        gather(p, &gathered, false).await;
                    }
                },
            )
        };
        // Wait for the exit and for both pipes to close (a background job may keep them open,
        // so the wait is bounded by the timeout too).
        let finished =
            tokio::time::timeout(timeout, async { tokio::join!(child.wait(), outputs).0 }).await;
        let (exit_code, timed_out) = match finished {
            Ok(Ok(status)) => (status.code(), false),
            Ok(Err(e)) => return ToolResult::error(format!("waiting for the command failed: {e}")),
            Err(_) => (None, true),
        };
        // Whatever the command left behind in its group goes now.
        guard.kill();
        let g = gathered.into_inner();
        let combined = String::from_utf8_lossy(&g.combined);
        let (shown, truncated) = cap(combined.trim_end(), MODEL_LIMIT);
        let status = match (timed_out, exit_code) {
            (true, _) => format!("[killed: still running after {} ms]", timeout.as_millis()),
            (false, Some(code)) => format!("[exit code: {code}]"),
            (false, None) => "[killed by a signal]".to_owned(),
        };
        let content = if shown.is_empty() {
            status
        } else {
            format!("{shown}\n{status}")
        };
        let details = json!({
            "command": command,
            "exit_code": exit_code,
            "stdout": String::from_utf8_lossy(&g.stdout),
            "stderr": String::from_utf8_lossy(&g.stderr),
            "duration_ms": started.elapsed().as_millis() as u64,
            "timed_out": timed_out,
            "output_bytes": g.total,
            "truncated": truncated,
            "mode": "native",
        });
        ToolResult {
            content,
            details,
            is_error: timed_out,
        }
    }
}
