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
