//! The WASI context of a call, built from the sandbox policy and nothing else.
//!
//! Deny by default: no folder, no environment variable, no socket, no name lookup, no stdin,
//! no arguments unless the policy grants them (network: see [`crate::net`]). `{workspace}` in the policy is the tenant's (or
//! session's) folder, seen by the guest at `/workspace`.

use std::path::{Path, PathBuf};

use pluto_paf::Policy;
use pluto_paf::policy::Access;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

/// How a call reads the host's environment variables (only those the policy allows are asked).
pub type EnvLookup<'a> = dyn Fn(&str) -> Option<String> + Send + Sync + 'a;

/// Where the guest sees the workspace.
pub const GUEST_WORKSPACE: &str = "/workspace";

/// The most random bytes one call to `get-random-bytes` may ask for (against host allocations).
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// The guest path of a policy folder: `{workspace}[/sub]` maps under [`GUEST_WORKSPACE`], an
/// absolute host path is seen at the same path.
pub fn guest_path(policy_path: &str) -> String {
    match policy_path.strip_prefix("{workspace}") {
        Some(rest) => format!("{GUEST_WORKSPACE}{rest}"),
        None => policy_path.to_owned(),
    }
}

/// The WASI context for one call under `policy`, with `workspace` for `{workspace}` and
/// variables read through `env`; the caller adds stdio and builds it.
pub fn context(
    policy: &Policy,
    workspace: &Path,
    env: &EnvLookup<'_>,
) -> Result<WasiCtxBuilder, String> {
    let mut b = WasiCtxBuilder::new();
    for grant in &policy.filesystem {
        let host: PathBuf = grant.path.resolve(workspace);
        if !host.is_dir() {
            return Err(format!(
                "the sandbox policy grants {} ({}), which is not a folder",
                grant.path,
                host.display()
            ));
        }
        refuse_hard_links(&host)?;
        let perms = if grant.access.contains(&Access::Write) {
            FsPerms::ReadWrite
        } else {
            FsPerms::ReadOnly
        };
        b.preopened_dir(&host, guest_path(grant.path.as_str()), perms)
            .map_err(|e| format!("cannot open {} for the sandbox: {e}", host.display()))?;
    }
    for name in &policy.env.allow {
        if let Some(value) = env(name.as_str()) {
            b.env(name.as_str(), value);
        }
    }
    // Sockets: TCP connects the network rules allow (checked per address, `net`); no UDP; name
    // lookup only when some host is allowed.
    let networked = !policy.network.allow.is_empty();
    let network = std::sync::Arc::new(policy.network.clone());
    b.allow_tcp(networked)
        .allow_udp(false)
        .allow_ip_name_lookup(networked)
        .socket_addr_check(move |addr, usage| {
            let network = network.clone();
            Box::pin(async move { crate::net::socket_allowed(&network, addr, usage).await })
        });
    b.max_random_size(MAX_RANDOM_BYTES);
    // File operations on the workspace are short: running them on the calling thread instead
    // of a spawn_blocking round trip each cuts a sandboxed read_file by about a quarter.
    b.allow_blocking_current_thread(true);
    Ok(b)
}

/// The most entries [`refuse_hard_links`] looks at in one folder tree.
pub const HARD_LINK_SCAN_LIMIT: usize = 200_000;

/// Refuses a folder holding a regular file with more than one hard link. Such a file may be the
/// same inode as a file outside the folder, and path-based confinement (WASI preopens, cap-std)
/// cannot see that. Symbolic links are not followed here; WASI resolves them inside the preopen.
pub fn refuse_hard_links(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let mut pending = vec![dir.to_path_buf()];
    let mut seen = 0usize;
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            seen += 1;
            if seen > HARD_LINK_SCAN_LIMIT {
                return Ok(());
            }
            let Ok(meta) = entry.path().symlink_metadata() else {
                continue;
            };
            if meta.is_dir() {
                pending.push(entry.path());
            } else if meta.is_file() && meta.nlink() > 1 {
                let rel = entry
                    .path()
                    .strip_prefix(dir)
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|_| entry.path());
                return Err(format!(
                    "the sandbox refuses {}: `{}` has {} hard links, and a hard link can reach outside the folder",
                    dir.display(),
                    rel.display(),
                    meta.nlink()
                ));
            }
        }
    }
    Ok(())
}
