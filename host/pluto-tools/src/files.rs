//! The `files` tool set: read, write and edit files, list folders, find files by glob, search
//! contents by regex — all inside the workspace.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use pluto_core::{ToolContext, ToolDef, ToolResult};
use serde_json::{Value, json};

use crate::output::{cap, head};
use crate::toolbox::Tool;
use crate::workspace::{Workspace, io_message};

/// The most bytes of a file the model is shown at once.
pub const READ_LIMIT: usize = 64 * 1024;
/// The most lines `read_file` returns when no `limit` is given.
pub const DEFAULT_LINES: usize = 2000;
/// The largest file `read_file`, `edit_file` and `grep` open.
pub const MAX_FILE: u64 = 16 * 1024 * 1024;
/// The most paths `glob` and matches `grep` report.
pub const MAX_RESULTS: usize = 500;

/// All six tools of the set.
pub fn all() -> Vec<Arc<dyn Tool>> {
    vec![
        Arc::new(ReadFile),
        Arc::new(WriteFile),
        Arc::new(EditFile),
        Arc::new(ListDir),
        Arc::new(Glob),
        Arc::new(Grep),
    ]
}

fn def(name: &str, description: &str, schema: Value) -> ToolDef {
    ToolDef {
        name: name.into(),
        description: description.into(),
        input_schema: schema,
    }
}

/// Runs blocking file work off the async threads, in an opened workspace; an `Err` is the
/// tool error the model sees.
async fn with_workspace(
    ctx: &ToolContext,
    work: impl FnOnce(&Workspace) -> Result<ToolResult, String> + Send + 'static,
) -> ToolResult {
    let root = ctx.workspace.clone();
    tokio::task::spawn_blocking(move || Workspace::open(&root).and_then(|ws| work(&ws)))
        .await
        .unwrap_or_else(|e| Err(format!("the tool crashed: {e}")))
        .unwrap_or_else(ToolResult::error)
}

fn str_arg(args: &Value, key: &str) -> String {
    args[key].as_str().unwrap_or_default().to_owned()
}

fn read_text(ws: &Workspace, rel: &Path) -> Result<String, String> {
    let meta = ws.dir.metadata(rel).map_err(|e| io_message(rel, &e))?;
    if meta.is_dir() {
        return Err(format!("`{}` is a folder; use list_dir", rel.display()));
    }
    if meta.len() > MAX_FILE {
        return Err(format!(
            "`{}` is {} bytes; files over {MAX_FILE} bytes are not opened",
            rel.display(),
            meta.len()
        ));
    }
    let bytes = ws.dir.read(rel).map_err(|e| io_message(rel, &e))?;
    if bytes.contains(&0) {
        return Err(format!("`{}` is a binary file", rel.display()));
    }
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", rel.display()))
}

/// `read_file {path, offset?, limit?}`.
pub struct ReadFile;

#[async_trait]
impl Tool for ReadFile {
    fn definition(&self) -> ToolDef {
        def(
            "read_file",
            "Read a text file in the workspace. Returns its lines; use offset (first line, from 1) and limit (number of lines) for large files.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "File path, relative to the workspace"},
                "offset": {"type": "integer", "minimum": 1, "description": "First line to read (from 1)"},
                "limit": {"type": "integer", "minimum": 1, "description": "Most lines to read"}},
                "required": ["path"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let path = str_arg(&args, "path");
            let rel = ws.relative(&path)?;
            let text = read_text(ws, &rel)?;
            let total = text.lines().count();
            let offset = args["offset"].as_u64().unwrap_or(1) as usize;
            let limit = args["limit"].as_u64().map_or(DEFAULT_LINES, |l| l as usize);
            let selected: Vec<&str> = text.lines().skip(offset - 1).take(limit).collect();
            let mut content = selected.join("\n");
            let more_lines = offset - 1 + selected.len() < total;
            let (shown, cut) = head(&content, READ_LIMIT);
            content = shown;
            if more_lines && !cut {
                content.push_str(&format!(
                    "\n[lines {offset}-{} of {total}; read on with offset {}]",
                    offset - 1 + selected.len(),
                    offset + selected.len()
                ));
            }
            Ok(ToolResult::ok(
                content,
                json!({"path": rel, "bytes": text.len(), "lines_total": total, "offset": offset,
                       "lines_returned": selected.len(), "truncated": cut || more_lines}),
            ))
        })
        .await
    }
}

/// `write_file {path, content}`: creates folders as needed; the write is atomic.
pub struct WriteFile;

#[async_trait]
impl Tool for WriteFile {
    fn definition(&self) -> ToolDef {
        def(
            "write_file",
            "Create or overwrite a file in the workspace with the given content. Parent folders are created.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "File path, relative to the workspace"},
                "content": {"type": "string", "description": "The complete new content"}},
                "required": ["path", "content"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let path = str_arg(&args, "path");
            let content = str_arg(&args, "content");
            let rel = match ws.relative(&path) {
                Ok(r) if r != Path::new(".") => r,
                Ok(_) => return Err("`path` must name a file".to_owned()),
                Err(e) => return Err(e),
            };
            let created = ws.dir.metadata(&rel).is_err();
            write_atomic(ws, &rel, content.as_bytes())?;
            Ok(ToolResult::ok(
                format!(
                    "{} {} ({} bytes)",
                    if created { "Created" } else { "Wrote" },
                    rel.display(),
                    content.len()
                ),
                json!({"path": rel, "bytes": content.len(), "created": created}),
            ))
        })
        .await
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_atomic(ws: &Workspace, rel: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
        ws.dir
            .create_dir_all(parent)
            .map_err(|e| io_message(parent, &e))?;
    }
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let tmp = rel.with_file_name(format!(".{name}.pluto-{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = ws.dir.create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        ws.dir.rename(&tmp, &ws.dir, rel)
    })();
    result.map_err(|e| {
        let _ = ws.dir.remove_file(&tmp);
        io_message(rel, &e)
    })
}

/// `edit_file {path, old_string, new_string}`: replaces one exact, unique occurrence.
pub struct EditFile;

#[async_trait]
impl Tool for EditFile {
    fn definition(&self) -> ToolDef {
        def(
            "edit_file",
            "Replace an exact text in a file. old_string must occur exactly once; include surrounding lines to make it unique.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "File path, relative to the workspace"},
                "old_string": {"type": "string", "minLength": 1, "description": "The exact text to replace"},
                "new_string": {"type": "string", "description": "The replacement"}},
                "required": ["path", "old_string", "new_string"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let path = str_arg(&args, "path");
            let (old, new) = (str_arg(&args, "old_string"), str_arg(&args, "new_string"));
            let rel = ws.relative(&path)?;
            let text = read_text(ws, &rel)?;
            match text.matches(&old).count() {
                0 => {
                    return Err(format!("old_string was not found in {}", rel.display()));
                }
                1 => {}
                n => {
                    return Err(format!(
                        "old_string occurs {n} times in {}; include more context to make it unique",
                        rel.display()
                    ));
                }
            }
            let edited = text.replacen(&old, &new, 1);
            write_atomic(ws, &rel, edited.as_bytes())?;
            let name = rel.display().to_string();
            let diff = similar::TextDiff::from_lines(&text, &edited)
                .unified_diff()
                .context_radius(3)
                .header(&format!("a/{name}"), &format!("b/{name}"))
                .to_string();
            Ok(ToolResult::ok(
                format!(
                    "Edited {name}: replaced {} line(s) with {}",
                    old.lines().count().max(1),
                    new.lines().count()
                ),
                json!({"path": rel, "diff": diff}),
            ))
        })
        .await
    }
}

/// `list_dir {path}`.
pub struct ListDir;

#[async_trait]
impl Tool for ListDir {
    fn definition(&self) -> ToolDef {
        def(
            "list_dir",
            "List a folder of the workspace: one entry per line, folders end with /.",
            json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Folder path, relative to the workspace (. for the workspace)"}},
                "required": ["path"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let path = str_arg(&args, "path");
            let rel = ws.relative(&path)?;
            let dir = if rel == Path::new(".") {
                ws.dir.try_clone()
            } else {
                ws.dir.open_dir(&rel)
            };
            let entries = match dir.and_then(|d| d.entries()) {
                Ok(entries) => entries,
                Err(e) => return Err(io_message(&rel, &e)),
            };
            let mut listed: Vec<(String, &'static str, u64)> = entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    let meta = e.metadata().ok()?;
                    let kind = if meta.is_dir() {
                        "dir"
                    } else if meta.is_symlink() {
                        "symlink"
                    } else {
                        "file"
                    };
                    Some((
                        e.file_name().to_string_lossy().to_string(),
                        kind,
                        meta.len(),
                    ))
                })
                .collect();
            listed.sort();
            let lines: Vec<String> = listed
                .iter()
                .map(|(n, kind, _)| {
                    if *kind == "dir" {
                        format!("{n}/")
                    } else {
                        n.clone()
                    }
                })
                .collect();
            let content = if lines.is_empty() {
                "(empty folder)".to_owned()
            } else {
                cap(&lines.join("\n"), READ_LIMIT).0
            };
            let details: Vec<Value> = listed
                .iter()
                .map(|(n, kind, size)| json!({"name": n, "kind": kind, "size": size}))
                .collect();
            Ok(ToolResult::ok(
                content,
                json!({"path": rel, "entries": details}),
            ))
        })
        .await
    }
}

/// `glob {pattern}`.
pub struct Glob;

#[async_trait]
impl Tool for Glob {
    fn definition(&self) -> ToolDef {
        def(
            "glob",
            "Find files in the workspace whose path matches a glob pattern such as **/*.rs or src/*.md.",
            json!({"type": "object", "properties": {
                "pattern": {"type": "string", "minLength": 1, "description": "Glob pattern, relative to the workspace"}},
                "required": ["pattern"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let pattern = str_arg(&args, "pattern");
            let matcher = match globset::GlobBuilder::new(pattern.trim_start_matches("./"))
                .literal_separator(true)
                .build()
            {
                Ok(g) => g.compile_matcher(),
                Err(e) => return Err(format!("invalid glob pattern: {e}")),
            };
            let mut matches = Vec::new();
            let walked = ws.walk(Path::new("."), &mut |path, meta| {
                if meta.is_file() && matcher.is_match(path) {
                    matches.push(path.display().to_string());
                }
                matches.len() < MAX_RESULTS
            });
            let truncated = match walked {
                Ok(t) => t,
                Err(e) => return Err(io_message(Path::new("."), &e)),
            };
            let mut content = if matches.is_empty() {
                format!("no files match {pattern}")
            } else {
                matches.join("\n")
            };
            if truncated {
                content.push_str(&format!(
                    "\n[stopped after {} results; narrow the pattern]",
                    matches.len()
                ));
            }
            Ok(ToolResult::ok(
                content,
                json!({"pattern": pattern, "matches": matches, "truncated": truncated}),
            ))
        })
        .await
    }
}

/// `grep {pattern, path?}`.
pub struct Grep;

#[async_trait]
impl Tool for Grep {
    fn definition(&self) -> ToolDef {
        def(
            "grep",
            "Search file contents in the workspace with a regular expression. Returns path:line:text for each matching line.",
            json!({"type": "object", "properties": {
                "pattern": {"type": "string", "minLength": 1, "description": "Regular expression (Rust regex syntax)"},
                "path": {"type": "string", "description": "File or folder to search, relative to the workspace (default: all)"}},
                "required": ["pattern"], "additionalProperties": false}),
        )
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        with_workspace(ctx, move |ws| {
            let pattern = str_arg(&args, "pattern");
            let re = match regex::Regex::new(&pattern) {
                Ok(re) => re,
                Err(e) => return Err(format!("invalid regular expression: {e}")),
            };
            let start = ws.relative(args["path"].as_str().unwrap_or("."))?;
            let mut found: Vec<Value> = Vec::new();
            let mut lines = Vec::new();
            let mut search = |path: &Path| {
                let Ok(text) = read_text(ws, path) else {
                    return;
                };
                for (n, line) in text.lines().enumerate() {
                    if found.len() >= MAX_RESULTS {
                        return;
                    }
                    if re.is_match(line) {
                        let shown: String = line.chars().take(300).collect();
                        lines.push(format!("{}:{}:{shown}", path.display(), n + 1));
                        found.push(json!({"path": path, "line": n + 1, "text": shown}));
                    }
                }
            };
            let truncated = match ws.dir.metadata(&start) {
                Ok(meta) if meta.is_file() => {
                    search(&start);
                    false
                }
                Ok(_) => match ws.walk(&start, &mut |path, meta| {
                    if meta.is_file() && meta.len() <= MAX_FILE {
                        search(path);
                    }
                    true
                }) {
                    Ok(t) => t,
                    Err(e) => return Err(io_message(&start, &e)),
                },
                Err(e) => return Err(io_message(&start, &e)),
            };
            let truncated = truncated || found.len() >= MAX_RESULTS;
            let mut content = if lines.is_empty() {
                format!("no matches for {pattern}")
            } else {
                cap(&lines.join("\n"), READ_LIMIT).0
            };
            if truncated {
                content.push_str(&format!(
                    "\n[stopped after {} matches; narrow the search]",
                    found.len()
                ));
            }
            Ok(ToolResult::ok(
                content,
                json!({"pattern": pattern, "matches": found, "truncated": truncated}),
            ))
        })
        .await
    }
}
