//! `limits.disk`: a quota over a call's writable folders, in bytes of file contents and in
//! entries (files, folders, links).
//!
//! At the start of a call whose policy sets one, the writable folders are measured (one walk:
//! its cost is that of listing them, and only policies with a quota pay it); what is left is the
//! call's budget. Every operation that could grow the folders asks the budget first and is
//! refused with `insufficient-space` (ENOSPC) before it has any effect when the budget would be
//! overdrawn: creating a file or folder (`open-at` with `create`, `create-directory-at`), a
//! positioned `write` and `set-size` past the end of a file (the growth counts), and each write
//! of a stream from `write-via-stream` / `append-via-stream`. Removing a file or folder and
//! truncating give their share back. Overwriting bytes inside a file costs nothing.
//!
//! Precision: what other processes write into the folders while a call runs is not seen; sizes
//! are file lengths (sparse files count whole); several calls on one workspace at once each
//! have the whole budget. The `files` guest writes through a temporary file and a rename, so a
//! refused `write_file` leaves the old file as it was and no temporary file; the shell's `>`
//! keeps what it wrote before the refusal, as bash does on a full disk, and fails.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use bytes::Bytes;
use pluto_paf::policy::{Access, DiskLimit, Policy};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// "No space left on device" (the same number on Linux and macOS).
const ENOSPC: i32 = 28;

/// What a call may still add.
#[derive(Debug)]
pub(crate) struct DiskBudget {
    bytes: AtomicI64,
    files: AtomicI64,
    limit: DiskLimit,
    refused: AtomicBool,
}

impl DiskBudget {
    /// The budget of a call under `policy` on `workspace`: its quota less what the writable
    /// folders hold now; `None` without a quota.
    pub(crate) fn for_call(policy: &Policy, workspace: &Path) -> Option<Arc<DiskBudget>> {
        let limit = policy.limits.disk?;
        let (mut bytes, mut files) = (0u64, 0u64);
        for grant in policy
            .filesystem
            .iter()
            .filter(|g| g.access.contains(&Access::Write))
        {
            let (b, f) = usage(&grant.path.resolve(workspace));
            bytes += b;
            files += f;
        }
        let left = |limit: Option<u64>, used: u64| {
            limit.map_or(i64::MAX, |l| {
                i64::try_from(l).unwrap_or(i64::MAX) - i64::try_from(used).unwrap_or(i64::MAX)
            })
        };
        Some(Arc::new(DiskBudget {
            bytes: AtomicI64::new(left(limit.bytes.map(|b| b.0), bytes)),
            files: AtomicI64::new(left(limit.files, files)),
            limit,
            refused: AtomicBool::new(false),
        }))
    }

    /// Takes `n` bytes, or refuses (taking nothing).
    pub(crate) fn take_bytes(&self, n: u64) -> bool {
        self.note(take(&self.bytes, n))
    }

    /// Takes one entry, or refuses.
    pub(crate) fn take_file(&self) -> bool {
        self.note(take(&self.files, 1))
    }

    fn note(&self, taken: bool) -> bool {
        if !taken {
            self.refused.store(true, Ordering::Relaxed);
        }
        taken
    }

    /// Whether anything was refused in this call.
    pub(crate) fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }

    /// Gives back `bytes` and `files`.
    pub(crate) fn give(&self, bytes: u64, files: u64) {
        let give = |left: &AtomicI64, v: u64| {
            let v = i64::try_from(v).unwrap_or(i64::MAX);
            let _ = left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |l| {
                Some(l.saturating_add(v))
            });
        };
        give(&self.bytes, bytes);
        give(&self.files, files);
    }

    /// The quota, for messages.
    pub(crate) fn describe(&self) -> String {
        self.limit.to_string()
    }
}

fn take(left: &AtomicI64, n: u64) -> bool {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        (v >= n).then(|| v - n)
    })
    .is_ok()
}

/// Bytes of file contents and entries below `dir` (links are not followed).
fn usage(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut files) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            files += 1;
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) if m.is_file() => bytes += m.len(),
                _ => {}
            }
        }
    }
    (bytes, files)
}

/// A file's output stream that asks the budget before each write that grows the file.
pub(crate) struct QuotaStream {
    pub inner: Box<dyn OutputStream>,
    pub budget: Arc<DiskBudget>,
    /// Where the next write lands (for an appending stream, the end).
    pub position: u64,
    /// The file's length as far as this stream knows.
    pub end: u64,
    pub append: bool,
}

#[async_trait::async_trait]
impl Pollable for QuotaStream {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}

#[async_trait::async_trait]
impl OutputStream for QuotaStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let len = bytes.len() as u64;
        let start = if self.append { self.end } else { self.position };
        let new_end = start + len;
        let growth = new_end.saturating_sub(self.end);
        if !self.budget.take_bytes(growth) {
            tracing::info!(
                quota = %self.budget.describe(),
                "sandboxed write refused: the disk quota is reached"
            );
            // As the operating system says it, so the guest reads "no space left on device".
            return Err(StreamError::LastOperationFailed(wasmtime::Error::new(
                std::io::Error::from_raw_os_error(ENOSPC),
            )));
        }
        self.inner.write(bytes)?;
        self.position = new_end;
        self.end = self.end.max(new_end);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}
