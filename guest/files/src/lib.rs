//! The `files` tool component: the same six tools as Pluto's native `files` set
//! (`pluto-files`), over the folder the host preopens at `/workspace`.
//!
//! It imports only WASI. What it can open is what the host's policy preopened, with the
//! policy's permissions; a path that leads elsewhere fails inside WASI.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use pluto_files::{Entry, Fs, Meta};

wit_bindgen::generate!({ path: "../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{ContentPart, Guest, ToolDefinition, ToolResult};

/// Where the host preopens the workspace.
const ROOT: &str = "/workspace";

/// The workspace through WASI's preopen.
struct PreopenFs {
    root: PathBuf,
}

fn meta(m: &std::fs::Metadata, is_symlink: bool) -> Meta {
    Meta { is_dir: m.is_dir(), is_file: m.is_file(), is_symlink, len: m.len() }
}

impl Fs for PreopenFs {
    fn root(&self) -> &Path {
        &self.root
    }

    fn metadata(&self, rel: &Path) -> io::Result<Meta> {
        Ok(meta(&std::fs::metadata(self.root.join(rel))?, false))
    }

    fn read(&self, rel: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(self.root.join(rel))
    }

    fn write_atomic(&self, rel: &Path, bytes: &[u8]) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let name = rel.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let tmp = path.with_file_name(format!(".{name}.pluto-guest.tmp"));
        let result = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn read_dir(&self, rel: &Path) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.root.join(rel))? {
            let Ok(entry) = entry else { continue };
            let Ok(m) = entry.metadata() else { continue };
            let is_symlink = entry.file_type().is_ok_and(|t| t.is_symlink());
            out.push(Entry { name: entry.file_name().to_string_lossy().into_owned(), meta: meta(&m, is_symlink) });
        }
        Ok(out)
    }
}

struct Component;

impl Guest for Component {
    fn describe() -> Vec<ToolDefinition> {
        pluto_files::definitions()
            .into_iter()
            .map(|d| ToolDefinition {
                name: d.name.into(),
                description: d.description.into(),
                input_schema: d.input_schema.to_string(),
            })
            .collect()
    }

    fn call(name: String, arguments: String) -> ToolResult {
        let outcome = match serde_json::from_str::<serde_json::Value>(&arguments) {
            Ok(args) => pluto_files::call(&PreopenFs { root: PathBuf::from(ROOT) }, &name, &args),
            Err(e) => pluto_files::Outcome::error(format!("invalid JSON arguments: {e}")),
        };
        ToolResult {
            content: vec![ContentPart::Text(outcome.content)],
            details: outcome.details.to_string(),
            is_error: outcome.is_error,
        }
    }
}

export!(Component);
