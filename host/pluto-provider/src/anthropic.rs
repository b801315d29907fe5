//! Anthropic Messages, streamed.
//!
//! Request: `POST {base}/v1/messages` with `x-api-key`, `anthropic-version: 2023-06-01` and
//! `stream: true`; the system prompt is a top-level field, tool results are `tool_result` blocks
//! in a user turn. Response: SSE events `message_start`, `content_block_start` (text or
//! `tool_use`), `content_block_delta` (`text_delta` or `input_json_delta`),
//! `content_block_stop`, `message_delta` (`stop_reason`, usage), `message_stop`, `ping`, and
//! `error`.

use async_trait::async_trait;
use futures::StreamExt;
use pluto_core::{
    ChatRequest, Message, OnText, Provider, ProviderError, StopReason, ToolCall, Turn,
};
use serde_json::{Value, json};

use crate::client::HttpClient;
use crate::endpoint::Endpoint;

const NAME: &str = "anthropic";
/// The API version Pluto speaks.
pub const API_VERSION: &str = "2023-06-01";
/// Anthropic requires `max_tokens`; this is used when the agent sets none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The Anthropic Messages provider.
#[derive(Debug, Clone)]
pub struct Anthropic {
    endpoint: Endpoint,
    http: HttpClient,
}

impl Anthropic {
    /// The provider at `endpoint`.
    pub fn new(endpoint: Endpoint, http: HttpClient) -> Self {
        Anthropic { endpoint, http }
    }

    /// The request body for `request`.
    pub fn body(&self, request: &ChatRequest<'_>) -> Value {
        // Roles must alternate, so consecutive messages of one role share one turn.
        let mut turns: Vec<(&str, Vec<Value>)> = Vec::new();
        for m in request.messages {
            let (role, blocks) = match m {
                Message::User { content } => {
                    ("user", vec![json!({"type": "text", "text": content})])
                }
                Message::Assistant {
                    content,
                    tool_calls,
                } => {
                    let mut blocks = Vec::new();
                    if !content.is_empty() {
                        blocks.push(json!({"type": "text", "text": content}));
                    }
                    for c in tool_calls {
                        let input: Value = serde_json::from_str(&c.arguments)
                            .ok()
                            .filter(Value::is_object)
                            .unwrap_or_else(|| json!({}));
                        blocks.push(
                            json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}),
                        );
                    }
                    ("assistant", blocks)
                }
                Message::Tool {
                    call_id,
                    content,
                    is_error,
                    ..
                } => {
                    let mut block =
                        json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
                    if *is_error {
                        block["is_error"] = json!(true);
                    }
                    ("user", vec![block])
                }
            };
            match turns.last_mut() {
                Some((last, existing)) if *last == role => existing.extend(blocks),
                _ => turns.push((role, blocks)),
            }
        }
        let messages: Vec<Value> = turns
            .into_iter()
            .map(|(role, blocks)| match blocks.as_slice() {
                [only] if only["type"] == "text" => json!({"role": role, "content": only["text"]}),
                _ => json!({"role": role, "content": blocks}),
            })
            .collect();
        let mut body = json!({
            "model": request.model,
            "max_tokens": request.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
            "messages": messages,
            "stream": true,
        });
        if !request.system.is_empty() {
            body["system"] = json!(request.system);
        }
        if !request.tools.is_empty() {
            body["tools"] = request
                .tools
                .iter()
                .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.input_schema}))
                .collect();
        }
        if let Some(t) = request.temperature {
            body["temperature"] = json!(t);
        }
        body
    }
}

#[async_trait]
impl Provider for Anthropic {
    async fn complete(
        &self,
        request: &ChatRequest<'_>,
        on_text: &mut OnText<'_>,
    ) -> Result<Turn, ProviderError> {
        let mut headers = vec![("anthropic-version", API_VERSION.to_owned())];
        if let Some(key) = &self.endpoint.api_key {
            headers.push(("x-api-key", key.clone()));
        }
        let url = format!("{}/v1/messages", self.endpoint.base_url);
        let response = self
            .http
            .post(NAME, &url, &headers, &self.body(request))
            .await?;
        let mut events = self.http.sse(NAME, response);
        let mut state = StreamState::default();
        while let Some(event) = events.next().await {
            let event = event?;
            if state.feed(&event.event, &event.data, on_text)? {
                return Ok(state.finish());
            }
        }
        Err(ProviderError::StreamCut {
            provider: NAME,
            message: "the stream closed before `message_stop`".to_owned(),
        })
    }
}

#[derive(Debug)]
enum Block {
    Text,
    ToolUse {
        call: ToolCall,
        started_with_input: Option<String>,
    },
    Other,
}

/// The turn being assembled from events.
#[derive(Debug, Default)]
pub struct StreamState {
    turn: Turn,
    blocks: Vec<Block>,
}

impl StreamState {
    /// Takes one event; `true` at `message_stop`.
    pub fn feed(
        &mut self,
        event: &str,
        data: &str,
        on_text: &mut OnText<'_>,
    ) -> Result<bool, ProviderError> {
        let malformed = |message: String| ProviderError::Malformed {
            provider: NAME,
            message,
        };
        let v: Value =
            serde_json::from_str(data).map_err(|e| malformed(format!("{e} in `{event}` event")))?;
        // The event name is also in `type`; servers that omit `event:` lines still work.
        let kind = if event.is_empty() || event == "message" {
            v["type"].as_str().unwrap_or_default()
        } else {
            event
        };
        match kind {
            "message_start" => {
                let usage = &v["message"]["usage"];
                self.turn.usage.input_tokens = usage["input_tokens"].as_u64().unwrap_or(0);
                self.turn.usage.output_tokens = usage["output_tokens"].as_u64().unwrap_or(0);
            }
            "content_block_start" => {
                let block = &v["content_block"];
                let index = v["index"].as_u64().unwrap_or(self.blocks.len() as u64) as usize;
                let parsed = match block["type"].as_str() {
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            on_text(text);
                            self.turn.text.push_str(text);
                        }
                        Block::Text
                    }
                    Some("tool_use") => Block::ToolUse {
                        call: ToolCall {
                            id: block["id"].as_str().unwrap_or_default().to_owned(),
                            name: block["name"].as_str().unwrap_or_default().to_owned(),
                            arguments: String::new(),
                        },
                        started_with_input: block.get("input").map(Value::to_string),
                    },
                    _ => Block::Other,
                };
                if index != self.blocks.len() {
                    return Err(malformed(format!(
                        "content block {index} started out of order"
                    )));
                }
                self.blocks.push(parsed);
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap_or(0) as usize;
                let delta = &v["delta"];
                match (self.blocks.get_mut(index), delta["type"].as_str()) {
                    (Some(Block::Text), Some("text_delta")) => {
                        let text = delta["text"].as_str().unwrap_or_default();
                        on_text(text);
                        self.turn.text.push_str(text);
                    }
                    (Some(Block::ToolUse { call, .. }), Some("input_json_delta")) => {
                        call.arguments
                            .push_str(delta["partial_json"].as_str().unwrap_or_default());
                    }
                    (Some(_), _) => {}
                    (None, _) => {
                        return Err(malformed(format!(
                            "delta for unknown content block {index}"
                        )));
                    }
                }
            }
            "message_delta" => {
                if let Some(reason) = v["delta"]["stop_reason"].as_str() {
                    self.turn.stop = match reason {
                        "end_turn" | "stop_sequence" => StopReason::EndTurn,
                        "tool_use" => StopReason::ToolUse,
                        "max_tokens" => StopReason::MaxTokens,
                        _ => StopReason::Other,
                    };
                }
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    self.turn.usage.output_tokens = n;
                }
                if let Some(n) = v["usage"]["input_tokens"].as_u64().filter(|n| *n > 0) {
                    self.turn.usage.input_tokens = n;
                }
            }
            "message_stop" => return Ok(true),
            "error" => {
                let message = v["error"]["message"]
                    .as_str()
                    .unwrap_or("unknown error")
                    .to_owned();
                let kind = v["error"]["type"].as_str().unwrap_or("error");
                return Err(ProviderError::Api {
                    provider: NAME,
                    message: format!("{kind}: {message}"),
                });
            }
            // `ping`, `content_block_stop`, and event types added later.
            _ => {}
        }
        Ok(false)
    }

    fn finish(self) -> Turn {
        let mut turn = self.turn;
        turn.tool_calls = self
            .blocks
            .into_iter()
            .filter_map(|b| match b {
                Block::ToolUse {
                    mut call,
                    started_with_input,
                } => {
                    if call.arguments.trim().is_empty() {
                        call.arguments = started_with_input.unwrap_or_else(|| "{}".to_owned());
                    }
                    Some(call)
                }
                Block::Text | Block::Other => None,
            })
            .collect();
        turn
    }
}
