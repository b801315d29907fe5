//! The `shell` tool component: a command line run by bashkit's interpreter, whose commands
//! (`cat`, `grep`, `sed`, `sort`, `wc`, `ls`, `find`, …) are functions inside this component.
//! No process is spawned — WASI has none — and files are reached only through the folder the
//! host preopens at `/workspace`, where the command starts.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use bashkit::{Bash, DirEntry, ExecutionLimits, FileType, FsBackend, InMemoryFs, Metadata, MountableFs, PosixFs, async_trait};
use pluto_files::output::cap;
use serde_json::json;

wit_bindgen::generate!({ path: "../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{ContentPart, Guest, ToolDefinition, ToolResult};

mod seq;

/// Where the host preopens the workspace, and where the command starts.
const ROOT: &str = "/workspace";
/// The most output bytes the model is shown (as the native tool).
const MODEL_LIMIT: usize = 64 * 1024;
/// The most bytes of stdout and of stderr kept in a result's details (for people; the model
/// sees [`MODEL_LIMIT`]). What passes between commands is not bounded by this.
const DETAILS_LIMIT: usize = 1 << 20;
/// The longest a command may run when it asks for no `timeout_ms` (as the native tool); the
/// policy's time limit, enforced by the host, ends it sooner when it is shorter.
const DEFAULT_TIMEOUT_MS: u64 = 120_000;
/// The longest `timeout_ms` honoured.
const MAX_TIMEOUT_MS: u64 = 600_000;
/// What bashkit prints when one of its built-in commands stops at a cap of its own.
const CAP_MARK: &str = " exceeded; output truncated";

/// The interpreter's limits: none of its own counts (commands, loop iterations, work, input
/// and intermediate bytes) below what the policy's time and memory limits allow, so that a
/// correct script is never cut short by the interpreter. What stays bounded here is only what
/// would crash the component before a policy limit could act (parser nesting, function and
/// substitution depth), and hitting those fails the command with an error.
fn limits(timeout: std::time::Duration) -> ExecutionLimits {
    let mut l = ExecutionLimits::default();
    l.max_work_units = u64::MAX;
    l.max_aggregate_input_bytes = u64::MAX;
    l.max_live_intermediate_bytes = u64::MAX;
    l.max_commands = usize::MAX;
    l.max_loop_iterations = usize::MAX;
    l.max_total_loop_iterations = usize::MAX;
    l.timeout = timeout;
    l.parser_timeout = timeout;
    l.max_input_bytes = 64 << 20;
    l.max_parser_operations = usize::MAX;
    l.max_stdout_bytes = usize::MAX;
    l.max_stderr_bytes = usize::MAX;
    l.max_word_split_fields = usize::MAX;
    l.max_word_split_bytes = usize::MAX;
    l.max_history_entries = 0;
    l
}

/// The workspace through WASI's preopen, as bashkit's storage.
struct Preopen;

fn real(path: &Path) -> PathBuf {
    Path::new(ROOT).join(path.strip_prefix("/").unwrap_or(path))
}

fn meta(m: &std::fs::Metadata) -> Metadata {
    let file_type = if m.is_dir() {
        FileType::Directory
    } else if m.is_symlink() {
        FileType::Symlink
    } else {
        FileType::File
    };
    Metadata {
        file_type,
        size: m.len(),
        mode: if m.is_dir() { 0o755 } else { 0o644 },
        modified: m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        created: m.created().unwrap_or(SystemTime::UNIX_EPOCH),
    }
}

#[async_trait]
impl FsBackend for Preopen {
    async fn read(&self, path: &Path) -> bashkit::Result<Vec<u8>> {
        Ok(std::fs::read(real(path))?)
    }
    async fn write(&self, path: &Path, content: &[u8]) -> bashkit::Result<()> {
        Ok(std::fs::write(real(path), content)?)
    }
    async fn append(&self, path: &Path, content: &[u8]) -> bashkit::Result<()> {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(real(path))?;
        Ok(f.write_all(content)?)
    }
    async fn mkdir(&self, path: &Path, recursive: bool) -> bashkit::Result<()> {
        Ok(if recursive { std::fs::create_dir_all(real(path))? } else { std::fs::create_dir(real(path))? })
    }
    async fn remove(&self, path: &Path, recursive: bool) -> bashkit::Result<()> {
        let p = real(path);
        let m = std::fs::symlink_metadata(&p)?;
        Ok(match (m.is_dir(), recursive) {
            (true, true) => std::fs::remove_dir_all(&p)?,
            (true, false) => std::fs::remove_dir(&p)?,
            _ => std::fs::remove_file(&p)?,
        })
    }
    async fn stat(&self, path: &Path) -> bashkit::Result<Metadata> {
        Ok(meta(&std::fs::metadata(real(path))?))
    }
    async fn read_dir(&self, path: &Path) -> bashkit::Result<Vec<DirEntry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(real(path))? {
            let entry = entry?;
            let Ok(m) = entry.metadata() else { continue };
            out.push(DirEntry { name: entry.file_name().to_string_lossy().into_owned(), metadata: meta(&m) });
        }
        Ok(out)
    }
    async fn exists(&self, path: &Path) -> bashkit::Result<bool> {
        Ok(std::fs::exists(real(path))?)
    }
    async fn rename(&self, from: &Path, to: &Path) -> bashkit::Result<()> {
        Ok(std::fs::rename(real(from), real(to))?)
    }
    async fn copy(&self, from: &Path, to: &Path) -> bashkit::Result<()> {
        std::fs::copy(real(from), real(to))?;
        Ok(())
    }
    async fn symlink(&self, _target: &Path, _link: &Path) -> bashkit::Result<()> {
        Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "symbolic links cannot be made in the sandbox").into())
    }
    async fn read_link(&self, path: &Path) -> bashkit::Result<PathBuf> {
        Ok(std::fs::read_link(real(path))?)
    }
    async fn set_modified_time(&self, path: &Path, time: SystemTime) -> bashkit::Result<()> {
        let file = std::fs::OpenOptions::new().write(true).open(real(path))?;
        Ok(file.set_modified(time)?)
    }
    async fn chmod(&self, _path: &Path, _mode: u32) -> bashkit::Result<()> {
        // WASI has no permission bits; the policy decides what may be written.
        Ok(())
    }
}

fn run(command: &str, timeout: std::time::Duration) -> Result<bashkit::ExecResult, String> {
    let root: Arc<dyn bashkit::FileSystem> = Arc::new(InMemoryFs::new());
    let fs = MountableFs::new(root);
    fs.mount(ROOT, Arc::new(PosixFs::new(Preopen))).map_err(|e| format!("cannot mount the workspace: {e}"))?;
    let mut bash = Bash::builder()
        .fs(Arc::new(fs))
        .cwd(ROOT)
        .limits(limits(timeout))
        .builtin("seq", Box::new(seq::Seq))
        .build();
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(|e| e.to_string())?;
    rt.block_on(bash.exec(command)).map_err(|e| e.to_string())
}

struct Component;

impl Guest for Component {
    fn describe() -> Vec<ToolDefinition> {
        vec![ToolDefinition {
            name: "shell".into(),
            description: "Run a command line with bash in the workspace folder. Returns the combined stdout and stderr and the exit code.".into(),
            input_schema: json!({"type": "object", "properties": {
                "command": {"type": "string", "minLength": 1, "description": "The command line, run as `bash -c COMMAND`"},
                "timeout_ms": {"type": "integer", "minimum": 1, "description": "Kill the command after this many milliseconds (default 120000, at most 600000)"}},
                "required": ["command"], "additionalProperties": false})
            .to_string(),
        }]
    }

    fn call(name: String, arguments: String) -> ToolResult {
        let text = |content: String, details: serde_json::Value, is_error: bool| ToolResult {
            content: vec![ContentPart::Text(content)],
            details: details.to_string(),
            is_error,
        };
        if name != "shell" {
            return text(format!("unknown tool `{name}`"), serde_json::Value::Null, true);
        }
        let args: serde_json::Value = serde_json::from_str(&arguments).unwrap_or_default();
        let command = args["command"].as_str().unwrap_or_default().to_owned();
        let timeout_ms = args["timeout_ms"].as_u64().unwrap_or(DEFAULT_TIMEOUT_MS).clamp(1, MAX_TIMEOUT_MS);
        let started = Instant::now();
        let result = match run(&command, std::time::Duration::from_millis(timeout_ms)) {
            Ok(r) => r,
            Err(e) => return text(format!("the shell failed: {e}"), serde_json::Value::Null, true),
        };
        let (stdout, mut stderr) = (result.stdout.to_string(), result.stderr.to_string());
        let mut exit_code = result.exit_code;
        // A cap that remains must never pass for a complete answer: the command fails.
        if stderr.contains(CAP_MARK) || result.stdout_truncated || result.stderr_truncated {
            stderr.push_str("[the sandboxed shell reached a limit of its own: the output is incomplete]\n");
            if exit_code == 0 {
                exit_code = 1;
            }
        }
        let combined = format!("{stdout}{stderr}");
        let (shown, truncated) = cap(combined.trim_end(), MODEL_LIMIT);
        let status = format!("[exit code: {exit_code}]");
        let content = if shown.is_empty() { status } else { format!("{shown}\n{status}") };
        let details = json!({
            "command": command,
            "exit_code": exit_code,
            "stdout": cap(&stdout, DETAILS_LIMIT).0,
            "stderr": cap(&stderr, DETAILS_LIMIT).0,
            "duration_ms": started.elapsed().as_millis() as u64,
            "timed_out": false,
            "output_bytes": combined.len(),
            "truncated": truncated,
        });
        text(content, details, false)
    }
}

export!(Component);
