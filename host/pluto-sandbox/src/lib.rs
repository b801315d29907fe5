//! Pluto's WebAssembly sandbox: the only crate that depends on wasmtime.
//!
//! The sandbox executor of the data path (... -> tool dispatch -> native | MCP | **sandbox** ->
//! services). Tools run as `wasm32-wasip2` components of the `pluto:sandbox/tool-component`
//! world (see `wit/`), under wasmtime, with what a sandbox policy grants and nothing else.
//!
//! - One [`Sandbox`] per process: one `Engine` with the pooling allocator, async support and
//!   epoch interruption (a ticker thread advances the epoch), compiled components cached on
//!   disk, an `InstancePre` per component.
//! - Every call gets a fresh `Store`: nothing survives a call, so nothing leaks between calls,
//!   sessions or tenants.
//! - The WASI context comes from the policy alone ([`wasi`]): preopened folders with the
//!   policy's permissions (an open of a file with several hard links refused on the opened
//!   descriptor, `confine.rs`), the allowed environment variables, bounded stdout/stderr; network
//!   (`wasi:http`, `wasi:sockets`) only where the policy's rules allow, checked on the address
//!   the host resolved (`net.rs`).
//! - Limits from the policy: total memory across a component's memories ([`limits`]), wall time
//!   (epoch deadline plus a timeout around the whole call), output size; host-call fuel and a
//!   resource-table cap against guest-driven host allocations; a semaphore in front of the
//!   instance pool so a burst waits instead of failing. A limit ends the call with a tool error
//!   that names it.
//!
//! The guests built from `guest/` are embedded: [`guests`].

mod confine;
mod engine;
pub mod guests;
mod host;
pub mod limits;
mod net;
mod program;
mod quota;
pub mod wasi;

pub use engine::{Component, Sandbox, SandboxConfig, SandboxError, ungranted};
pub use net::{Refused, destination};
pub use program::{Process, ProcessOutput, Program};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit/sandbox",
        world: "tool-component",
        exports: { default: async },
    });
}
