//! The six tools: their definitions and their behaviour over an [`Fs`].

use std::path::Path;

use serde_json::{Value, json};

use crate::fs::{Fs, io_message, walk};
use crate::output::{cap, head};

/// The most bytes of a file the model is shown at once.
pub const READ_LIMIT: usize = 64 * 1024;
/// The most lines `read_file` returns when no `limit` is given.
pub const DEFAULT_LINES: usize = 2000;
/// The largest file `read_file`, `edit_file` and `grep` open.
pub const MAX_FILE: u64 = 16 * 1024 * 1024;
/// The most paths `glob` and matches `grep` report.
pub const MAX_RESULTS: usize = 500;

/// A tool as the model is offered it.
#[derive(Debug, Clone, PartialEq)]
pub struct Definition {
    /// The name the model calls it by.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// The JSON Schema of its arguments.
    pub input_schema: Value,
}

/// What a call returns: `content` for the model, `details` for clients.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What the model sees.
    pub content: String,
    /// Structured data for clients; never sent to the model.
    pub details: Value,
    /// Whether the call failed.
    pub is_error: bool,
}

impl Outcome {
    fn ok(content: String, details: Value) -> Self {
        Outcome {
            content,
            details,
            is_error: false,
        }
    }

    /// A failed call; the message is what the model sees.
    pub fn error(message: impl Into<String>) -> Self {
        Outcome {
            content: message.into(),
            details: Value::Null,
            is_error: true,
        }
    }
}

/// The six tools, in the order they are offered.
pub fn definitions() -> Vec<Definition> {
    let path = |what: &str| json!({"type": "string", "description": format!("{what} path, relative to the workspace")});
    vec![
        Definition {
            name: "read_file",
            description: "Read a text file in the workspace. Returns its lines; use offset (first line, from 1) and limit (number of lines) for large files.",
            input_schema: json!({"type": "object", "properties": {
                "path": path("File"),
                "offset": {"type": "integer", "minimum": 1, "description": "First line to read (from 1)"},
                "limit": {"type": "integer", "minimum": 1, "description": "Most lines to read"}},
                "required": ["path"], "additionalProperties": false}),
        },
        Definition {
            name: "write_file",
            description: "Create or overwrite a file in the workspace with the given content. Parent folders are created.",
            input_schema: json!({"type": "object", "properties": {
                "path": path("File"),
                "content": {"type": "string", "description": "The complete new content"}},
                "required": ["path", "content"], "additionalProperties": false}),
        },
        Definition {
            name: "edit_file",
            description: "Replace an exact text in a file. old_string must occur exactly once; include surrounding lines to make it unique.",
            input_schema: json!({"type": "object", "properties": {
                "path": path("File"),
                "old_string": {"type": "string", "minLength": 1, "description": "The exact text to replace"},
                "new_string": {"type": "string", "description": "The replacement"}},
                "required": ["path", "old_string", "new_string"], "additionalProperties": false}),
        },
        Definition {
            name: "list_dir",
            description: "List a folder of the workspace: one entry per line, folders end with /.",
            input_schema: json!({"type": "object", "properties": {
                "path": {"type": "string", "description": "Folder path, relative to the workspace (. for the workspace)"}},
                "required": ["path"], "additionalProperties": false}),
        },
        Definition {
            name: "glob",
            description: "Find files in the workspace whose path matches a glob pattern such as **/*.rs or src/*.md.",
            input_schema: json!({"type": "object", "properties": {
                "pattern": {"type": "string", "minLength": 1, "description": "Glob pattern, relative to the workspace"}},
                "required": ["pattern"], "additionalProperties": false}),
        },
        Definition {
            name: "grep",
            description: "Search file contents in the workspace with a regular expression. Returns path:line:text for each matching line.",
            input_schema: json!({"type": "object", "properties": {
                "pattern": {"type": "string", "minLength": 1, "description": "Regular expression (Rust regex syntax)"},
                "path": {"type": "string", "description": "File or folder to search, relative to the workspace (default: all)"}},
                "required": ["pattern"], "additionalProperties": false}),
        },
    ]
}

/// Runs tool `name` with `args` (already checked against its schema) in `fs`.
pub fn call(fs: &dyn Fs, name: &str, args: &Value) -> Outcome {
    let result = match name {
        "read_file" => read_file(fs, args),
        "write_file" => write_file(fs, args),
        "edit_file" => edit_file(fs, args),
        "list_dir" => list_dir(fs, args),
        "glob" => glob(fs, args),
        "grep" => grep(fs, args),
        other => Err(format!("unknown tool `{other}`")),
    };
    result.unwrap_or_else(Outcome::error)
}

fn str_arg(args: &Value, key: &str) -> String {
    args[key].as_str().unwrap_or_default().to_owned()
}

fn read_text(fs: &dyn Fs, rel: &Path) -> Result<String, String> {
    let meta = fs.metadata(rel).map_err(|e| io_message(rel, &e))?;
    if meta.is_dir {
        return Err(format!("`{}` is a folder; use list_dir", rel.display()));
    }
    if meta.len > MAX_FILE {
        return Err(format!(
            "`{}` is {} bytes; files over {MAX_FILE} bytes are not opened",
            rel.display(),
            meta.len
        ));
    }
    let bytes = fs.read(rel).map_err(|e| io_message(rel, &e))?;
    if bytes.contains(&0) {
        return Err(format!("`{}` is a binary file", rel.display()));
    }
    String::from_utf8(bytes).map_err(|_| format!("`{}` is not UTF-8 text", rel.display()))
}

fn read_file(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let rel = fs.relative(&str_arg(args, "path"))?;
    let text = read_text(fs, &rel)?;
    let total = text.lines().count();
    let offset = args["offset"].as_u64().unwrap_or(1).max(1) as usize;
    let limit = args["limit"].as_u64().map_or(DEFAULT_LINES, |l| l as usize);
    let selected: Vec<&str> = text.lines().skip(offset - 1).take(limit).collect();
    let more_lines = offset - 1 + selected.len() < total;
    let (mut content, cut) = head(&selected.join("\n"), READ_LIMIT);
    if more_lines && !cut {
        content.push_str(&format!(
            "\n[lines {offset}-{} of {total}; read on with offset {}]",
            offset - 1 + selected.len(),
            offset + selected.len()
        ));
    }
    Ok(Outcome::ok(
        content,
        json!({"path": rel, "bytes": text.len(), "lines_total": total, "offset": offset,
               "lines_returned": selected.len(), "truncated": cut || more_lines}),
    ))
}

fn write_file(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let content = str_arg(args, "content");
    let rel = fs.relative(&str_arg(args, "path"))?;
    if rel == Path::new(".") {
        return Err("`path` must name a file".to_owned());
    }
    let created = fs.metadata(&rel).is_err();
    fs.write_atomic(&rel, content.as_bytes())
        .map_err(|e| io_message(&rel, &e))?;
    let verb = if created { "Created" } else { "Wrote" };
    Ok(Outcome::ok(
        format!("{verb} {} ({} bytes)", rel.display(), content.len()),
        json!({"path": rel, "bytes": content.len(), "created": created}),
    ))
}

fn edit_file(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let (old, new) = (str_arg(args, "old_string"), str_arg(args, "new_string"));
    let rel = fs.relative(&str_arg(args, "path"))?;
    let text = read_text(fs, &rel)?;
    match text.matches(&old).count() {
        0 => return Err(format!("old_string was not found in {}", rel.display())),
        1 => {}
        n => {
            return Err(format!(
                "old_string occurs {n} times in {}; include more context to make it unique",
                rel.display()
            ));
        }
    }
    let edited = text.replacen(&old, &new, 1);
    fs.write_atomic(&rel, edited.as_bytes())
        .map_err(|e| io_message(&rel, &e))?;
    let name = rel.display().to_string();
    let diff = similar::TextDiff::from_lines(&text, &edited)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string();
    Ok(Outcome::ok(
        format!(
            "Edited {name}: replaced {} line(s) with {}",
            old.lines().count().max(1),
            new.lines().count()
        ),
        json!({"path": rel, "diff": diff}),
    ))
}

fn list_dir(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let rel = fs.relative(&str_arg(args, "path"))?;
    let mut entries = fs.read_dir(&rel).map_err(|e| io_message(&rel, &e))?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let kind = |m: &crate::Meta| {
        if m.is_symlink {
            "symlink"
        } else if m.is_dir {
            "dir"
        } else {
            "file"
        }
    };
    let lines: Vec<String> = entries
        .iter()
        .map(|e| {
            if kind(&e.meta) == "dir" {
                format!("{}/", e.name)
            } else {
                e.name.clone()
            }
        })
        .collect();
    let content = if lines.is_empty() {
        "(empty folder)".to_owned()
    } else {
        cap(&lines.join("\n"), READ_LIMIT).0
    };
    let details: Vec<Value> = entries
        .iter()
        .map(|e| json!({"name": e.name, "kind": kind(&e.meta), "size": e.meta.len}))
        .collect();
    Ok(Outcome::ok(
        content,
        json!({"path": rel, "entries": details}),
    ))
}

fn glob(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let pattern = str_arg(args, "pattern");
    let matcher = globset::GlobBuilder::new(pattern.trim_start_matches("./"))
        .literal_separator(true)
        .build()
        .map_err(|e| format!("invalid glob pattern: {e}"))?
        .compile_matcher();
    let mut matches = Vec::new();
    let truncated = walk(fs, Path::new("."), &mut |path, meta| {
        if meta.is_file && matcher.is_match(path) {
            matches.push(path.display().to_string());
        }
        matches.len() < MAX_RESULTS
    })
    .map_err(|e| io_message(Path::new("."), &e))?;
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
    Ok(Outcome::ok(
        content,
        json!({"pattern": pattern, "matches": matches, "truncated": truncated}),
    ))
}

fn grep(fs: &dyn Fs, args: &Value) -> Result<Outcome, String> {
    let pattern = str_arg(args, "pattern");
    let re = regex::Regex::new(&pattern).map_err(|e| format!("invalid regular expression: {e}"))?;
    let start = fs.relative(args["path"].as_str().unwrap_or("."))?;
    let mut found: Vec<Value> = Vec::new();
    let mut lines = Vec::new();
    let mut search = |path: &Path| {
        let Ok(text) = read_text(fs, path) else {
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
    let meta = fs.metadata(&start).map_err(|e| io_message(&start, &e))?;
    let walked = if meta.is_file {
        search(&start);
        false
    } else {
        walk(fs, &start, &mut |path, meta| {
            if meta.is_file && !meta.is_symlink && meta.len <= MAX_FILE {
                search(path);
            }
            true
        })
        .map_err(|e| io_message(&start, &e))?
    };
    let truncated = walked || found.len() >= MAX_RESULTS;
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
    Ok(Outcome::ok(
        content,
        json!({"pattern": pattern, "matches": found, "truncated": truncated}),
    ))
}
