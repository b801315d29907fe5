//! Reading a declaration file safely: bounded size, text only, never a panic.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::diagnostic::{Diagnostic, Position};

/// The largest agent, instructions or policy file Pluto reads (1 MiB). Declarations are small;
/// a larger file is almost certainly a mistake, and reading it whole would waste memory.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The text of one declaration file, with the path the user named it by.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// The path as given, used in diagnostics.
    pub path: PathBuf,
    /// The file's text, without a leading byte-order mark.
    pub text: String,
}

impl Source {
    /// Reads `path` as UTF-8 text of at most [`MAX_FILE_BYTES`].
    pub fn read(path: &Path) -> Result<Source, Diagnostic> {
        let file = std::fs::File::open(path)
            .map_err(|e| Diagnostic::file(path, format!("cannot read: {}", io_reason(&e))))?;
        let mut bytes = Vec::new();
        // Read one byte past the limit so a file that grows while we read is still caught.
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Diagnostic::file(path, format!("cannot read: {}", io_reason(&e))))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            let size = std::fs::metadata(path)
                .map(|m| m.len())
                .unwrap_or(bytes.len() as u64);
            return Err(Diagnostic::at(
                path,
                Position::START,
                format!(
                    "file is too large ({size} bytes); declaration files are limited to {MAX_FILE_BYTES} bytes (1 MiB)"
                ),
            ));
        }
        Self::from_bytes(path, bytes)
    }

    /// Checks that `bytes` are text: valid UTF-8 without NUL bytes.
    fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Source, Diagnostic> {
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                let prefix = String::from_utf8_lossy(&bytes[..valid]);
                return Err(Diagnostic::at(
                    path,
                    Position::of_offset(&prefix, valid),
                    format!("not a text file: invalid UTF-8 at byte {valid}"),
                ));
            }
        };
        if let Some(nul) = text.find('\0') {
            return Err(Diagnostic::at(
                path,
                Position::of_offset(&text, nul),
                format!("not a text file: NUL byte at byte {nul}"),
            ));
        }
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        Ok(Source {
            path: path.to_path_buf(),
            text,
        })
    }
}

/// A short, stable reason for an I/O error (without the OS error number).
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::IsADirectory => "is a folder, expected a file".to_owned(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_invalid_utf8_at_its_position() {
        let err = Source::from_bytes(Path::new("x"), b"ok\nab\xff".to_vec()).unwrap_err();
        assert_eq!(err.position, Some(Position::new(2, 3)));
        assert!(err.message.contains("invalid UTF-8 at byte 5"));
    }

    #[test]
    fn rejects_nul_bytes_and_strips_bom() {
        let err = Source::from_bytes(Path::new("x"), b"a\0".to_vec()).unwrap_err();
        assert_eq!(err.position, Some(Position::new(1, 2)));
        let ok = Source::from_bytes(Path::new("x"), "\u{feff}paf: 1".as_bytes().to_vec()).unwrap();
        assert_eq!(ok.text, "paf: 1");
    }
}
