//! What a call's `Store` holds: its WASI and `wasi:http` contexts, its resource table and its
//! limits.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::limits::MemoryLimiter;
use crate::net::NetHooks;

/// The data of one call's store; dropped with the store when the call ends.
pub(crate) struct Host {
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub net: NetHooks,
    pub table: ResourceTable,
    pub memory: MemoryLimiter,
    /// Whether the policy lets files with several hard links be opened (`confine.rs`).
    pub allow_hard_links: bool,
    /// What the call may still add to its writable folders, under a disk quota (`quota.rs`).
    pub disk: Option<std::sync::Arc<crate::quota::DiskBudget>>,
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Host {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.net,
        }
    }
}
