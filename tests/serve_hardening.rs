//! Attack tests of `pluto serve` by class: MCP sessions used across tenants and agents,
//! `/metrics` read without its key, descriptors and connection slots exhausted by idle or slow
//! clients, oversized requests.

#[path = "serve_common.rs"]
mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{Server, json_of, project, status};
use pluto_test_support::{Format, StandIn, Step, scripted_model};
use serde_json::{Value, json};

fn answer(_: &Value) -> Step {
    Step::answer("ok")
}

/// Starts a server with authentication, tenants `acme` and `globex`, and agent `filer`
/// deployed for acme only; returns it with each tenant's key.
async fn two_tenants(extra: &[&str]) -> (Server, StandIn, tempfile::TempDir, [String; 2]) {
    let model = StandIn::start(scripted_model(Format::OpenRouter, answer)).await;
    let dir = project();
    let mut args = vec!["--admin-key", "adm"];
    args.extend_from_slice(extra);
    let server = Server::start_with(dir.path(), &model.url, "file://state", &args);
    let http = reqwest::Client::new();
    let mut keys = Vec::new();
    for tenant in ["acme", "globex"] {
        let put = http
            .put(format!("{}/admin/v1/tenants/{tenant}", server.url))
            .bearer_auth("adm");
        assert_eq!(status(put).await, 201);
        let (_, key) = json_of(
            http.post(format!("{}/admin/v1/tenants/{tenant}/keys", server.url))
                .bearer_auth("adm"),
        )
        .await;
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    let filer = json!({"filer.md": "---\npaf: 1\nname: filer\ndescription: Files\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: files\n---\nFiles.\n"});
    let deploy = http
        .put(format!("{}/admin/v1/tenants/acme/agents/filer", server.url))
        .bearer_auth("adm")
        .json(&filer);
    assert_eq!(status(deploy).await, 201);
    let keys = [keys[0].clone(), keys[1].clone()];
    (server, model, dir, keys)
}

/// One MCP streamable-HTTP request: its status, the session id it names, its body.
async fn mcp(
    url: &str,
    method: reqwest::Method,
    key: &str,
    session: Option<&str>,
    body: Option<Value>,
) -> (u16, Option<String>, String) {
    let mut request = reqwest::Client::new()
        .request(method, url)
        .bearer_auth(key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18");
    if let Some(id) = session {
        request = request.header("mcp-session-id", id);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    let id = response
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    // A standalone SSE stream stays open: read only what is there at once.
    let text = tokio::time::timeout(Duration::from_secs(2), response.text())
        .await
        .unwrap_or(Ok(String::new()))
        .unwrap_or_default();
    (code, id, text)
}

fn initialize() -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "attack", "version": "1"}}})
}

fn list_tools(id: u64) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": {}})
}

#[tokio::test(flavor = "multi_thread")]
async fn an_mcp_session_belongs_to_the_tenant_and_agent_that_opened_it() {
    let (server, _model, _dir, [acme, globex]) = two_tenants(&[]).await;
    let filer = format!("{}/mcp/filer", server.url);
    let post = reqwest::Method::POST;
    let (code, session, _) = mcp(&filer, post.clone(), &acme, None, Some(initialize())).await;
    assert_eq!(code, 200);
    let session = session.expect("a session id");
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let (code, _, _) = mcp(&filer, post.clone(), &acme, Some(&session), Some(note)).await;
    assert!(code < 300, "{code}");
    let (code, _, body) = mcp(
        &filer,
        post.clone(),
        &acme,
        Some(&session),
        Some(list_tools(2)),
    )
    .await;
    assert_eq!(code, 200);
    assert!(body.contains("read_file"), "{body}");

    // Another tenant's key: acme's session is not there for it, whatever it does with it.
    for (method, body) in [
        (post.clone(), Some(list_tools(3))),
        (reqwest::Method::GET, None),
        (reqwest::Method::DELETE, None),
    ] {
        let (code, _, text) = mcp(&filer, method.clone(), &globex, Some(&session), body).await;
        assert_eq!(code, 404, "{method}: {text}");
        assert!(!text.contains("read_file"), "{text}");
    }
    // Nor for acme's key on another agent's path.
    let other = format!("{}/mcp/greeter", server.url);
    let (code, _, _) = mcp(
        &other,
        post.clone(),
        &acme,
        Some(&session),
        Some(list_tools(4)),
    )
    .await;
    assert_eq!(code, 404);
    // No session is opened on an agent the key cannot use.
    let (code, id, _) = mcp(&filer, post.clone(), &globex, None, Some(initialize())).await;
    assert_eq!((code, id), (404, None));
    // The attempts changed nothing: acme's session works, then acme ends it, and it is gone.
    let (code, _, body) = mcp(
        &filer,
        post.clone(),
        &acme,
        Some(&session),
        Some(list_tools(5)),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("read_file"), "{body}");
    let (code, _, _) = mcp(&filer, reqwest::Method::DELETE, &acme, Some(&session), None).await;
    assert!(code < 300, "{code}");
    let (code, _, _) = mcp(
        &filer,
        post.clone(),
        &acme,
        Some(&session),
        Some(list_tools(6)),
    )
    .await;
    assert_eq!(code, 404);
    // A body over --max-body gets 413 in the API's shape, not an unbounded read.
    let huge = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": {"pad": "x".repeat(2 << 20)}});
    let (code, _, text) = mcp(&filer, post, &acme, None, Some(huge)).await;
    assert_eq!(code, 413, "{text}");
    assert!(text.contains("too_large"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_their_key_and_name_no_tenants_agents() {
    let (server, _model, _dir, [acme, _]) = two_tenants(&["--metrics-key", "scrape-secret"]).await;
    let http = reqwest::Client::new();
    let run = http
        .post(format!("{}/v1/agents/filer/runs", server.url))
        .bearer_auth(&acme)
        .json(&json!({"input": "hi"}));
    assert_eq!(status(run).await, 200);
    let metrics = format!("{}/metrics", server.url);
    assert_eq!(status(http.get(&metrics)).await, 401);
    assert_eq!(status(http.get(&metrics).bearer_auth(&acme)).await, 401);
    assert_eq!(status(http.get(&metrics).bearer_auth("wrong")).await, 401);
    for key in ["scrape-secret", "adm"] {
        let response = http.get(&metrics).bearer_auth(key).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let text = response.text().await.unwrap();
        assert!(text.contains("pluto_run_duration_seconds"), "{text}");
        assert!(!text.contains("filer"), "a tenant's agent is named: {text}");
        assert!(text.contains("agent=\"*\""), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_may_name_agents_when_the_operator_says_so() {
    let (server, _model, _dir, [acme, _]) =
        two_tenants(&["--metrics-key", "s", "--metrics-labels"]).await;
    let http = reqwest::Client::new();
    let run = http
        .post(format!("{}/v1/agents/filer/runs", server.url))
        .bearer_auth(&acme)
        .json(&json!({"input": "hi"}));
    assert_eq!(status(run).await, 200);
    let text = http
        .get(format!("{}/metrics", server.url))
        .bearer_auth("s")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("agent=\"filer\""), "{text}");
}

fn connect(url: &str) -> TcpStream {
    TcpStream::connect(url.trim_start_matches("http://")).unwrap()
}

/// A raw GET on `stream`; the status code, or `None` when the server closed the connection.
fn get(stream: &mut TcpStream, path: &str) -> Option<u16> {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).ok()?;
    let head = String::from_utf8_lossy(&buf[..n]);
    head.split_whitespace().nth(1)?.parse().ok()
}

/// Whether the server closes `stream` within `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    let started = Instant::now();
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
        if started.elapsed() > within {
            return false;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_past_the_usual_descriptor_limit_do_not_starve_health_checks() {
    // The test itself holds 1,100 sockets.
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    let model = StandIn::start(scripted_model(Format::OpenRouter, answer)).await;
    let dir = project();
    // Started as a service manager would: soft limit 1,024, hard 4,096.
    let server = Server::start_wrapped(
        dir.path(),
        &model.url,
        "file://state",
        &[],
        &["prlimit", "--nofile=1024:4096"],
    );
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.child.id())).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_owned();
    assert!(
        open_files.split_whitespace().nth(3) == Some("4096"),
        "the soft limit was not raised: {open_files}"
    );
    let url = server.url.clone();
    let idle: Vec<TcpStream> = (0..1_100).map(|_| connect(&url)).collect();
    let started = Instant::now();
    let response = reqwest::Client::new()
        .get(format!("{url}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_connection_cap_health_checks_still_answer_and_the_rest_get_503() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, answer)).await;
    let dir = project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--max-connections", "20"],
    );
    let url = server.url.clone();
    let held: Vec<TcpStream> = (0..20).map(|_| connect(&url)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = connect(&url);
    assert_eq!(get(&mut over, "/healthz"), Some(200));
    let mut over = connect(&url);
    assert_eq!(get(&mut over, "/readyz"), Some(200));
    let mut over = connect(&url);
    assert_eq!(get(&mut over, "/v1/agents"), Some(503));
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    // Slots are back once the idle clients leave; the refusals were counted.
    let text = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused = text
        .lines()
        .find(|l| l.starts_with("pluto_connections_refused_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refused >= 3, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_keep_alives_are_cut_but_a_quiet_stream_is_not() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, |body: &Value| {
        let last = body["messages"].as_array().unwrap().last().unwrap();
        if last["role"] == "tool" {
            Step::answer("done")
        } else {
            Step::calls(
                "",
                vec![("shell", json!({"command": "sleep 3; echo late"}))],
            )
        }
    }))
    .await;
    let dir = project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--header-timeout", "1s", "--idle-timeout", "1s"],
    );
    let url = server.url.clone();
    // A client that never finishes its headers.
    let mut slow = connect(&url);
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(4)));
    // A client that sends nothing at all.
    let mut silent = connect(&url);
    assert!(closed_within(&mut silent, Duration::from_secs(4)));
    // A kept-alive connection after its request.
    let mut kept = connect(&url);
    assert_eq!(get(&mut kept, "/healthz"), Some(200));
    assert!(closed_within(&mut kept, Duration::from_secs(4)));
    // A streamed run silent for 3 s (its tool sleeps) is busy, not idle: it completes.
    let response = reqwest::Client::new()
        .post(format!("{url}/v1/agents/worker/runs"))
        .json(&json!({"input": "go", "stream": true}))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    assert!(text.contains("run.completed"), "{text}");
    assert!(text.contains("late"), "{text}");
}

/// Runs schemathesis (installed by tests/run.sh) against the server's `/openapi.json` with `key`
/// and the operations `filter` selects; its report when it finds anything.
fn schemathesis(url: &str, key: &str, filter: &[&str]) -> Result<(), String> {
    let program =
        std::env::var("PLUTO_TEST_SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into());
    let config =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/schemathesis.toml");
    let seed = std::env::var("PLUTO_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261203".into());
    // It keeps a cache of examples in its working folder: not in the clone.
    let scratch = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(&program)
        .current_dir(scratch.path())
        .arg("--config-file")
        .arg(&config)
        .args([
            "run",
            &format!("{url}/openapi.json"),
            "-H",
            &format!("Authorization: Bearer {key}"),
        ])
        .args([
            "--max-examples",
            "5",
            "--phases",
            "examples,coverage,fuzzing",
            "-w",
            "1",
            "--seed",
            &seed,
        ])
        .args(filter)
        .env("NO_COLOR", "1")
        .output()
        .unwrap_or_else(|e| {
            panic!("{program}: {e} (run `bash tests/run.sh`, which installs schemathesis)")
        });
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_api_answers_as_its_own_document_says() {
    let (server, _model, _dir, [acme, _]) = two_tenants(&["--metrics-key", "scrape"]).await;
    let http = reqwest::Client::new();
    // A malformed query gets the one JSON error shape, not axum's plain text.
    let (code, body) = json_of(
        http.get(format!(
            "{}/v1/agents/filer/sessions?limit=lots",
            server.url
        ))
        .bearer_auth(&acme),
    )
    .await;
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    // The document says which key each operation needs.
    let (_, doc) = json_of(http.get(format!("{}/openapi.json", server.url))).await;
    assert_eq!(
        doc["paths"]["/v1/agents"]["get"]["security"],
        json!([{"bearer": []}])
    );
    assert_eq!(
        doc["paths"]["/admin/v1/tenants/{tenant}"]["put"]["security"],
        json!([{"admin": []}])
    );
    assert_eq!(
        doc["paths"]["/metrics"]["get"]["security"],
        json!([{"metrics": []}])
    );
    assert_eq!(doc["paths"]["/healthz"]["get"]["security"], json!([]));
    // Every operation, by every check schemathesis has: tenant routes with a tenant's key, the
    // admin API with the admin key, /metrics with its key. (The WebSocket and MCP endpoints
    // speak their own protocols and are tested with their clients.)
    let url = server.url.clone();
    let runs = [
        (
            acme.clone(),
            ["--exclude-path-regex", "^/admin|^/mcp|/ws$|^/metrics$"],
        ),
        ("adm".to_owned(), ["--include-path-regex", "^/admin/"]),
        ("scrape".to_owned(), ["--include-path-regex", "^/metrics$"]),
    ];
    let reports = tokio::task::spawn_blocking(move || {
        runs.iter()
            .filter_map(|(key, filter)| schemathesis(&url, key, filter).err())
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(reports.is_empty(), "{}", reports.join("\n\n"));
}
