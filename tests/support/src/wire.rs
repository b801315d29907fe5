//! Each provider's streaming wire format, written the way the real APIs write it: the same
//! framing, field names, field order, ids and fragmentation (text in word pieces, tool-call
//! arguments in 7-byte pieces), so that Pluto's real client code parses it.

use serde_json::{Value, json};

use crate::model::Step;

const CREATED: u64 = 1_764_000_000;

fn pieces(s: &str, size: usize) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

fn words(s: &str) -> Vec<String> {
    s.split_inclusive(' ').map(str::to_owned).collect()
}

/// OpenAI chat completion chunks (`openrouter` adds its comment lines and its field set).
pub fn openai(step: &Step, openrouter: bool) -> Vec<String> {
    let id = if openrouter {
        "gen-1764000000-AbCdEfGh"
    } else {
        "chatcmpl-CUnpL2kZQ7rvN9Jk3tA1"
    };
    let model = if openrouter {
        "openai/gpt-4.1"
    } else {
        "gpt-4.1-2025-04-14"
    };
    let chunk = |choices: Value, usage: Value| -> String {
        let mut c = json!({"id": id, "object": "chat.completion.chunk", "created": CREATED, "model": model});
        if openrouter {
            c["provider"] = json!("OpenAI");
        } else {
            c["service_tier"] = json!("default");
            c["system_fingerprint"] = json!("fp_b3f1157249");
        }
        c["choices"] = choices;
        if !openrouter || !usage.is_null() {
            c["usage"] = usage;
        }
        format!("data: {c}\n\n")
    };
    let choice = |delta: Value, finish: Value| {
        let mut c = json!({"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish});
        if openrouter {
            c["native_finish_reason"] = finish.clone();
        }
        json!([c])
    };
    let mut out = Vec::new();
    if openrouter {
        out.push(": OPENROUTER PROCESSING\n\n".to_owned());
    }
    out.push(chunk(
        choice(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        Value::Null,
    ));
    for w in words(&step.text) {
        out.push(chunk(
            choice(json!({"content": w}), Value::Null),
            Value::Null,
        ));
    }
    for (i, (name, args)) in step.tools.iter().enumerate() {
        let call_id = format!("call_{}{i}", &"Zq8PwR3nT5vY"[..10]);
        out.push(chunk(
            choice(
                json!({"tool_calls": [{"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                Value::Null,
            ),
            Value::Null,
        ));
        if openrouter && i == 0 {
            out.push(": OPENROUTER PROCESSING\n\n".to_owned());
        }
        for piece in pieces(&args.to_string(), 7) {
            out.push(chunk(
                choice(
                    json!({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}),
                    Value::Null,
                ),
                Value::Null,
            ));
        }
    }
    let finish = if step.tools.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    out.push(chunk(choice(json!({}), json!(finish)), Value::Null));
    out.push(chunk(
        json!([]),
        json!({"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150,
               "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
               "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                   "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}),
    ));
    out.push("data: [DONE]\n\n".to_owned());
    out
}

/// OpenRouter's mid-stream error chunk.
pub fn openrouter_error(message: &str) -> String {
    let c = json!({"id": "gen-1764000000-AbCdEfGh", "object": "chat.completion.chunk", "created": CREATED,
        "model": "openai/gpt-4.1", "provider": "OpenAI",
        "error": {"code": "server_error", "message": message},
        "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]});
    format!("data: {c}\n\n")
}

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// Anthropic Messages stream events.
pub fn anthropic(step: &Step) -> Vec<String> {
    let mut out = vec![sse(
        "message_start",
        &json!({"type": "message_start", "message": {"id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message",
            "role": "assistant", "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 472, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0, "output_tokens": 2, "service_tier": "standard"}}}),
    )];
    let mut index = 0;
    if !step.text.is_empty() {
        out.push(sse("content_block_start", &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        out.push("event: ping\ndata: {\"type\": \"ping\"}\n\n".to_owned());
        for w in words(&step.text) {
            out.push(sse("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}})));
        }
        out.push(sse(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 0}),
        ));
        index = 1;
    }
    for (i, (name, args)) in step.tools.iter().enumerate() {
        let n = index + i;
        out.push(sse(
            "content_block_start",
            &json!({"type": "content_block_start", "index": n, "content_block": {"type": "tool_use",
                "id": format!("toolu_01T1x1fJ34qAmk2tNTrN7Up{i}"), "name": name, "input": {}}}),
        ));
        out.push(sse("content_block_delta", &json!({"type": "content_block_delta", "index": n, "delta": {"type": "input_json_delta", "partial_json": ""}})));
        for piece in pieces(&args.to_string(), 7) {
            out.push(sse("content_block_delta", &json!({"type": "content_block_delta", "index": n, "delta": {"type": "input_json_delta", "partial_json": piece}})));
        }
        out.push(sse(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": n}),
        ));
    }
    let stop = if step.tools.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    out.push(sse("message_delta", &json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": {"output_tokens": 89}})));
    out.push(sse("message_stop", &json!({"type": "message_stop"})));
    out
}

/// Anthropic's `error` event.
pub fn anthropic_error(kind: &str, message: &str) -> String {
    sse(
        "error",
        &json!({"type": "error", "error": {"type": kind, "message": message}}),
    )
}

/// Ollama `/api/chat` NDJSON lines.
pub fn ollama(step: &Step) -> Vec<String> {
    let line = |message: Value, done: bool| {
        let mut l = json!({"model": "llama3.2", "created_at": "2026-11-24T11:31:23.456789Z", "message": message, "done": done});
        if done {
            l["done_reason"] = json!("stop");
            l["total_duration"] = json!(4_883_583_458u64);
            l["load_duration"] = json!(1_334_875);
            l["prompt_eval_count"] = json!(26);
            l["prompt_eval_duration"] = json!(342_546_000);
            l["eval_count"] = json!(282);
            l["eval_duration"] = json!(4_535_599_000u64);
        }
        format!("{l}\n")
    };
    let mut out: Vec<String> = words(&step.text)
        .iter()
        .map(|w| line(json!({"role": "assistant", "content": w}), false))
        .collect();
    if !step.tools.is_empty() {
        let calls: Vec<Value> = step
            .tools
            .iter()
            .map(|(name, args)| json!({"function": {"name": name, "arguments": args}}))
            .collect();
        out.push(line(
            json!({"role": "assistant", "content": "", "tool_calls": calls}),
            false,
        ));
    }
    out.push(line(json!({"role": "assistant", "content": ""}), true));
    out
}

/// Ollama's mid-stream error line.
pub fn ollama_error(message: &str) -> String {
    format!("{}\n", json!({"error": message}))
}
