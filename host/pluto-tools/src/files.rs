//! The native `files` tool set: the shared tools of `pluto-files` over a cap-std folder, so no
//! path (`..`, absolute, symbolic link) leaves the workspace.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata};
use pluto_core::{ToolContext, ToolDef, ToolResult};
use pluto_files::{Definition, Entry, Fs, Meta, Outcome};
use serde_json::Value;

use crate::toolbox::Tool;

/// All six tools of the set.
pub fn all() -> Vec<Arc<dyn Tool>> {
    pluto_files::definitions()
        .into_iter()
        .map(|def| Arc::new(FileTool(def)) as Arc<dyn Tool>)
        .collect()
}

/// One of the `files` tools, run natively.
struct FileTool(Definition);

/// The tool definition the model is offered for a shared `files` tool.
pub fn tool_def(def: &Definition) -> ToolDef {
    ToolDef {
        name: def.name.into(),
        description: def.description.into(),
        input_schema: def.input_schema.clone(),
    }
}

/// A shared tool's outcome as a tool result.
pub fn tool_result(outcome: Outcome) -> ToolResult {
    ToolResult {
        content: outcome.content,
        details: outcome.details,
        is_error: outcome.is_error,
    }
}

#[async_trait]
impl Tool for FileTool {
    fn definition(&self) -> ToolDef {
        tool_def(&self.0)
    }

    async fn call(&self, args: Value, ctx: &ToolContext) -> ToolResult {
        let (root, name) = (ctx.workspace.clone(), self.0.name);
        // File work blocks; it runs off the async threads.
        let outcome = tokio::task::spawn_blocking(move || match CapStdFs::open(&root) {
            Ok(fs) => pluto_files::call(&fs, name, &args),
            Err(e) => Outcome::error(e),
        })
        .await
        .unwrap_or_else(|e| Outcome::error(format!("the tool crashed: {e}")));
        let mut result = tool_result(outcome);
        if let Some(details) = result.details.as_object_mut() {
            details.insert("mode".into(), "native".into());
        }
        result
    }
}

/// The workspace opened through cap-std: the only way the native tools touch files.
pub struct CapStdFs {
    root: PathBuf,
    dir: Dir,
}

impl CapStdFs {
    /// Opens the workspace folder.
    pub fn open(root: &Path) -> Result<CapStdFs, String> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())
            .map_err(|e| format!("cannot open the workspace {}: {e}", root.display()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Ok(CapStdFs { root, dir })
    }
}

fn meta(m: &Metadata, is_symlink: bool) -> Meta {
    Meta {
        is_dir: m.is_dir(),
        is_file: m.is_file(),
        is_symlink,
        len: m.len(),
    }
}

impl Fs for CapStdFs {
    fn root(&self) -> &Path {
        &self.root
    }

    fn metadata(&self, rel: &Path) -> io::Result<Meta> {
        Ok(meta(&self.dir.metadata(rel)?, false))
    }

    fn read(&self, rel: &Path) -> io::Result<Vec<u8>> {
        self.dir.read(rel)
    }

    fn write_atomic(&self, rel: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.dir.create_dir_all(parent)?;
        }
        let name = rel
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let tmp = rel.with_file_name(format!(".{name}.pluto-{}.tmp", std::process::id()));
        let result = (|| {
            let mut f = self.dir.create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            self.dir.rename(&tmp, &self.dir, rel)
        })();
        if result.is_err() {
            let _ = self.dir.remove_file(&tmp);
        }
        result
    }

    fn read_dir(&self, rel: &Path) -> io::Result<Vec<Entry>> {
        let dir = if rel == Path::new(".") {
            self.dir.try_clone()?
        } else {
            self.dir.open_dir(rel)?
        };
        let mut out = Vec::new();
        for entry in dir.entries()? {
            let Ok(entry) = entry else { continue };
            let Ok(m) = entry.metadata() else { continue };
            let is_symlink = entry.file_type().is_ok_and(|t| t.is_symlink());
            out.push(Entry {
                name: entry.file_name().to_string_lossy().into_owned(),
                meta: meta(&m, is_symlink),
            });
        }
        Ok(out)
    }
}
