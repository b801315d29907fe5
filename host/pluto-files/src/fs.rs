//! The file-system seam: what the tools need from a folder, and nothing more.

use std::io;
use std::path::{Component, Path, PathBuf};

/// What a tool needs to know about a file or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// A folder.
    pub is_dir: bool,
    /// A regular file.
    pub is_file: bool,
    /// A symbolic link (not followed).
    pub is_symlink: bool,
    /// Size in bytes.
    pub len: u64,
}

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Its name.
    pub name: String,
    /// What it is (a symbolic link is reported as one, not followed).
    pub meta: Meta,
}

/// A folder the tools work in. Every path is relative to it; implementations must refuse any
/// path that leads outside it, including through symbolic links.
pub trait Fs {
    /// The folder as the model may name it in absolute paths.
    fn root(&self) -> &Path;
    /// What `rel` is (following a final symbolic link, as opening it would).
    fn metadata(&self, rel: &Path) -> io::Result<Meta>;
    /// The bytes of file `rel`.
    fn read(&self, rel: &Path) -> io::Result<Vec<u8>>;
    /// Replaces (or creates) file `rel` atomically, creating its parent folders.
    fn write_atomic(&self, rel: &Path, bytes: &[u8]) -> io::Result<()>;
    /// The entries of folder `rel`, in any order.
    fn read_dir(&self, rel: &Path) -> io::Result<Vec<Entry>>;

    /// `path` relative to the root: relative paths stay as they are, absolute ones must be
    /// inside the root; `..` may not climb out.
    fn relative(&self, path: &str) -> Result<PathBuf, String> {
        let p = Path::new(path.trim());
        let rel = if p.is_absolute() {
            p.strip_prefix(self.root())
                .map_err(|_| {
                    format!(
                        "`{path}` is outside the workspace ({})",
                        self.root().display()
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
}

/// Folders never walked by `glob` and `grep`: version control internals.
const SKIPPED: [&str; 3] = [".git", ".hg", ".svn"];

/// The most entries one walk visits, so that a huge tree cannot stall a call.
pub const WALK_LIMIT: usize = 50_000;

/// Visits every file and folder below `start` in name order, depth first, with paths relative
/// to the root; symbolic links are not followed. Returns whether the walk stopped early (the
/// visitor said so, or [`WALK_LIMIT`] was reached).
pub(crate) fn walk(
    fs: &dyn Fs,
    start: &Path,
    visit: &mut dyn FnMut(&Path, &Meta) -> bool,
) -> io::Result<bool> {
    let mut seen = 0;
    walk_dir(fs, start, visit, &mut seen)
}

fn walk_dir(
    fs: &dyn Fs,
    dir: &Path,
    visit: &mut dyn FnMut(&Path, &Meta) -> bool,
    seen: &mut usize,
) -> io::Result<bool> {
    let mut entries = fs.read_dir(dir)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in entries {
        *seen += 1;
        if *seen > WALK_LIMIT {
            return Ok(true);
        }
        let path = if dir == Path::new(".") {
            PathBuf::from(&entry.name)
        } else {
            dir.join(&entry.name)
        };
        if !visit(&path, &entry.meta) {
            return Ok(true);
        }
        if entry.meta.is_dir && !entry.meta.is_symlink && !SKIPPED.contains(&entry.name.as_str()) {
            // A folder that vanished or cannot be read is skipped, not fatal.
            if let Ok(true) = walk_dir(fs, &path, visit, seen) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// A tool-facing message for an I/O error on `path`.
pub(crate) fn io_message(path: &Path, e: &io::Error) -> String {
    let p = path.display();
    let text = e.to_string();
    match e.kind() {
        io::ErrorKind::NotFound => format!("`{p}` does not exist"),
        _ if text.contains("outside") => format!("`{p}` is outside the workspace"),
        io::ErrorKind::PermissionDenied => format!("permission denied: `{p}`"),
        io::ErrorKind::IsADirectory => format!("`{p}` is a folder"),
        io::ErrorKind::NotADirectory => format!("`{p}` is not a folder"),
        io::ErrorKind::ReadOnlyFilesystem => format!("`{p}` is read-only"),
        _ => format!("`{p}`: {e}"),
    }
}
