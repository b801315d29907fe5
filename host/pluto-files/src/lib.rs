//! The `files` tool set, written once for every place it runs.
//!
//! The six tools — `read_file`, `write_file`, `edit_file`, `list_dir`, `glob`, `grep` — work on
//! an [`Fs`]: a folder seen through whatever gives access to it. Pluto's native tools pass a
//! cap-std folder (`pluto-tools`); the sandbox guest (`guest/files`) passes its WASI preopen. The
//! model therefore sees the same names, schemas and results in both modes.
//!
//! This crate has no async and no OS-specific dependencies, so that it builds for
//! `wasm32-wasip2` too.

mod fs;
pub mod output;
mod tools;

pub use fs::{Entry, Fs, Meta};
pub use tools::{Definition, Outcome, call, definitions};
