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
use pluto_paf::policy::DiskLimit;
use serde_json::Value;

use crate::toolbox::Tool;

/// All six tools of the set, keeping `disk` when it is given.
pub fn all(disk: Option<DiskLimit>) -> Vec<Arc<dyn Tool>> {
    pluto_files::definitions()
        .into_iter()
        .map(|def| Arc::new(FileTool(def, disk)) as Arc<dyn Tool>)
        .collect()
}

/// One of the `files` tools, run natively, and the quota its writes keep.
struct FileTool(Definition, Option<DiskLimit>);

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
        let (root, name, disk) = (ctx.workspace.clone(), self.0.name, self.1);
        // File work blocks; it runs off the async threads.
        let outcome = tokio::task::spawn_blocking(move || match CapStdFs::open(&root) {
            Ok(mut fs) => {
                fs.disk = disk;
                pluto_files::call(&fs, name, &args)
            }
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
    /// A quota the writes keep (a policy's `limits.disk`).
    pub disk: Option<DiskLimit>,
}

impl CapStdFs {
    /// Opens the workspace folder.
    pub fn open(root: &Path) -> Result<CapStdFs, String> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())
            .map_err(|e| format!("cannot open the workspace {}: {e}", root.display()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Ok(CapStdFs {
            root,
            dir,
            disk: None,
        })
    }
}

impl CapStdFs {
    /// Refuses a write of `len` bytes to `rel` that would take the workspace past `disk`
    /// (measured now: one walk of the workspace, for quota'd writes only). The old contents of
    /// `rel` are given back; a new file takes an entry.
    fn keep_quota(&self, disk: DiskLimit, rel: &Path, len: u64) -> io::Result<()> {
        let (mut bytes, mut files) = (0u64, 0u64);
        let mut pending = vec![self.dir.try_clone()?];
        while let Some(dir) = pending.pop() {
            for entry in dir.entries()?.filter_map(Result::ok) {
                files += 1;
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() {
                    if let Ok(sub) = entry.open_dir() {
                        pending.push(sub);
                    }
                } else if kind.is_file() {
                    bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
                }
            }
        }
        let old = self.dir.symlink_metadata(rel).ok();
        let after = bytes
            - old
                .as_ref()
                .map_or(0, |m| if m.is_file() { m.len() } else { 0 })
            + len;
        let entries = files + u64::from(old.is_none());
        let over_bytes = disk.bytes.is_some_and(|b| after > b.0);
        let over_files = disk.files.is_some_and(|f| entries > f);
        if over_bytes || over_files {
            return Err(io::Error::new(
                io::ErrorKind::StorageFull,
                format!("the policy's disk quota ({disk}) would be exceeded: nothing was written"),
            ));
        }
        Ok(())
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
        if let Some(disk) = self.disk {
            self.keep_quota(disk, rel, bytes.len() as u64)?;
        }
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
