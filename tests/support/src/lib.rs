//! Test support for Pluto: local stand-ins for the paid LLM APIs, which cannot be reached from
//! the test machines.
//!
//! - [`server`]: an HTTP/1.1 server on `127.0.0.1:0` that records every request and answers
//!   from a script, writing bodies chunk by chunk (or cutting the connection mid-body).
//! - [`wire`]: each provider's streaming wire format, written as the real APIs write it:
//!   OpenAI/OpenRouter SSE chunks, Anthropic SSE events, Ollama NDJSON.
//! - [`model`]: a scripted model that calls tools and then answers with their results.

pub mod model;
pub mod server;
pub mod services;
pub mod wire;

pub use model::{Format, Step, scripted_model};
pub use server::{Recorded, Reply, StandIn};
