//! The workspace folder, opened through cap-std: every path the model gives is resolved inside
//! it, and one that leads outside (`..`, an absolute path elsewhere, a symbolic link) fails.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata};

/// Folders never walked by `glob` and `grep`: version control internals.
const SKIPPED: [&str; 3] = [".git", ".hg", ".svn"];

/// The most entries one walk visits, so that a huge tree cannot stall a tool call.
pub(crate) const WALK_LIMIT: usize = 50_000;

/// An open workspace.
pub(crate) struct Workspace {
    root: PathBuf,
    /// The capability every file operation goes through.
    pub dir: Dir,
}

impl Workspace {
    /// Opens the workspace folder.
    pub fn open(root: &Path) -> Result<Workspace, String> {
        let dir = Dir::open_ambient_dir(root, ambient_authority())
            .map_err(|e| format!("cannot open the workspace {}: {e}", root.display()))?;
        let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
        Ok(Workspace { root, dir })
    }

    /// `path` relative to the workspace: relative paths stay as they are, absolute ones must be
    /// inside the workspace; `..` may not climb out.
    pub fn relative(&self, path: &str) -> Result<PathBuf, String> {
        let p = Path::new(path.trim());
        let rel = if p.is_absolute() {
            p.strip_prefix(&self.root)
                .map_err(|_| {
                    format!(
                        "`{path}` is outside the workspace ({})",
                        self.root.display()
                    )
                })?
                .to_path_buf()
        } else {
            p.to_path_buf()
        };
        let mut depth: i32 = 0;
        for c in rel.components() {
            match c {
                Component::ParentDir => depth -= 1,
                Component::Normal(_) => depth += 1,
                _ => {}
            }
            if depth < 0 {
                return Err(format!("`{path}` is outside the workspace"));
            }
        }
        Ok(if rel.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            rel
        })
    }

    /// Visits every file and folder below `start` (relative) in name order, depth first, with
    /// paths relative to the workspace; stops after [`WALK_LIMIT`] entries. Returns whether the
    /// walk was cut short.
    pub fn walk(
        &self,
        start: &Path,
        visit: &mut dyn FnMut(&Path, &Metadata) -> bool,
    ) -> io::Result<bool> {
        let mut seen = 0;
        let dir = if start == Path::new(".") {
            self.dir.try_clone()?
        } else {
            self.dir.open_dir(start)?
        };
        let base = if start == Path::new(".") {
            PathBuf::new()
        } else {
            start.to_path_buf()
        };
        walk_dir(&dir, &base, visit, &mut seen)
    }
}

fn walk_dir(
    dir: &Dir,
    base: &Path,
    visit: &mut dyn FnMut(&Path, &Metadata) -> bool,
    seen: &mut usize,
) -> io::Result<bool> {
    let mut entries: Vec<_> = dir.entries()?.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        *seen += 1;
        if *seen > WALK_LIMIT {
            return Ok(true);
        }
        let name = entry.file_name();
        let path = base.join(&name);
        // Symbolic links are not followed: they could lead out of the workspace.
        let Ok(meta) = entry.metadata() else { continue };
        if !visit(&path, &meta) {
            return Ok(true);
        }
        if meta.is_dir() && !SKIPPED.iter().any(|s| name == *s) {
            let Ok(sub) = entry.open_dir() else { continue };
            if walk_dir(&sub, &path, visit, seen)? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A tool-facing message for an I/O error on `path`.
pub(crate) fn io_message(path: &Path, e: &io::Error) -> String {
    let p = path.display();
    match e.kind() {
        io::ErrorKind::NotFound => format!("`{p}` does not exist"),
        io::ErrorKind::PermissionDenied if e.to_string().contains("outside") => {
            format!("`{p}` is outside the workspace")
        }
        io::ErrorKind::PermissionDenied => format!("permission denied: `{p}`"),
        io::ErrorKind::IsADirectory => format!("`{p}` is a folder"),
        io::ErrorKind::NotADirectory => format!("`{p}` is not a folder"),
        _ if e.to_string().contains("outside of the filesystem") => {
            format!("`{p}` is outside the workspace")
        }
        _ => format!("`{p}`: {e}"),
    }
}
