//! The agent runtime: the turn loop.
//!
//! Second stage of the data path (CLI/HTTP -> **runtime** -> provider -> tool dispatch ->
//! executors -> services). A run takes the user's input, asks the [`Provider`] for a turn,
//! runs the tool calls it asks for through the [`ToolExecutor`] (in parallel, bounded), hands
//! the results back, and repeats until the model answers without tools, `max_turns` is reached,
//! the run times out or it is cancelled. Every step is reported as an [`Event`].
//!
//! The loop knows nothing of HTTP, terminals, MCP or wasmtime: its caller picks the provider,
//! the tools and where events go.
//!
//! [`Provider`]: pluto_core::Provider
//! [`ToolExecutor`]: pluto_core::ToolExecutor
//! [`Event`]: pluto_core::Event

mod run;
mod session;

pub use run::{Limits, Outcome, RunReport, RunSpec, run};
pub use session::{MEMORY_HITS, Recorded, SessionContext, history, run_in_session, with_memories};
