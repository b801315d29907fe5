//! Each provider against a local stand-in that speaks its wire format byte for byte.

use std::time::{Duration, Instant};

use pluto_core::{ChatRequest, Message, ProviderError, StopReason, ToolCall, ToolDef};
use pluto_paf::manifest::ProviderKind;
use pluto_provider::{Endpoint, HttpClient, RetryPolicy, provider};
use pluto_test_support::{Format, Reply, StandIn, Step, wire};
use serde_json::json;

fn kind(format: Format) -> ProviderKind {
    match format {
        Format::OpenAi => ProviderKind::Openai,
        Format::OpenRouter => ProviderKind::Openrouter,
        Format::Anthropic => ProviderKind::Anthropic,
        Format::Ollama => ProviderKind::Ollama,
    }
}

fn http() -> HttpClient {
    HttpClient::new()
        .with_retry(RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(5),
        })
        .with_idle_timeout(Duration::from_secs(5))
}

fn tools() -> Vec<ToolDef> {
    vec![ToolDef {
        name: "shell".into(),
        description: "Run a command".into(),
        input_schema: json!({"type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}),
    }]
}

/// Runs one turn against `server` and returns the text seen through `on_text` and the result.
async fn turn(
    format: Format,
    server: &StandIn,
    messages: &[Message],
) -> (String, Result<pluto_core::Turn, ProviderError>) {
    let endpoint = Endpoint {
        base_url: server.url.clone(),
        api_key: Some("sk-test".into()),
    };
    let p = provider(kind(format), endpoint, http());
    let tools = tools();
    let request = ChatRequest {
        model: "test-model",
        system: "Be brief.",
        messages,
        tools: &tools,
        temperature: Some(0.5),
        max_tokens: Some(100),
    };
    let mut seen = String::new();
    let result = p.complete(&request, &mut |t: &str| seen.push_str(t)).await;
    (seen, result)
}

fn two_calls() -> Step {
    Step::calls(
        "Let me look.",
        vec![
            (
                "shell",
                json!({"command": "ls -la \"my dir\"", "timeout_ms": 5000}),
            ),
            (
                "write_file",
                json!({"path": "a/b.txt", "content": "line 1\nline 2 — ünïcode"}),
            ),
        ],
    )
}

#[tokio::test]
async fn streams_text_and_parallel_fragmented_tool_calls_in_every_format() {
    for format in Format::ALL {
        let server = StandIn::start(move |_, _| format.reply(&two_calls())).await;
        let (seen, result) = turn(format, &server, &[Message::user("list files")]).await;
        let turn = result.unwrap_or_else(|e| panic!("{format:?}: {e}"));
        assert_eq!(seen, "Let me look.", "{format:?}");
        assert_eq!(turn.text, "Let me look.", "{format:?}");
        assert_eq!(turn.stop, StopReason::ToolUse, "{format:?}");
        assert_eq!(turn.tool_calls.len(), 2, "{format:?}");
        assert_eq!(turn.tool_calls[0].name, "shell");
        let args: serde_json::Value = serde_json::from_str(&turn.tool_calls[0].arguments).unwrap();
        assert_eq!(
            args,
            json!({"command": "ls -la \"my dir\"", "timeout_ms": 5000}),
            "{format:?}"
        );
        let args: serde_json::Value = serde_json::from_str(&turn.tool_calls[1].arguments).unwrap();
        assert_eq!(args["content"], "line 1\nline 2 — ünïcode", "{format:?}");
        assert_ne!(turn.tool_calls[0].id, turn.tool_calls[1].id, "{format:?}");
        assert!(
            turn.usage.input_tokens > 0 && turn.usage.output_tokens > 0,
            "{format:?}: {:?}",
            turn.usage
        );

        let request = &server.requests()[0];
        assert!(
            request.path.ends_with(format.path()),
            "{format:?}: {}",
            request.path
        );
        let body = request.json();
        assert_eq!(body["stream"], true);
        match format {
            Format::OpenAi | Format::OpenRouter => {
                assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
                assert_eq!(body["stream_options"]["include_usage"], true);
                assert_eq!(
                    body["messages"][0],
                    json!({"role": "system", "content": "Be brief."})
                );
                assert_eq!(body["tools"][0]["function"]["name"], "shell");
                let attribution = (
                    request.header("http-referer").is_some(),
                    request.header("x-openrouter-title"),
                );
                if format == Format::OpenRouter {
                    assert_eq!(attribution, (true, Some("Pluto")));
                    assert_eq!(body["max_tokens"], 100);
                } else {
                    assert_eq!(attribution, (false, None));
                    assert_eq!(body["max_completion_tokens"], 100);
                }
            }
            Format::Anthropic => {
                assert_eq!(request.header("x-api-key"), Some("sk-test"));
                assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
                assert_eq!(body["system"], "Be brief.");
                assert_eq!(body["max_tokens"], 100);
                assert_eq!(body["tools"][0]["input_schema"]["required"][0], "command");
            }
            Format::Ollama => {
                assert_eq!(request.header("authorization"), None);
                assert_eq!(body["options"]["num_predict"], 100);
                assert_eq!(body["tools"][0]["function"]["parameters"]["type"], "object");
            }
        }
    }
}

#[tokio::test]
async fn tool_results_go_back_in_each_providers_form() {
    let history = [
        Message::user("go"),
        Message::Assistant {
            content: String::new(),
            tool_calls: vec![
                ToolCall {
                    id: "c1".into(),
                    name: "shell".into(),
                    arguments: r#"{"command":"ls"}"#.into(),
                },
                ToolCall {
                    id: "c2".into(),
                    name: "read_file".into(),
                    arguments: r#"{"path":"x"}"#.into(),
                },
            ],
        },
        Message::Tool {
            call_id: "c1".into(),
            name: "shell".into(),
            content: "a b".into(),
            is_error: false,
        },
        Message::Tool {
            call_id: "c2".into(),
            name: "read_file".into(),
            content: "no such file".into(),
            is_error: true,
        },
    ];
    for format in Format::ALL {
        let server = StandIn::start(move |_, _| format.reply(&Step::answer("ok"))).await;
        let (_, result) = turn(format, &server, &history).await;
        assert_eq!(result.unwrap().text, "ok");
        let body = server.requests()[0].json();
        let m = &body["messages"];
        match format {
            Format::OpenAi | Format::OpenRouter => {
                assert_eq!(
                    m[2]["tool_calls"][1]["function"],
                    json!({"name": "read_file", "arguments": r#"{"path":"x"}"#})
                );
                assert_eq!(m[2]["content"], serde_json::Value::Null);
                assert_eq!(
                    m[3],
                    json!({"role": "tool", "tool_call_id": "c1", "content": "a b"})
                );
                assert_eq!(
                    m[4],
                    json!({"role": "tool", "tool_call_id": "c2", "content": "no such file"})
                );
            }
            Format::Anthropic => {
                assert_eq!(m[0], json!({"role": "user", "content": "go"}));
                assert_eq!(
                    m[1]["content"][0],
                    json!({"type": "tool_use", "id": "c1", "name": "shell", "input": {"command": "ls"}})
                );
                // Both results in one user turn, the failed one flagged.
                assert_eq!(
                    m[2],
                    json!({"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "c1", "content": "a b"},
                        {"type": "tool_result", "tool_use_id": "c2", "content": "no such file", "is_error": true},
                    ]})
                );
            }
            Format::Ollama => {
                assert_eq!(
                    m[2]["tool_calls"][0],
                    json!({"function": {"name": "shell", "arguments": {"command": "ls"}}})
                );
                assert_eq!(
                    m[3],
                    json!({"role": "tool", "tool_name": "shell", "content": "a b"})
                );
            }
        }
        assert_eq!(
            format.tool_results(&body),
            ["a b", "no such file"],
            "{format:?}"
        );
    }
}

#[tokio::test]
async fn retries_a_429_after_its_retry_after_and_a_500_then_succeeds() {
    for format in Format::ALL {
        let server = StandIn::start(move |_, i| match i {
            0 => Reply::error(429, r#"{"error":{"message":"rate limited"}}"#)
                .with_header("retry-after", "1"),
            1 => Reply::error(500, r#"{"error":{"message":"upstream exploded"}}"#),
            _ => format.reply(&Step::answer("finally")),
        })
        .await;
        let started = Instant::now();
        let (_, result) = turn(format, &server, &[Message::user("hi")]).await;
        assert_eq!(result.unwrap().text, "finally", "{format:?}");
        assert_eq!(server.requests().len(), 3, "{format:?}");
        assert!(
            started.elapsed() >= Duration::from_secs(1),
            "Retry-After was not honoured"
        );
    }
}

#[tokio::test]
async fn gives_up_with_the_providers_message_when_retries_run_out_or_the_status_is_final() {
    let server =
        StandIn::start(|_, _| Reply::error(503, r#"{"error":{"message":"overloaded"}}"#)).await;
    let (_, result) = turn(Format::OpenAi, &server, &[Message::user("hi")]).await;
    assert_eq!(
        result.unwrap_err(),
        ProviderError::Http {
            provider: "openai",
            status: 503,
            message: "overloaded".into()
        }
    );
    assert_eq!(server.requests().len(), 3);

    let server = StandIn::start(|_, _| Reply::error(401, r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#)).await;
    let (_, result) = turn(Format::Anthropic, &server, &[Message::user("hi")]).await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "anthropic answered HTTP 401: invalid x-api-key"
    );
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn a_stream_cut_in_the_middle_is_an_error_not_a_short_answer() {
    for format in Format::ALL {
        let server = StandIn::start(move |_, _| format.reply(&two_calls()).cut_after(4)).await;
        let (_, result) = turn(format, &server, &[Message::user("hi")]).await;
        match result {
            Err(ProviderError::StreamCut { .. }) => {}
            other => panic!("{format:?}: expected a cut stream, got {other:?}"),
        }
        assert_eq!(
            server.requests().len(),
            1,
            "{format:?}: a started stream is not retried"
        );
    }
}

#[tokio::test]
async fn mid_stream_errors_are_reported() {
    let cases = [
        (
            Format::OpenRouter,
            wire::openrouter_error("Provider disconnected unexpectedly"),
            "Provider disconnected unexpectedly",
        ),
        (
            Format::Anthropic,
            wire::anthropic_error("overloaded_error", "Overloaded"),
            "overloaded_error: Overloaded",
        ),
        (
            Format::Ollama,
            wire::ollama_error("model runner has unexpectedly stopped"),
            "model runner has unexpectedly stopped",
        ),
    ];
    for (format, error, message) in cases {
        let server = StandIn::start(move |_, _| {
            let mut reply = format.reply(&Step::answer("partial answer"));
            reply.chunks.insert(2, error.clone().into_bytes());
            reply
        })
        .await;
        let (_, result) = turn(format, &server, &[Message::user("hi")]).await;
        match result {
            Err(ProviderError::Api { message: m, .. }) => assert_eq!(m, message, "{format:?}"),
            other => panic!("{format:?}: expected an API error, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unreachable_provider_is_a_connect_error_after_retries() {
    let endpoint = Endpoint {
        base_url: "http://127.0.0.1:9".into(),
        api_key: None,
    };
    let p = provider(ProviderKind::Ollama, endpoint, http());
    let request = ChatRequest {
        model: "m",
        system: "",
        messages: &[Message::user("hi")],
        tools: &[],
        temperature: None,
        max_tokens: None,
    };
    let err = p.complete(&request, &mut |_: &str| {}).await.unwrap_err();
    assert!(
        matches!(
            err,
            ProviderError::Connect {
                provider: "ollama",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_silent_stream_times_out() {
    let server = StandIn::start(|_, _| {
        let mut reply = Format::OpenAi.reply(&Step::answer("slow answer"));
        reply.pause = Duration::from_millis(1500);
        reply
    })
    .await;
    let endpoint = Endpoint {
        base_url: server.url.clone(),
        api_key: Some("k".into()),
    };
    let p = provider(
        ProviderKind::Openai,
        endpoint,
        http().with_idle_timeout(Duration::from_millis(300)),
    );
    let request = ChatRequest {
        model: "m",
        system: "",
        messages: &[Message::user("hi")],
        tools: &[],
        temperature: None,
        max_tokens: None,
    };
    let started = Instant::now();
    let err = p.complete(&request, &mut |_: &str| {}).await.unwrap_err();
    assert_eq!(err.to_string(), "openai sent nothing for 300ms; giving up");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}
