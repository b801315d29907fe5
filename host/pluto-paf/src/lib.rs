//! The Pluto Agent Format (PAF v1) and sandbox policy files.
//!
//! This crate is the first stage of Pluto's data path: it turns what a user declared on disk —
//! agents in YAML + Markdown and capability policies in YAML — into typed values that the
//! runtime, the tool executors and the sandbox consume. It does no I/O beyond reading those files.
//!
//! Every problem it finds is a [`Diagnostic`] naming the file, line and column and saying what was
//! expected, so `pluto validate` and the server's agent loader report the same errors.
//!
//! # Layout
//! - [`diagnostic`]: positions, diagnostics and "did you mean" suggestions.
//! - `source`: reading a declaration file safely (size limit, text only).
//! - `yaml`: the only module that touches a YAML library.
//! - [`scalar`]: validated scalar values (names, `${VAR}` strings, durations, sizes, paths).
//! - [`manifest`] and [`tool`]: the typed agent manifest.
//! - [`instructions`]: the system prompt template and its placeholders.
//! - [`agent`]: loading one agent, folder or single-file form.
//! - [`policy`] and [`network`]: sandbox capability policies.
//! - [`catalog`]: loading a folder of agents and a folder of policies.

pub mod agent;
pub mod catalog;
pub mod diagnostic;
pub mod instructions;
pub mod manifest;
pub mod network;
pub mod policy;
pub mod scalar;
pub mod settings;
mod source;
pub mod tool;
mod yaml;

pub use agent::{Agent, AgentForm};
pub use catalog::Catalog;
pub use diagnostic::{Diagnostic, Diagnostics, Position};
pub use manifest::Manifest;
pub use policy::{Policy, PolicySet};
pub use source::MAX_FILE_BYTES;
