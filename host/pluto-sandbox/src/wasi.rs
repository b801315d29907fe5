//! The WASI context of a call, built from the sandbox policy and nothing else.
//!
//! Deny by default: no folder, no environment variable, no socket, no name lookup, no stdin,
//! no arguments unless the policy grants them. `{workspace}` in the policy is the tenant's (or
//! session's) folder, seen by the guest at `/workspace`.

use std::path::{Path, PathBuf};

use pluto_paf::Policy;
use pluto_paf::policy::Access;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};

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

/// The WASI context for one call under `policy`, with `workspace` for `{workspace}`, variables
/// read through `env`, and stdout/stderr captured in `stdout` and `stderr`.
pub fn context(
    policy: &Policy,
    workspace: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    stdout: MemoryOutputPipe,
    stderr: MemoryOutputPipe,
) -> Result<WasiCtx, String> {
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
    b.allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false);
    b.max_random_size(MAX_RANDOM_BYTES);
    b.stdout(stdout).stderr(stderr);
    Ok(b.build())
}
