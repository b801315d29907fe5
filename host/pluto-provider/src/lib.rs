//! Pluto's LLM providers.
//!
//! Third stage of the data path (CLI/HTTP -> runtime -> **provider** -> tool dispatch -> ...).
//! Each provider speaks its API's own streaming wire format and implements
//! [`pluto_core::Provider`]:
//!
//! - [`openai`]: OpenAI chat completions (SSE), also used for OpenRouter and any compatible server;
//! - [`anthropic`]: Anthropic Messages (SSE events);
//! - [`ollama`]: Ollama `/api/chat` (NDJSON).
//!
//! All of them share one [`HttpClient`] (connection reuse, retries with backoff before the first
//! streamed byte, idle-stream timeouts). [`Endpoint::resolve`] turns a manifest's provider and the
//! conventional environment variables into a URL and key; it reads nothing itself.

pub mod anthropic;
mod client;
mod endpoint;
pub mod ollama;
pub mod openai;

use std::sync::Arc;

pub use client::{HttpClient, RetryPolicy};
pub use endpoint::Endpoint;
use pluto_core::Provider;
use pluto_paf::manifest::ProviderKind;

/// The provider for `kind` at `endpoint`, sharing `http`.
pub fn provider(kind: ProviderKind, endpoint: Endpoint, http: HttpClient) -> Arc<dyn Provider> {
    match kind {
        ProviderKind::Openrouter => Arc::new(openai::OpenAi::openrouter(endpoint, http)),
        ProviderKind::Openai => Arc::new(openai::OpenAi::official(endpoint, http)),
        ProviderKind::Anthropic => Arc::new(anthropic::Anthropic::new(endpoint, http)),
        ProviderKind::Ollama => Arc::new(ollama::Ollama::new(endpoint, http)),
    }
}
