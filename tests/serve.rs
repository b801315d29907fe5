//! End-to-end tests of `pluto serve`: the real binary, a stand-in provider, real state stores.

#[path = "serve_common.rs"]
mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{Server, json_of, project, status, with_key};

use pluto_test_support::services::postgres_url;
use pluto_test_support::{Format, StandIn, Step, scripted_model};
use serde_json::{Value, json};

/// Answers with the user messages it was sent.
fn echo_users(body: &Value) -> Step {
    let users: Vec<&str> = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect();
    Step::answer(format!(
        "{} user message(s): {}",
        users.len(),
        users.join(" / ")
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_servers_sharing_postgres_continue_each_others_sessions() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let state = postgres_url();
    let a = Server::start(dir.path(), &model.url, &state);
    let b = Server::start(dir.path(), &model.url, &state);
    assert_ne!(a.url, b.url);
    let http = reqwest::Client::new();

    let first: Value = http
        .post(format!("{}/v1/agents/greeter/runs", a.url))
        .json(&json!({"input": "my name is Ada"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first["status"], "completed", "{first}");
    let session = first["session_id"].as_str().unwrap().to_owned();

    let second: Value = http
        .post(format!("{}/v1/agents/greeter/runs", b.url))
        .json(&json!({"input": "what is my name?", "session_id": session}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["status"], "completed", "{second}");
    assert_eq!(second["session_id"], session.as_str());
    assert_eq!(
        second["output"],
        "2 user message(s): my name is Ada / what is my name?"
    );

    // Either server shows the whole session.
    let on_a: Value = http
        .get(format!("{}/v1/sessions/{session}/events", a.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = on_a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == "run.completed").count(), 2);
    let ids: Vec<u64> = on_a["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, (1..=ids.len() as u64).collect::<Vec<_>>());
    let listed: Value = http
        .get(format!("{}/v1/agents/greeter/sessions", b.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["sessions"][0]["id"], session.as_str());
    assert_eq!(listed["sessions"][0]["last_seq"], ids.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_one_shape_and_the_right_status() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            http.post(format!("{}/v1/agents/greeter/runs", server.url))
                .body("{not json"),
            400,
            "invalid_json",
        ),
        (
            http.post(format!("{}/v1/agents/greeter/runs", server.url))
                .json(&json!({"input": 42})),
            400,
            "invalid_json",
        ),
        (
            http.post(format!("{}/v1/agents/nobody/runs", server.url))
                .json(&json!({"input": "hi"})),
            404,
            "not_found",
        ),
        (
            http.post(format!("{}/v1/agents/greeter/runs", server.url))
                .json(&json!({"input": "hi", "session_id": "../../etc"})),
            400,
            "invalid",
        ),
        (
            http.post(format!("{}/v1/agents/greeter/runs", server.url))
                .json(&json!({"input": "hi", "session_id": "missing"})),
            404,
            "not_found",
        ),
        (
            http.get(format!("{}/v1/sessions/missing", server.url)),
            404,
            "not_found",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(body["error"]["message"].as_str().unwrap().len() > 3);
    }
    let ready = http
        .get(format!("{}/readyz", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    // The file state is where --state said, in the server's folder.
    assert!(dir.path().join("state").is_dir());
}

#[tokio::test(flavor = "multi_thread")]
async fn artifacts_and_memory_over_http() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();
    let run: Value = http
        .post(format!("{}/v1/agents/greeter/runs", server.url))
        .json(&json!({"input": "hello"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = run["session_id"].as_str().unwrap();
    let artifact = format!("{}/v1/sessions/{session}/artifacts/report.md", server.url);

    for (i, body) in ["# draft\n", "# final\n"].iter().enumerate() {
        let saved = http
            .put(&artifact)
            .header("content-type", "text/markdown")
            .body(*body)
            .send()
            .await
            .unwrap();
        assert_eq!(saved.status().as_u16(), 201);
        let saved: Value = saved.json().await.unwrap();
        assert_eq!(saved["version"], i + 1);
    }
    let latest = http.get(&artifact).send().await.unwrap();
    assert_eq!(latest.headers()["content-type"], "text/markdown");
    assert_eq!(latest.headers()["x-artifact-version"], "2");
    assert_eq!(latest.text().await.unwrap(), "# final\n");
    let first = http
        .get(format!("{artifact}?version=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.text().await.unwrap(), "# draft\n");
    let listed: Value = http
        .get(format!("{}/v1/sessions/{session}/artifacts", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["artifacts"][0]["name"], "report.md");
    assert_eq!(listed["artifacts"][0]["version"], 2);
    assert!(
        listed["artifacts"][0].get("blob").is_none(),
        "storage keys stay inside"
    );
    let hostile = http
        .put(format!(
            "{}/v1/sessions/{session}/artifacts/..%2Fescape",
            server.url
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(hostile.status().as_u16(), 400);
    let gone = http.delete(&artifact).send().await.unwrap();
    assert_eq!(gone.status().as_u16(), 204);
    assert_eq!(
        http.get(&artifact).send().await.unwrap().status().as_u16(),
        404
    );

    let added = http
        .post(format!("{}/v1/memory", server.url))
        .json(&json!({"agent": "keeper", "text": "Releases ship on Tuesdays"}))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 201);
    let entry: Value = added.json().await.unwrap();
    assert_eq!(entry["scope"], "agent:keeper");
    let hits: Value = http
        .get(format!(
            "{}/v1/memory?agent=keeper&q=when+do+releases+ship",
            server.url
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        hits["hits"][0]["entry"]["text"],
        "Releases ship on Tuesdays"
    );
    let no_memory = http
        .get(format!("{}/v1/memory?agent=greeter&q=x", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_memory.status().as_u16(), 400);
    let id = entry["id"].as_str().unwrap();
    let deleted = http
        .delete(format!("{}/v1/memory/{id}", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let hits: Value = http
        .get(format!("{}/v1/memory?agent=keeper&q=releases", server.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hits["hits"], json!([]));
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// Reads server-sent events from a response, one at a time.
struct SseReader {
    stream: std::pin::Pin<
        Box<dyn futures::Stream<Item = Result<eventsource_stream::Event, String>> + Send>,
    >,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        use eventsource_stream::Eventsource;
        use futures::StreamExt;
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream"),
            "{:?}",
            response.headers()
        );
        SseReader {
            stream: Box::pin(
                response
                    .bytes_stream()
                    .eventsource()
                    .map(|e| e.map_err(|e| e.to_string())),
            ),
        }
    }

    async fn next(&mut self) -> Option<Sse> {
        use futures::StreamExt;
        let e = tokio::time::timeout(std::time::Duration::from_secs(20), self.stream.next())
            .await
            .expect("an event within 20 s")?
            .ok()?;
        Some(Sse {
            event: e.event,
            id: e.id.parse().ok(),
            data: serde_json::from_str(&e.data).unwrap_or(Value::Null),
        })
    }

    /// Every event until the stream ends.
    async fn rest(mut self) -> Vec<Sse> {
        let mut out = Vec::new();
        while let Some(e) = self.next().await {
            out.push(e);
        }
        out
    }
}

/// The model for the streaming tests: call `shell` with `command`, then report its output.
fn shell_brain(command: &'static str) -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    move |body: &Value| {
        // Each run calls the tool once: a tool result as the last message ends the run.
        let last = body["messages"].as_array().unwrap().last().unwrap();
        if last["role"] == "tool" {
            let said = last["content"]
                .as_str()
                .unwrap_or("")
                .lines()
                .next()
                .unwrap_or("");
            Step::answer(format!("The command said: {said}"))
        } else {
            Step::calls("Running it.", vec![("shell", json!({"command": command}))])
        }
    }
}

fn names(events: &[Sse]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_streamed_run_shows_its_tool_call_and_a_reconnect_gets_exactly_what_it_missed() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        shell_brain("sleep 1; echo done"),
    ))
    .await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();

    // The whole stream, start to end.
    let response = http
        .post(format!("{}/v1/agents/worker/runs", server.url))
        .header("accept", "text/event-stream")
        .json(&json!({"input": "run it"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let session = response.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let all = SseReader::new(response).rest().await;
    let seen = names(&all);
    for expected in [
        "run.started",
        "tool.started",
        "tool.completed",
        "run.completed",
    ] {
        assert!(seen.contains(&expected), "{seen:?}");
    }
    assert_eq!(seen.last(), Some(&"run.completed"));
    let ids: Vec<u64> = all.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "an id per event, in order"
    );
    let completed = all.iter().find(|e| e.event == "tool.completed").unwrap();
    assert_eq!(completed.data["name"], "shell");
    assert_eq!(all.last().unwrap().data["output"], "The command said: done");

    // A second run in the same session, detached; the client drops after `tool.started`…
    let response = http
        .post(format!("{}/v1/agents/worker/runs", server.url))
        .json(&json!({"input": "again", "session_id": session, "stream": true, "detach": true}))
        .send()
        .await
        .unwrap();
    let mut reader = SseReader::new(response);
    let mut before = Vec::new();
    while let Some(e) = reader.next().await {
        let stop = e.event == "tool.started";
        before.push(e);
        if stop {
            break;
        }
    }
    drop(reader);
    let last_seen = before.last().unwrap().id.unwrap();
    assert_eq!(
        before[0].id,
        Some(ids.len() as u64 + 1),
        "the session's numbering goes on"
    );

    // …and reconnects with Last-Event-ID: exactly the events after it, then the live rest.
    let response = http
        .get(format!("{}/v1/sessions/{session}/events", server.url))
        .header("accept", "text/event-stream")
        .header("last-event-id", last_seen.to_string())
        .send()
        .await
        .unwrap();
    let after = SseReader::new(response).rest().await;
    let after_ids: Vec<u64> = after.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(
        after_ids,
        (last_seen + 1..last_seen + 1 + after.len() as u64).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    let after_names = names(&after);
    assert_eq!(
        after_names.first(),
        Some(&"tool.completed"),
        "{after_names:?}"
    );
    assert_eq!(
        after_names.last(),
        Some(&"run.completed"),
        "{after_names:?}"
    );

    // The stored log agrees with what the two connections saw.
    let log: Value = http
        .get(format!(
            "{}/v1/sessions/{session}/events?after={}",
            server.url,
            ids.len()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let logged: Vec<u64> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    let streamed: Vec<u64> = before.iter().chain(&after).map(|e| e.id.unwrap()).collect();
    assert_eq!(logged, streamed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_cancels_its_run_and_cancel_stops_one() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        shell_brain("sleep 30; echo never"),
    ))
    .await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();

    // Disconnect mid-run (no `detach`): the run is cancelled and its session records it.
    let response = http
        .post(format!("{}/v1/agents/worker/runs", server.url))
        .json(&json!({"input": "go", "stream": true}))
        .send()
        .await
        .unwrap();
    let session = response.headers()["x-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let mut reader = SseReader::new(response);
    while let Some(e) = reader.next().await {
        if e.event == "tool.started" {
            break;
        }
    }
    drop(reader);
    let mut recorded = Vec::new();
    for _ in 0..100 {
        let log: Value = http
            .get(format!("{}/v1/sessions/{session}/events", server.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        recorded = log["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["event"].as_str().unwrap().to_owned())
            .collect();
        if recorded.last().is_some_and(|e| e == "run.cancelled") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        recorded.last().map(String::as_str),
        Some("run.cancelled"),
        "{recorded:?}"
    );

    // POST /v1/runs/{id}/cancel stops a run someone else is streaming.
    let response = http
        .post(format!("{}/v1/agents/worker/runs", server.url))
        .json(&json!({"input": "go", "stream": true}))
        .send()
        .await
        .unwrap();
    let run_id = response.headers()["x-run-id"].to_str().unwrap().to_owned();
    let mut reader = SseReader::new(response);
    while let Some(e) = reader.next().await {
        if e.event == "tool.started" {
            break;
        }
    }
    let cancel = http
        .post(format!("{}/v1/runs/{run_id}/cancel", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status().as_u16(), 202);
    let rest = reader.rest().await;
    assert_eq!(
        names(&rest).last(),
        Some(&"run.cancelled"),
        "{:?}",
        names(&rest)
    );
    let again = http
        .post(format!("{}/v1/runs/{run_id}/cancel", server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status().as_u16(), 404, "no longer in progress");
}

/// A request with a bearer key (or none).
/// What one tenant made, for the other to try to reach.
struct Holdings {
    session: String,
    memory_id: String,
    agent: &'static str,
}

async fn make_holdings(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    agent: &'static str,
) -> Holdings {
    let (code, run) = json_of(
        http.post(format!("{url}/v1/agents/{agent}/runs"))
            .bearer_auth(key)
            .json(&json!({"input": "hello"})),
    )
    .await;
    assert_eq!(code, 200, "{run}");
    let session = run["session_id"].as_str().unwrap().to_owned();
    let put = http
        .put(format!("{url}/v1/sessions/{session}/artifacts/notes.txt"))
        .bearer_auth(key)
        .body("private");
    assert_eq!(status(put).await, 201);
    let (code, entry) = json_of(
        http.post(format!("{url}/v1/memory"))
            .bearer_auth(key)
            .json(&json!({"scope": "user:shared-name", "text": format!("secret of {agent}")})),
    )
    .await;
    assert_eq!(code, 201, "{entry}");
    Holdings {
        session,
        memory_id: entry["id"].as_str().unwrap().to_owned(),
        agent,
    }
}

/// Every way `key` might reach `theirs`: each must look like it does not exist.
async fn cannot_touch(http: &reqwest::Client, url: &str, key: &str, theirs: &Holdings) {
    let s = &theirs.session;
    let k = Some(key);
    let checks = vec![
        (
            "get session",
            with_key(http.get(format!("{url}/v1/sessions/{s}")), k),
        ),
        (
            "read events",
            with_key(http.get(format!("{url}/v1/sessions/{s}/events")), k),
        ),
        (
            "resume events",
            with_key(http.get(format!("{url}/v1/sessions/{s}/events")), k)
                .header("accept", "text/event-stream"),
        ),
        (
            "delete session",
            with_key(http.delete(format!("{url}/v1/sessions/{s}")), k),
        ),
        (
            "list artifacts",
            with_key(http.get(format!("{url}/v1/sessions/{s}/artifacts")), k),
        ),
        (
            "read artifact",
            with_key(
                http.get(format!("{url}/v1/sessions/{s}/artifacts/notes.txt")),
                k,
            ),
        ),
        (
            "write artifact",
            with_key(
                http.put(format!("{url}/v1/sessions/{s}/artifacts/x.txt")),
                k,
            )
            .body("x"),
        ),
        (
            "delete artifact",
            with_key(
                http.delete(format!("{url}/v1/sessions/{s}/artifacts/notes.txt")),
                k,
            ),
        ),
        (
            "continue session",
            with_key(http.post(format!("{url}/v1/agents/greeter/runs")), k)
                .json(&json!({"input": "hi", "session_id": s})),
        ),
        (
            "delete memory",
            with_key(
                http.delete(format!("{url}/v1/memory/{}", theirs.memory_id)),
                k,
            ),
        ),
        (
            "see agent",
            with_key(http.get(format!("{url}/v1/agents/{}", theirs.agent)), k),
        ),
        (
            "run agent",
            with_key(
                http.post(format!("{url}/v1/agents/{}/runs", theirs.agent)),
                k,
            )
            .json(&json!({"input": "hi"})),
        ),
    ];
    for (what, request) in checks {
        let (code, body) = json_of(request).await;
        assert_eq!(code, 404, "{what}: {body}");
        assert_eq!(body["error"]["code"], "not_found", "{what}: {body}");
    }
    // Same scope name, other tenant: nothing of theirs is found.
    let (_, hits) = json_of(
        http.get(format!("{url}/v1/memory?scope=user:shared-name&q=secret"))
            .bearer_auth(key),
    )
    .await;
    let texts: Vec<&str> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["entry"]["text"].as_str().unwrap())
        .collect();
    assert!(
        !texts.contains(&format!("secret of {}", theirs.agent).as_str()),
        "{texts:?}"
    );
    let (_, agents) = json_of(http.get(format!("{url}/v1/agents")).bearer_auth(key)).await;
    let listed: Vec<&str> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert!(!listed.contains(&theirs.agent), "{listed:?}");
}

fn agent_files(name: &str) -> Value {
    json!({ format!("{name}.md"): format!(
        "---\npaf: 1\nname: {name}\ndescription: Belongs to one tenant\nmodel: {{ provider: openrouter, name: m }}\n---\nHelp.\n"
    )})
}

#[tokio::test(flavor = "multi_thread")]
async fn tenants_are_isolated_both_ways_and_keys_are_checked() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--admin-key", "admin-secret"],
    );
    let (url, http) = (server.url.clone(), reqwest::Client::new());
    let admin = |r: reqwest::RequestBuilder| r.bearer_auth("admin-secret");

    // The admin API makes tenants, keys and agents.
    let mut keys = Vec::new();
    for (tenant, agent) in [("acme", "acme-bot"), ("globex", "globex-bot")] {
        assert_eq!(
            status(admin(http.put(format!("{url}/admin/v1/tenants/{tenant}")))).await,
            201
        );
        assert_eq!(
            status(admin(http.put(format!("{url}/admin/v1/tenants/{tenant}")))).await,
            200
        );
        let (code, key) = json_of(admin(
            http.post(format!("{url}/admin/v1/tenants/{tenant}/keys")),
        ))
        .await;
        assert_eq!(code, 201, "{key}");
        keys.push((
            key["key"].as_str().unwrap().to_owned(),
            key["id"].as_str().unwrap().to_owned(),
        ));
        let deploy = admin(http.put(format!("{url}/admin/v1/tenants/{tenant}/agents/{agent}")))
            .json(&agent_files(agent));
        assert_eq!(status(deploy).await, 201);
    }
    let (a_key, b_key) = (keys[0].0.clone(), keys[1].0.clone());
    let a = make_holdings(&http, &url, &a_key, "acme-bot").await;
    let b = make_holdings(&http, &url, &b_key, "globex-bot").await;
    cannot_touch(&http, &url, &b_key, &a).await;
    cannot_touch(&http, &url, &a_key, &b).await;
    // Each still reaches its own.
    let own = http
        .get(format!(
            "{url}/v1/sessions/{}/artifacts/notes.txt",
            a.session
        ))
        .bearer_auth(&a_key);
    assert_eq!(own.send().await.unwrap().text().await.unwrap(), "private");
    // Shared agents serve every tenant.
    assert_eq!(
        status(
            http.get(format!("{url}/v1/agents/greeter"))
                .bearer_auth(&b_key)
        )
        .await,
        200
    );

    // No key, a wrong key, a revoked key, the admin key on /v1: 401.
    let sessions = format!("{url}/v1/sessions/{}", a.session);
    assert_eq!(status(http.get(&sessions)).await, 401);
    assert_eq!(
        status(http.get(&sessions).bearer_auth("pk_000000000000_wrong")).await,
        401
    );
    assert_eq!(
        status(http.get(&sessions).bearer_auth("admin-secret")).await,
        401
    );
    assert_eq!(status(http.get(&sessions).bearer_auth(&a_key)).await, 200);
    let revoke = admin(http.delete(format!("{url}/admin/v1/tenants/acme/keys/{}", keys[0].1)));
    assert_eq!(status(revoke).await, 204);
    let (code, body) = json_of(http.get(&sessions).bearer_auth(&a_key)).await;
    assert_eq!(code, 401);
    assert_eq!(body["error"]["code"], "unauthorized");
    // The admin API wants the admin key.
    assert_eq!(
        status(http.put(format!("{url}/admin/v1/tenants/x"))).await,
        401
    );
    assert_eq!(
        status(
            http.put(format!("{url}/admin/v1/tenants/x"))
                .bearer_auth(&b_key)
        )
        .await,
        401
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn deployed_agents_are_validated_like_pluto_validate() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--admin-key", "k"],
    );
    let (url, http) = (server.url.clone(), reqwest::Client::new());
    assert_eq!(
        status(
            http.put(format!("{url}/admin/v1/tenants/t1"))
                .bearer_auth("k")
        )
        .await,
        201
    );
    let broken = json!({"agent.yaml": "paf: 1\nname: bad\ndescription: x\nmodel: { provider: openrouter, name: m }\ntemprature: 2\n", "instructions.md": "Hi\n"});
    let (code, body) = json_of(
        http.put(format!("{url}/admin/v1/tenants/t1/agents/bad"))
            .bearer_auth("k")
            .json(&broken),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("agent.yaml:5:1"), "{message}");
    assert!(message.contains("temprature"), "{message}");
    let hostile = json!({"../../escape.md": "x"});
    let (code, body) = json_of(
        http.put(format!("{url}/admin/v1/tenants/t1/agents/bad"))
            .bearer_auth("k")
            .json(&hostile),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    let renamed = agent_files("other");
    let (code, body) = json_of(
        http.put(format!("{url}/admin/v1/tenants/t1/agents/bad"))
            .bearer_auth("k")
            .json(&renamed),
    )
    .await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("names the agent `other`")
    );
    let (code, _) = json_of(
        http.put(format!("{url}/admin/v1/tenants/nobody/agents/bad"))
            .bearer_auth("k")
            .json(&renamed),
    )
    .await;
    assert_eq!(code, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn export_and_import_move_an_agent_between_folders_and_servers() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let pluto = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
        cmd.current_dir(dir.path())
            .env_remove("PLUTO_AGENTS")
            .env_remove("PLUTO_ADMIN_KEY");
        cmd
    };
    let out = pluto()
        .args(["export", "worker", "-o", "worker.tar.gz"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = pluto()
        .args(["import", "worker.tar.gz", "--agents", "elsewhere"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("elsewhere/worker.md")).unwrap(),
        std::fs::read_to_string(dir.path().join("agents/worker.md")).unwrap()
    );
    let again = pluto()
        .args(["import", "worker.tar.gz", "--agents", "elsewhere"])
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing agent is not replaced without --force"
    );

    // A tampered bundle is refused.
    let mut bytes = std::fs::read(dir.path().join("worker.tar.gz")).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(dir.path().join("tampered.tar.gz"), &bytes).unwrap();
    let out = pluto()
        .args(["import", "tampered.tar.gz", "--agents", "third"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!dir.path().join("third/worker.md").exists());

    // Through a server's admin API, for a tenant.
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--admin-key", "k"],
    );
    let http = reqwest::Client::new();
    assert_eq!(
        status(
            http.put(format!("{}/admin/v1/tenants/t1", server.url))
                .bearer_auth("k")
        )
        .await,
        201
    );
    let out = pluto()
        .args([
            "import",
            "worker.tar.gz",
            "--server",
            &server.url,
            "--tenant",
            "t1",
        ])
        .env("PLUTO_ADMIN_KEY", "k")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, files) = json_of(
        http.get(format!("{}/admin/v1/tenants/t1/agents/worker", server.url))
            .bearer_auth("k"),
    )
    .await;
    assert_eq!(code, 200);
    assert!(
        files["worker.md"]
            .as_str()
            .unwrap()
            .contains("name: worker")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_are_valid_prometheus_text_and_runs_are_limited_per_tenant() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        shell_brain("sleep 2; echo ok"),
    ))
    .await;
    let dir = project();
    let server = Server::start_with(dir.path(), &model.url, "file://state", &["--max-runs", "1"]);
    let http = reqwest::Client::new();
    let runs = format!("{}/v1/agents/worker/runs", server.url);

    // One run in progress: a second is refused with 429 until it ends.
    let first = http
        .post(&runs)
        .json(&json!({"input": "one", "stream": true}))
        .send()
        .await
        .unwrap();
    let mut reader = SseReader::new(first);
    while let Some(e) = reader.next().await {
        if e.event == "tool.started" {
            break;
        }
    }
    let (code, body) = json_of(http.post(&runs).json(&json!({"input": "two"}))).await;
    assert_eq!(code, 429, "{body}");
    assert_eq!(body["error"]["code"], "too_many_runs");
    let rest = reader.rest().await;
    assert_eq!(names(&rest).last(), Some(&"run.completed"));
    let mut code = 0;
    for _ in 0..50 {
        code = status(http.post(&runs).json(&json!({"input": "three"}))).await;
        if code != 429 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(code, 200);

    // The exposition parses with the official Python client's OpenMetrics parser.
    let text = http
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let python = std::env::var("PLUTO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        print(s.name, ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())), s.value)
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e} (run `bash tests/run.sh`, which installs prometheus-client)")
        });
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "not valid OpenMetrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = String::from_utf8(out.stdout).unwrap();
    for expected in [
        "pluto_tool_calls_total outcome=ok,tool=shell 2\n",
        "pluto_http_requests_total method=POST,route=/v1/agents/{agent}/runs,status=429 1\n",
        "pluto_run_duration_seconds_count agent=worker,outcome=completed 2\n",
        "pluto_active_runs  0\n",
        "pluto_provider_tokens_total direction=input",
    ] {
        assert!(
            samples.contains(expected),
            "missing `{expected}` in:\n{samples}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_carries_several_runs_and_cancels() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        shell_brain("sleep 1; echo ws"),
    ))
    .await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let url = format!(
        "{}/v1/agents/worker/ws",
        server.url.replace("http://", "ws://")
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    for (i, input) in ["first", "second"].iter().enumerate() {
        let request = json!({"type": "run", "input": input, "request_id": format!("r{i}")});
        socket
            .send(Message::Text(request.to_string().into()))
            .await
            .unwrap();
    }
    socket
        .send(Message::Text(r#"{"type": "dance"}"#.into()))
        .await
        .unwrap();
    let mut accepted = Vec::new();
    let mut ended: HashMap<String, String> = HashMap::new();
    let mut errors = Vec::new();
    let mut ids: HashMap<String, Vec<u64>> = HashMap::new();
    while ended.len() < 2 {
        let message = tokio::time::timeout(std::time::Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")
            .unwrap()
            .unwrap();
        let Message::Text(text) = message else {
            continue;
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        match m["type"].as_str().unwrap() {
            "run.accepted" => accepted.push(m),
            "error" => errors.push(m),
            "event" => {
                let run = m["run_id"].as_str().unwrap().to_owned();
                ids.entry(run.clone())
                    .or_default()
                    .push(m["id"].as_u64().unwrap());
                let name = m["event"].as_str().unwrap();
                if name == "run.completed" {
                    ended.insert(run, m["data"]["output"].as_str().unwrap().to_owned());
                }
            }
            other => panic!("unexpected message type {other}"),
        }
    }
    assert_eq!(accepted.len(), 2, "{accepted:?}");
    let mut request_ids: Vec<&str> = accepted
        .iter()
        .map(|a| a["request_id"].as_str().unwrap())
        .collect();
    request_ids.sort();
    assert_eq!(request_ids, vec!["r0", "r1"]);
    assert!(
        ended.values().all(|o| o == "The command said: ws"),
        "{ended:?}"
    );
    assert_eq!(
        errors.len(),
        1,
        "the unknown message type is an error: {errors:?}"
    );
    assert_eq!(errors[0]["error"]["code"], "invalid_json");
    for seqs in ids.values() {
        assert_eq!(
            *seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "each run in its own session"
        );
    }

    // A cancel message stops a run on this connection.
    socket
        .send(Message::Text(
            json!({"type": "run", "input": "long"}).to_string().into(),
        ))
        .await
        .unwrap();
    let mut run_id = String::new();
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("closed")
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        if m["type"] == "run.accepted" {
            run_id = m["run_id"].as_str().unwrap().to_owned();
        }
        if m["event"] == "tool.started" {
            break;
        }
    }
    let cancel = json!({"type": "cancel", "run_id": run_id});
    socket
        .send(Message::Text(cancel.to_string().into()))
        .await
        .unwrap();
    loop {
        let Some(Ok(Message::Text(text))) = socket.next().await else {
            panic!("closed")
        };
        let m: Value = serde_json::from_str(&text).unwrap();
        if m["event"] == "run.cancelled" || m["event"] == "run.completed" {
            assert_eq!(m["event"], "run.cancelled");
            break;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_runs_finish_within_the_grace_period_then_cancels_them() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        shell_brain("sleep 30; echo late"),
    ))
    .await;
    let dir = project();
    let mut server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--grace", "500ms"],
    );
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/agents/worker/runs", server.url))
        .json(&json!({"input": "go", "stream": true}))
        .send()
        .await
        .unwrap();
    let mut reader = SseReader::new(response);
    while let Some(e) = reader.next().await {
        if e.event == "tool.started" {
            break;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(server.child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let rest = reader.rest().await;
    assert_eq!(
        names(&rest).last(),
        Some(&"run.cancelled"),
        "{:?}",
        names(&rest)
    );
    let status = tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_edited_agent_is_reloaded_and_a_broken_edit_keeps_the_last_good_version() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();
    let url = format!("{}/v1/agents/greeter", server.url);
    let description = |v: Value| v["description"].as_str().unwrap().to_owned();
    assert_eq!(
        description(http.get(&url).send().await.unwrap().json().await.unwrap()),
        "Greets"
    );
    let file = dir.path().join("agents/greeter.md");
    std::fs::write(&file, "---\npaf: 1\nname: greeter\ndescription: Greets warmly\nmodel: { provider: openrouter, name: m }\n---\nGreet.\n").unwrap();
    assert_eq!(
        description(http.get(&url).send().await.unwrap().json().await.unwrap()),
        "Greets warmly"
    );
    std::fs::write(
        &file,
        "---\npaf: 1\nname: greeter\ndescription: [broken\n---\n",
    )
    .unwrap();
    let (code, body) = json_of(http.get(&url)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(description(body), "Greets warmly");
}

#[tokio::test(flavor = "multi_thread")]
async fn pluto_yaml_sets_what_flags_and_variables_do_not() {
    let dir = project();
    std::fs::write(
        dir.path().join("pluto.yaml"),
        "bind: 127.0.0.1:0\nstate: file://from-config\nagents: agents\nmax_runs: 3\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("serve")
        .current_dir(dir.path())
        .env_remove("PLUTO_STATE")
        .env_remove("PLUTO_BIND")
        .env_remove("PLUTO_AGENTS")
        .env_remove("PLUTO_CONFIG")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://127.0.0.1:"), "{line}");
    assert!(line.contains("files in from-config"), "{line}");

    // A flag wins over the file.
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args(["serve", "--bind", "10.0.0.1:80"])
        .current_dir(dir.path())
        .env_remove("PLUTO_ADMIN_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to serve 10.0.0.1:80 without authentication"),
        "{err}"
    );

    // A mistake in the file is reported with its line and column.
    std::fs::write(
        dir.path().join("pluto.yaml"),
        "bind: 127.0.0.1:0\nmax_rnus: 3\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .arg("serve")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pluto.yaml:2:1: error: unknown setting `max_rnus`"),
        "{err}"
    );
    assert!(err.contains("did you mean `max_runs`?"), "{err}");
}

/// The Python of the tests' virtual environment (`bash tests/run.sh` makes it).
fn python() -> String {
    std::env::var("PLUTO_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

/// Calls the tool (slowly for the `slowpoke` agent), then answers with what it said.
fn protocol_brain(body: &Value) -> Step {
    let messages = body["messages"].as_array().unwrap();
    let slow = messages[0]["content"]
        .as_str()
        .unwrap_or("")
        .contains("Slow");
    let last = messages.last().unwrap();
    if last["role"] == "tool" {
        let said = last["content"]
            .as_str()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("");
        Step::answer(format!("The tool said: {said}"))
    } else {
        let command = if slow {
            "sleep 30; echo late"
        } else {
            "echo tool-output"
        };
        Step::calls("", vec![("shell", json!({"command": command}))])
    }
}

fn protocol_project() -> tempfile::TempDir {
    let dir = project();
    std::fs::write(
        dir.path().join("agents/slowpoke.md"),
        "---\npaf: 1\nname: slowpoke\ndescription: Takes its time\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: shell\n---\nSlow.\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_a2a_sdk_streams_sends_gets_and_cancels_tasks() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, protocol_brain)).await;
    let dir = protocol_project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(repo_file("tests/a2a_client.py"))
            .args([&url, "worker", "slowpoke"])
            .output()
            .expect("run the A2A client (bash tests/run.sh installs a2a-sdk)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the A2A client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["card_name"], "worker");
    assert_eq!(seen["card_url"], format!("{}/a2a/worker", server.url));
    let kinds: Vec<&str> = seen["streamed_kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"task"), "{kinds:?}");
    assert!(kinds.contains(&"artifact_update"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"status_update"), "{kinds:?}");
    assert_eq!(seen["streamed_state"], "TASK_STATE_COMPLETED");
    assert_eq!(seen["streamed_answer"], "The tool said: tool-output");
    assert_eq!(seen["sent_state"], "TASK_STATE_COMPLETED");
    assert_eq!(seen["sent_answer"], "The tool said: tool-output");
    assert_eq!(
        seen["sent_context"], seen["context_id"],
        "contextId is the session"
    );
    assert_eq!(seen["got_state"], "TASK_STATE_COMPLETED");
    assert_eq!(
        seen["got_history_roles"],
        json!(["ROLE_USER", "ROLE_AGENT"])
    );
    assert_eq!(seen["cancel_answer_state"], "TASK_STATE_CANCELED");
    assert_eq!(
        seen["cancel_stream_states"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "TASK_STATE_CANCELED"
    );
    // The context is a Pluto session holding both runs.
    let context = seen["context_id"].as_str().unwrap();
    let (_, log) =
        json_of(reqwest::Client::new().get(format!("{}/v1/sessions/{context}/events", server.url)))
            .await;
    let runs = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "run.completed")
        .count();
    assert_eq!(runs, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a2a_0_3_requests_get_0_3_shapes_and_errors_are_json_rpc() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, protocol_brain)).await;
    let dir = protocol_project();
    let server = Server::start(dir.path(), &model.url, "file://state");
    let http = reqwest::Client::new();
    let rpc = format!("{}/a2a/worker", server.url);
    let send = json!({"jsonrpc": "2.0", "id": 7, "method": "message/send", "params": {"message": {
        "kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "hi"}]}}});
    let (code, body) = json_of(http.post(&rpc).json(&send)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["id"], 7);
    let task = &body["result"];
    assert_eq!(task["kind"], "task", "{body}");
    assert_eq!(task["status"]["state"], "completed");
    assert_eq!(
        task["artifacts"][0]["parts"][0],
        json!({"kind": "text", "text": "The tool said: tool-output"})
    );
    assert_eq!(task["history"][0]["role"], "user");
    let get =
        json!({"jsonrpc": "2.0", "id": "g", "method": "tasks/get", "params": {"id": task["id"]}});
    let (_, got) = json_of(http.post(&rpc).json(&get)).await;
    assert_eq!(got["result"]["status"]["state"], "completed", "{got}");
    // Tool details only when asked for, as data parts.
    let mut asked = send.clone();
    asked["params"]["metadata"] = json!({"pluto/toolDetails": true});
    let (_, detailed) = json_of(http.post(&rpc).json(&asked)).await;
    let parts = detailed["result"]["history"][1]["parts"]
        .as_array()
        .unwrap();
    assert_eq!(parts[0]["kind"], "data", "{detailed}");
    assert_eq!(parts[0]["data"]["tool"], "shell");
    assert!(
        !task["history"].to_string().contains("\"data\""),
        "no details unless asked"
    );
    // A 0.3 stream: task, artifact-update, then a final status-update.
    let mut stream = send.clone();
    stream["method"] = json!("message/stream");
    let response = http.post(&rpc).json(&stream).send().await.unwrap();
    let events = SseReader::new(response).rest().await;
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e.data["result"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["task", "artifact-update", "status-update"]);
    assert_eq!(events.last().unwrap().data["result"]["final"], true);
    // Errors in JSON-RPC's shape.
    for (request, expected) in [
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/dance"}),
            -32601,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/get", "params": {"id": "nope.1"}}),
            -32001,
        ),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {}}),
            -32602,
        ),
        (json!({"id": 1, "method": "message/send"}), -32600),
        (
            json!({"jsonrpc": "2.0", "id": 1, "method": "tasks/cancel", "params": {"id": task["id"]}}),
            -32002,
        ),
    ] {
        let (code, body) = json_of(http.post(&rpc).json(&request)).await;
        assert_eq!(code, 200);
        assert_eq!(body["error"]["code"], expected, "{request} -> {body}");
    }
    let (_, body) = json_of(http.post(&rpc).body("{not json")).await;
    assert_eq!(body["error"]["code"], -32700);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_shipped_agents_card_validates_against_the_a2a_1_0_schema() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--state",
            "file://state",
            "--default-agent",
            "coder",
        ])
        .arg("--agents")
        .arg(repo_file("agents"))
        .arg("--policies")
        .arg(repo_file("sandbox-policies"))
        .current_dir(dir.path())
        .env_remove("PLUTO_ADMIN_KEY")
        .env_remove("OPENROUTER_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .env("OPENROUTER_BASE_URL", format!("{}/api/v1", model.url))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let server = Server { child, url };
    let http = reqwest::Client::new();
    let (_, agents) = json_of(http.get(format!("{}/v1/agents", server.url))).await;
    let names: Vec<String> = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.len() >= 3, "{names:?}");
    let mut cards = Vec::new();
    for name in &names {
        let (code, card) = json_of(http.get(format!(
            "{}/a2a/{name}/.well-known/agent-card.json",
            server.url
        )))
        .await;
        assert_eq!(code, 200, "{name}: {card}");
        cards.push(card);
    }
    let (code, default) =
        json_of(http.get(format!("{}/.well-known/agent-card.json", server.url))).await;
    assert_eq!(code, 200);
    assert_eq!(default["name"], "coder");
    // The SDK's own v1.0 types, strictly: no unknown field, every required field present.
    let script = r#"
import json, sys
from google.protobuf.json_format import ParseDict
from a2a.types.a2a_pb2 import AgentCard
for raw in json.load(sys.stdin):
    card = ParseDict(raw, AgentCard(), ignore_unknown_fields=False)
    for field in ("name", "description", "version"):
        assert getattr(card, field), (raw["name"], field)
    assert card.supported_interfaces and card.default_input_modes and card.default_output_modes, raw["name"]
    assert card.capabilities.streaming, raw["name"]
    for i in card.supported_interfaces:
        assert i.url and i.protocol_binding == "JSONRPC" and i.protocol_version == "1.0", raw["name"]
    assert card.skills, raw["name"]
    for s in card.skills:
        assert s.id and s.name and s.description and s.tags, (raw["name"], s.id)
    print(card.name, len(card.skills))
"#;
    let mut check = Command::new(python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(&cards).unwrap().as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        names.len()
    );
    // Skills come from the manifest's `card.skills` where it has them.
    let researcher = cards.iter().find(|c| c["name"] == "researcher").unwrap();
    let coder = cards.iter().find(|c| c["name"] == "coder").unwrap();
    assert!(
        researcher["skills"].as_array().unwrap().len() + coder["skills"].as_array().unwrap().len()
            >= 2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_agent_protocol_client_runs_tasks_steps_and_artifacts() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, protocol_brain)).await;
    let dir = protocol_project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--default-agent", "worker"],
    );
    let url = server.url.clone();
    let ap_python = std::env::var("PLUTO_TEST_AP_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(ap_python)
            .arg(repo_file("tests/ap_client.py"))
            .arg(&url)
            .output()
            .expect("run the Agent Protocol client (bash tests/run.sh installs it)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the Agent Protocol client failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        seen["step"]["output"], "The tool said: tool-output",
        "{seen}"
    );
    assert_eq!(seen["step"]["is_last"], true);
    assert_eq!(seen["step"]["status"], "completed");
    assert_eq!(
        seen["step"]["input"], "use the tool please",
        "the task's input feeds its first step"
    );
    assert!(
        seen["listed_tasks"]
            .as_array()
            .unwrap()
            .contains(&seen["task_id"])
    );
    assert_eq!(seen["task_pagination"]["current_page"], 1);
    assert_eq!(seen["listed_steps"].as_array().unwrap().len(), 2);
    assert_eq!(seen["got_step_output"], "The tool said: tool-output");
    assert_eq!(seen["uploaded"]["file_name"], "notes.txt");
    assert_eq!(seen["listed_artifacts"], json!(["notes.txt"]));
    assert_eq!(seen["downloaded"], "hello artifact");
    assert_eq!(seen["missing"], 404);

    // The alias and the per-agent routes reach the same tasks.
    let http = reqwest::Client::new();
    let task = seen["task_id"].as_str().unwrap();
    for prefix in ["/api/v1", "/agents/worker/ap/v1"] {
        let (code, body) =
            json_of(http.get(format!("{}{prefix}/agent/tasks/{task}", server.url))).await;
        assert_eq!(code, 200, "{prefix}: {body}");
        assert_eq!(body["task_id"], task);
    }
    let (code, body) = json_of(http.get(format!(
        "{}/agents/slowpoke/ap/v1/agent/tasks/{task}",
        server.url
    )))
    .await;
    assert_eq!(code, 404, "a task of another agent: {body}");
    assert!(body["message"].as_str().unwrap().contains("not found"));
    let (code, _) = json_of(
        http.post(format!("{}/ap/v1/agent/tasks/{task}/steps", server.url))
            .body("{\"input\": 5}"),
    )
    .await;
    assert_eq!(code, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agents_tools_are_served_over_mcp_streamable_http_per_tenant() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, echo_users)).await;
    let dir = project();
    let server = Server::start_with(
        dir.path(),
        &model.url,
        "file://state",
        &["--admin-key", "adm"],
    );
    let (url, http) = (server.url.clone(), reqwest::Client::new());
    let mut keys = Vec::new();
    for tenant in ["acme", "globex"] {
        assert_eq!(
            status(
                http.put(format!("{url}/admin/v1/tenants/{tenant}"))
                    .bearer_auth("adm")
            )
            .await,
            201
        );
        let (_, key) = json_of(
            http.post(format!("{url}/admin/v1/tenants/{tenant}/keys"))
                .bearer_auth("adm"),
        )
        .await;
        keys.push(key["key"].as_str().unwrap().to_owned());
    }
    let filer = json!({"filer.md": "---\npaf: 1\nname: filer\ndescription: Files\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: files\n---\nFiles.\n"});
    let deploy = http
        .put(format!("{url}/admin/v1/tenants/acme/agents/filer"))
        .bearer_auth("adm")
        .json(&filer);
    assert_eq!(status(deploy).await, 201);
    let ws = dir.path().join(".pluto/workspaces/acme");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(ws.join("hello.txt"), "hello from acme's workspace\n").unwrap();

    let client = |key: String| {
        let url = format!("{url}/mcp/filer");
        tokio::task::spawn_blocking(move || {
            Command::new(python())
                .arg(repo_file("tests/mcp_http_client.py"))
                .args([&url, &key])
                .output()
                .unwrap()
        })
    };
    let out = client(keys[0].clone()).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        seen["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("read_file")),
        "{seen}"
    );
    assert_eq!(seen["is_error"], false);
    assert!(
        seen["read"]
            .as_str()
            .unwrap()
            .contains("hello from acme's workspace"),
        "{seen}"
    );
    // Another tenant's key does not reach acme's agent; no key is refused.
    let out = client(keys[1].clone()).await.unwrap();
    assert!(!out.status.success(), "globex must not see acme's agent");
    let out = client("-".into()).await.unwrap();
    assert!(!out.status.success(), "no key, no tools");
}
