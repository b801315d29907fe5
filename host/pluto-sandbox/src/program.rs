//! Long-running programs in the sandbox: a wasm32-wasip2 command (`wasi:cli/run`) whose stdin
//! and stdout are pipes to the host — how a wasm MCP server runs, its stdio wired to Pluto's MCP
//! client.
//!
//! A program gets the WASI context of its policy like a tool call (folders, variables, network
//! rules), the same memory limit and host-call limits, and holds one instance slot while it
//! runs. Its stderr goes to the log, never into the stream. It runs until its stdin closes and
//! it returns, or until the [`Process`] is dropped, which stops it at once (the store yields to
//! the runtime every epoch tick, so even a guest in an endless loop is stopped). How long one
//! request may take is the client's timeout: a request that runs over ends the process.

use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pluto_paf::Policy;
use tokio::io::{AsyncRead, DuplexStream, ReadBuf};
use wasmtime_wasi::cli::{AsyncStdinStream, AsyncStdoutStream};
use wasmtime_wasi::p2::bindings::CommandPre;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;

use crate::engine::{Sandbox, SandboxError};
use crate::host::Host;
use crate::wasi::EnvLookup;

/// Bytes buffered in each direction between the host and the program.
const PIPE: usize = 256 * 1024;
/// The most of a program's stderr kept for the log when it ends.
const STDERR_KEPT: usize = 64 * 1024;

/// A compiled, linked program, ready to start.
pub struct Program {
    name: String,
    pre: CommandPre<Host>,
    imports: Vec<String>,
}

impl Program {
    /// The program's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interfaces it imports, to compare with what a policy grants.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// A running program: write its stdin, read its stdout. Dropping it stops the program.
pub struct Process {
    /// The program's stdin.
    pub stdin: DuplexStream,
    /// The program's stdout.
    pub stdout: ProcessOutput,
}

/// The program's stdout; it owns the program, which stops when this is dropped.
pub struct ProcessOutput {
    pipe: DuplexStream,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ProcessOutput {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl AsyncRead for ProcessOutput {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.pipe).poll_read(cx, buf)
    }
}

impl Sandbox {
    /// Compiles (or loads from the cache) and links program `wasm`, a component that exports
    /// `wasi:cli/run` (a `fn main` built for wasm32-wasip2).
    pub fn load_program(&self, name: &str, wasm: &[u8]) -> Result<Arc<Program>, SandboxError> {
        let err = |message: String| SandboxError::Component {
            name: name.to_owned(),
            message,
        };
        let compiled = wasmtime::component::Component::new(self.engine(), wasm)
            .map_err(|e| err(format!("{e:#}")))?;
        let instance_pre = self
            .linker()
            .instantiate_pre(&compiled)
            .map_err(|e| err(format!("{e:#}")))?;
        let pre = CommandPre::new(instance_pre).map_err(|e| {
            err(format!(
                "it is not a wasm32-wasip2 program (it must export `wasi:cli/run`, as a `fn main` does): {e:#}"
            ))
        })?;
        Ok(Arc::new(Program {
            name: name.to_owned(),
            pre,
            imports: self.import_names(&compiled),
        }))
    }

    /// Starts `program` under `policy`, with `workspace` for `{workspace}` and variables read
    /// through `env`. Waits for an instance slot; refused when programs already hold their share
    /// (half the slots), so that tool calls always find one.
    pub async fn start(
        &self,
        program: &Arc<Program>,
        policy: &Policy,
        workspace: &Path,
        env: &EnvLookup<'_>,
    ) -> Result<Process, String> {
        let running = self.programs().clone().try_acquire_owned().map_err(|_| {
            "the sandbox already runs as many wasm MCP servers as it may (half its instance slots, \
             PLUTO_SANDBOX_INSTANCES); idle ones stop after 5 minutes"
                .to_owned()
        })?;
        let slot = self
            .slots()
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| "the sandbox is shutting down".to_owned())?;
        let (stdin, guest_stdin) = tokio::io::duplex(PIPE);
        let (guest_stdout, stdout) = tokio::io::duplex(PIPE);
        let stderr = MemoryOutputPipe::new(STDERR_KEPT);
        let mut wasi = crate::wasi::context(policy, workspace, env)?;
        wasi.stdin(AsyncStdinStream::new(guest_stdin))
            .stdout(AsyncStdoutStream::new(PIPE, guest_stdout))
            .stderr(stderr.clone());
        let mut store = self.store_with(policy, workspace, wasi.build());
        // A server waits for requests as long as it is used: no wall-clock deadline, but a
        // yield every tick, so that the runtime stays responsive and dropping stops it.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        let program = program.clone();
        let task = tokio::spawn(async move {
            let _held = (slot, running);
            let outcome = async {
                let command = program.pre.instantiate_async(&mut store).await?;
                command.wasi_cli_run().call_run(&mut store).await
            }
            .await;
            let printed = String::from_utf8_lossy(&stderr.contents()).into_owned();
            let exceeded = store.data().memory.exceeded;
            match outcome {
                Ok(Ok(())) => tracing::debug!(program = program.name(), "sandboxed program exited"),
                Ok(Err(())) => {
                    tracing::warn!(program = program.name(), stderr = %printed.trim_end(), "sandboxed program exited with an error")
                }
                Err(e) => {
                    let why = if exceeded {
                        "its memory limit was exceeded".to_owned()
                    } else {
                        format!("{:#}", e.root_cause())
                    };
                    tracing::warn!(program = program.name(), error = %why, stderr = %printed.trim_end(), "sandboxed program failed")
                }
            }
        });
        Ok(Process {
            stdin,
            stdout: ProcessOutput { pipe: stdout, task },
        })
    }
}
