//! An example MCP server compiled to wasm32-wasip2: notes kept as Markdown files under
//! `/workspace/notes`, served over stdio with `rmcp` (the same MCP SDK Pluto's host uses).
//!
//! Pluto runs it under wasmtime with `tools: - mcp: notes` and `wasm: example:notes-mcp`: its
//! stdin and stdout are the MCP stream, its files are what the sandbox policy preopens, and it
//! has no network unless the policy allows some. It runs unchanged under any WASI host
//! (`wasmtime run --dir .::/workspace pluto_guest_notes_mcp.wasm`).
//!
//! tokio's own stdio needs a thread pool, which wasm32-wasip2 lacks, and tokio cannot wait on a
//! WASI pollable. So stdout is written directly ([`Blocking`]), and stdin is read by a pump task
//! that first yields until every other task of the single-threaded runtime has run (rmcp
//! answers each request in a task of its own), then blocks in WASI until the next bytes come.
//! That suits tools that do their work without waiting on timers or sockets, as these do.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};

/// Where the notes live: the sandbox's workspace preopen.
const NOTES: &str = "/workspace/notes";

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct AddNote {
    /// The note's title: letters, digits, `-` and `_` (it names the file).
    title: String,
    /// The note, in Markdown.
    text: String,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct ReadNote {
    /// The note's title.
    title: String,
}

#[derive(Debug, Clone)]
struct Notes {
    tool_router: ToolRouter<Self>,
}

fn note_path(title: &str) -> Result<PathBuf, String> {
    let ok = !title.is_empty()
        && title.len() <= 64
        && title
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "invalid title `{title}`: use 1 to 64 letters, digits, `-` or `_`"
        ));
    }
    Ok(PathBuf::from(NOTES).join(format!("{title}.md")))
}

#[tool_router]
impl Notes {
    fn new() -> Self {
        Notes {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Save a note (replacing one with the same title).")]
    fn add_note(
        &self,
        Parameters(AddNote { title, text }): Parameters<AddNote>,
    ) -> Result<String, String> {
        let path = note_path(&title)?;
        std::fs::create_dir_all(NOTES).map_err(|e| format!("cannot create {NOTES}: {e}"))?;
        std::fs::write(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(format!("saved note `{title}` ({} bytes)", text.len()))
    }

    #[tool(description = "Read a note by its title.")]
    fn read_note(
        &self,
        Parameters(ReadNote { title }): Parameters<ReadNote>,
    ) -> Result<String, String> {
        let path = note_path(&title)?;
        std::fs::read_to_string(&path).map_err(|e| format!("no note `{title}`: {e}"))
    }

    #[tool(description = "List the titles of all notes.")]
    fn list_notes(&self) -> Result<String, String> {
        let entries = match std::fs::read_dir(NOTES) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok("no notes yet".to_owned());
            }
            Err(e) => return Err(format!("cannot list {NOTES}: {e}")),
        };
        let mut titles: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_suffix(".md")
                    .map(str::to_owned)
            })
            .collect();
        titles.sort();
        Ok(if titles.is_empty() {
            "no notes yet".to_owned()
        } else {
            titles.join("\n")
        })
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Notes {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("notes", env!("CARGO_PKG_VERSION")))
            .with_instructions("Notes kept as Markdown files in the workspace.")
    }
}

/// Stdout as a tokio stream, written with blocking WASI calls.
struct Blocking<T>(T);

impl<T: Write + Unpin> AsyncWrite for Blocking<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Poll::Ready(self.0.write(data))
    }
    fn poll_flush(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.0.flush())
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// How often the stdin pump yields before it blocks: more than the hops a request takes from
/// the transport through its handler task back to stdout.
const YIELDS: usize = 32;

/// Copies stdin into `to_server`, blocking only when the other tasks have nothing left to do.
async fn pump_stdin(mut to_server: DuplexStream) {
    let mut stdin = std::io::stdin();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        for _ in 0..YIELDS {
            tokio::task::yield_now().await;
        }
        match stdin.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to_server.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let (to_server, from_stdin) = tokio::io::duplex(64 * 1024);
    tokio::spawn(pump_stdin(to_server));
    let transport = (from_stdin, Blocking(std::io::stdout()));
    match Notes::new().serve(transport).await {
        Ok(running) => {
            let _ = running.waiting().await;
        }
        Err(e) => eprintln!("notes: the MCP session did not start: {e}"),
    }
}
