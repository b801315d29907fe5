//! Tool dispatch and Pluto's native tools.
//!
//! Fourth stage of the data path (CLI/HTTP -> runtime -> provider -> **tool dispatch** ->
//! native | MCP | sandbox executor -> services). A [`Toolbox`] is one agent's tools: it
//! implements [`pluto_core::ToolExecutor`], checks every call's arguments against the tool's JSON
//! Schema and turns every failure into a tool error for the model.
//!
//! The native tools are the permissive default: they run on the host, rooted at the workspace.
//! - [`files`]: `read_file`, `write_file`, `edit_file`, `list_dir`, `glob`, `grep` — the shared
//!   tools of `pluto-files` through cap-std, so a path cannot leave the workspace, not even
//!   through a symbolic link;
//! - [`shell`]: `shell`, a `bash -c` command line in the workspace, killed with its process
//!   group on timeout or cancellation;
//! - [`http_fetch`]: `http_fetch`, a GET with the body capped;
//! - [`memory`]: `remember` and `recall`, over the memory service (agents with `memory.enabled`).
//!
//! With the sandbox on, [`sandboxed`] offers a component's tools instead: the same names,
//! schemas and results, run in `pluto-sandbox` under the agent's policy.

pub mod files;
pub mod http_fetch;
pub mod memory;
pub mod sandboxed;
pub mod shell;
mod toolbox;

pub use toolbox::{Tool, Toolbox, ToolboxError};

use std::sync::Arc;

use pluto_paf::tool::Builtin;

/// The native tools of a built-in tool set; `disk` is the agent's policy's quota, which the
/// native `files` tools keep too (the native shell cannot be held to one).
pub fn builtin(
    set: Builtin,
    http: &reqwest::Client,
    disk: Option<pluto_paf::policy::DiskLimit>,
) -> Vec<Arc<dyn Tool>> {
    match set {
        Builtin::Files => files::all(disk),
        Builtin::Shell => vec![Arc::new(shell::Shell)],
        Builtin::HttpFetch => vec![Arc::new(http_fetch::HttpFetch::new(http.clone()))],
    }
}
