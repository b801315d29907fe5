//! End-to-end tests of MCP tools: `pluto run` with official MCP servers from npm (installed into
//! tests/mcp by `bash tests/run.sh`) over stdio and streamable HTTP, and with a server that
//! misbehaves on purpose (tests/mcp/misbehave.js).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use pluto_test_support::{Format, StandIn, Step, scripted_model};
use serde_json::{Value, json};

fn mcp_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mcp")
}

fn server_script(package: &str) -> String {
    let path = mcp_dir()
        .join("node_modules/@modelcontextprotocol")
        .join(package)
        .join("dist/index.js");
    assert!(
        path.exists(),
        "{} is missing: run `bash tests/run.sh`, which installs the MCP servers",
        path.display()
    );
    path.display().to_string()
}

/// A model that calls `tool` with `args` once, then answers with the tool's result.
fn caller(tool: &'static str, args: Value) -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    move |body: &Value| {
        let last = body["messages"].as_array().unwrap().last().unwrap();
        if last["role"] == "tool" {
            Step::answer(format!(
                "RESULT: {}",
                last["content"].as_str().unwrap_or("")
            ))
        } else {
            Step::calls("", vec![(tool, args.clone())])
        }
    }
}

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// An agent `a` whose tools section is `tools` (YAML, indented two spaces).
    fn new(tools: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        let agent = format!(
            "---\npaf: 1\nname: a\ndescription: Uses MCP tools\nmodel: {{ provider: openrouter, name: m }}\ntools:\n{tools}---\nUse the tools.\n"
        );
        std::fs::write(dir.path().join("a.md"), agent).unwrap();
        Project { dir }
    }

    fn run(&self, model: &str, extra_env: &[(&str, &str)], json_events: bool) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
        cmd.args(["run", "a.md", "go"])
            .args(if json_events { vec!["--json"] } else { vec![] })
            .current_dir(self.dir.path())
            .env("OPENROUTER_BASE_URL", format!("{model}/api/v1"))
            .env("OPENROUTER_API_KEY", "sk-or-test")
            .env_remove("PLUTO_STATE")
            .env_remove("PLUTO_MCP_TIMEOUT");
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `tool.completed` events of a `pluto run --json`.
fn tool_results(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "tool.completed")
        .collect()
}

fn stdio_everything() -> String {
    format!(
        "  - mcp: everything\n    command: node\n    args: [\"{}\", \"stdio\"]\n",
        server_script("server-everything")
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_echo_over_stdio() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        caller("everything__echo", json!({"message": "hello from MCP"})),
    ))
    .await;
    let project = Project::new(&stdio_everything());
    let out = tokio::task::spawn_blocking(move || project.run(&model.url, &[], false))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "RESULT: Echo: hello from MCP",
        "{}",
        text(&out.stderr)
    );
}

/// A `node … streamableHttp` server-everything on a free port, killed when dropped.
struct HttpServer {
    child: Child,
    port: u16,
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_http_everything() -> HttpServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("node")
        .args([
            server_script("server-everything").as_str(),
            "streamableHttp",
        ])
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "server-everything did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    HttpServer { child, port }
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_echo_over_streamable_http_with_a_header_from_the_environment() {
    let server = start_http_everything();
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        caller("everything__echo", json!({"message": "over HTTP"})),
    ))
    .await;
    let tools = format!(
        "  - mcp: everything\n    url: http://127.0.0.1:{}/mcp\n    headers: {{ X-Api-Key: \"${{EVERYTHING_TOKEN}}\" }}\n",
        server.port
    );
    let project = Project::new(&tools);
    let url = model.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        project.run(&url, &[("EVERYTHING_TOKEN", "t0k3n")], false)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "RESULT: Echo: over HTTP");

    // Without the variable: a clear message naming the server and the variable; the run goes on.
    let project = Project::new(&format!(
        "  - mcp: everything\n    url: http://127.0.0.1:{}/mcp\n    headers: {{ X-Api-Key: \"${{EVERYTHING_TOKEN}}\" }}\n",
        server.port
    ));
    let plain = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("no tools, fine")
    }))
    .await;
    let out = tokio::task::spawn_blocking(move || project.run(&plain.url, &[], false))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("MCP server `everything`"), "{err}");
    assert!(err.contains("EVERYTHING_TOKEN"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn results_map_text_images_structured_content_and_resource_links() {
    for (tool, args, check) in [
        ("everything__get-tiny-image", json!({}), "image"),
        (
            "everything__get-structured-content",
            json!({"location": "Chicago"}),
            "structured",
        ),
        (
            "everything__get-resource-links",
            json!({"count": 2}),
            "links",
        ),
    ] {
        let model = StandIn::start(scripted_model(Format::OpenRouter, caller(tool, args))).await;
        let project = Project::new(&stdio_everything());
        let out = tokio::task::spawn_blocking(move || project.run(&model.url, &[], true))
            .await
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let completed: Value = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|e| e["type"] == "tool.completed")
            .expect("a tool.completed event");
        assert_eq!(completed["is_error"], false, "{completed}");
        assert_eq!(completed["details"]["server"], "everything");
        let content = completed["content"].as_str().unwrap();
        match check {
            "image" => {
                assert!(content.contains("[image: image/png"), "{content}");
                assert_eq!(completed["details"]["media"][0]["mimeType"], "image/png");
            }
            "structured" => assert!(
                completed["details"]["structured_content"].is_object(),
                "{completed}"
            ),
            _ => {
                let resources = completed["details"]["resources"]
                    .as_array()
                    .expect("resource links in details");
                assert_eq!(resources.len(), 2, "{completed}");
                assert_eq!(resources[0]["type"], "resource_link");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_memory_server_keeps_a_knowledge_graph() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, caller(
        "memory__create_entities",
        json!({"entities": [{"name": "Pluto", "entityType": "project", "observations": ["hosts agents"]}]}),
    ))).await;
    let tools = format!(
        "  - mcp: memory\n    command: node\n    args: [\"{}\"]\n    env: {{ MEMORY_FILE_PATH: \"${{GRAPH_DIR}}/graph.jsonl\" }}\n    include: [create_entities, read_graph]\n",
        server_script("server-memory")
    );
    let project = Project::new(&tools);
    let graph = project.dir.path().to_path_buf();
    let url = model.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let g = graph.display().to_string();
        project.run(&url, &[("GRAPH_DIR", &g)], false)
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Pluto"), "{}", text(&out.stdout));
    let requests = model.requests();
    let offered: Vec<String> = requests[0].json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        offered,
        vec!["memory__create_entities", "memory__read_graph"],
        "include: filters the tools"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn misbehaving_servers_give_tool_errors_and_the_run_goes_on() {
    let script = mcp_dir().join("misbehave.js").display().to_string();
    for (mode, expected) in [
        ("crash", "MCP server `bad`"),
        ("hang", "did not answer within"),
        ("garbage", "MCP server `bad`"),
        ("iserror", "the tool failed on purpose"),
    ] {
        let model = StandIn::start(scripted_model(
            Format::OpenRouter,
            caller("bad__boom", json!({})),
        ))
        .await;
        let project = Project::new(&format!(
            "  - mcp: bad\n    command: node\n    args: [\"{script}\", \"{mode}\"]\n"
        ));
        let url = model.url.clone();
        let started = std::time::Instant::now();
        let out = tokio::task::spawn_blocking(move || {
            project.run(&url, &[("PLUTO_MCP_TIMEOUT", "2s")], true)
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out.stderr));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{mode} took {:?}",
            started.elapsed()
        );
        let events: Vec<Value> = text(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let completed = events
            .iter()
            .find(|e| e["type"] == "tool.completed")
            .expect("tool.completed");
        assert_eq!(completed["is_error"], true, "{mode}: {completed}");
        assert!(
            completed["content"].as_str().unwrap().contains(expected),
            "{mode}: {completed}"
        );
        assert_eq!(
            events.last().unwrap()["type"],
            "run.completed",
            "{mode}: the run goes on"
        );
    }

    // A server that cannot start: the user is told which, and the agent runs without it.
    let plain = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("fine")
    }))
    .await;
    let project = Project::new("  - mcp: ghost\n    command: /no/such/program\n");
    let out = tokio::task::spawn_blocking(move || project.run(&plain.url, &[], false))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = text(&out.stderr);
    assert!(
        err.contains("MCP server `ghost`") && err.contains("/no/such/program"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_list_prints_each_servers_tools_and_schemas() {
    let project = Project::new(&format!("{}    exclude: [get-env]\n", stdio_everything()));
    let out = Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args(["mcp", "list", "a.md", "--json"])
        .current_dir(project.dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let tools = listed["everything"]["tools"].as_array().unwrap();
    let echo = tools
        .iter()
        .find(|t| t["name"] == "everything__echo")
        .expect("echo");
    assert_eq!(echo["input_schema"]["required"], json!(["message"]));
    assert!(
        tools.iter().all(|t| t["name"] != "everything__get-env"),
        "exclude: filters the tools"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_official_mcp_python_sdk_uses_pluto_mcp_serve_native_and_sandboxed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("files.md"),
        "---\npaf: 1\nname: files\ndescription: Works on files\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: files\n---\nWork.\n",
    )
    .unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).unwrap();
    std::fs::write(dir.path().join("outside.txt"), "secret").unwrap();
    let calls = json!([
        ["write_file", {"path": "from-mcp.txt", "content": "written over MCP\n"}],
        ["read_file", {"path": "from-mcp.txt"}],
        ["read_file", {"path": "../outside.txt"}],
    ]);
    for extra in [None, Some("--sandbox")] {
        let mut args = vec![
            "mcp",
            "serve",
            "--agent",
            "files.md",
            "--workspace",
            ws.to_str().unwrap(),
        ];
        args.extend(extra);
        let seen = mcp_calls(dir.path(), calls.clone(), &args, &[]).await;
        assert_eq!(seen["server"], "pluto-files");
        let mut names: Vec<&str> = seen["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "edit_file",
                "glob",
                "grep",
                "list_dir",
                "read_file",
                "write_file"
            ]
        );
        assert!(
            seen["tools"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["schema"]["type"] == "object"),
            "{seen}"
        );
        let results = &seen["results"];
        assert_eq!(results[0]["is_error"], false, "{seen}");
        assert!(
            results[1]["text"]
                .as_str()
                .unwrap()
                .contains("written over MCP"),
            "{seen}"
        );
        assert!(
            results[1]["structured"].is_object(),
            "details travel as structured content: {seen}"
        );
        assert_eq!(results[2]["is_error"], true, "the workspace holds: {seen}");
        assert!(!results[2]["text"].as_str().unwrap().contains("secret"));
    }
    assert_eq!(
        std::fs::read_to_string(ws.join("from-mcp.txt")).unwrap(),
        "written over MCP\n"
    );
}

/// A folder with agent `files.md`, which has the `files` tools.
fn files_agent() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("files.md"),
        "---\npaf: 1\nname: files\ndescription: Works on files\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: files\n---\nWork.\n",
    )
    .unwrap();
    dir
}

/// `pluto mcp serve --agent files.md ARGS` in `dir`, with piped stdio.
fn mcp_serve(dir: &std::path::Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_pluto"))
        .args(["mcp", "serve", "--agent", "files.md"])
        .args(args)
        .current_dir(dir)
        .env_remove("PLUTO_STATE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn mcp_serve_exits_cleanly_when_stdin_closes() {
    let dir = files_agent();
    let mut child = mcp_serve(dir.path(), &[]);
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "pluto mcp serve did not exit"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "nothing but MCP on stdout");
}

/// Runs `pluto mcp serve` on agent `files.md` in `dir` with `args`, sends `messages` (one per
/// line), closes stdin and returns every answer it printed.
fn mcp_serve_exchange(dir: &std::path::Path, args: &[&str], messages: &[String]) -> Vec<Value> {
    use std::io::Write;
    let mut child = mcp_serve(dir, args);
    let mut stdin = child.stdin.take().unwrap();
    for m in messages {
        stdin.write_all(m.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
    }
    // Let the answers come before the end of input ends the session.
    std::thread::sleep(std::time::Duration::from_secs(3));
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:.200}")))
        .collect()
}

#[test]
fn an_oversized_mcp_message_gets_an_error_naming_the_limit_and_serving_goes_on() {
    let dir = files_agent();
    let write = |id: u64, path: &str, content: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
            "name": "write_file", "arguments": {"path": path, "content": content}}})
        .to_string()
    };
    for sandbox in [false, true] {
        let messages = vec![
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"}}})
            .to_string(),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
            write(2, "big.txt", &"x".repeat(2 << 20)),
            write(3, "small.txt", "fine"),
        ];
        let mut args = vec!["--max-message", "1048576"];
        if sandbox {
            args.push("--sandbox");
        }
        let answers = mcp_serve_exchange(dir.path(), &args, &messages);
        let refused = answers.iter().find(|a| a["id"] == 2).unwrap_or_else(|| {
            panic!("no answer to the oversized request (sandbox: {sandbox}): {answers:?}")
        });
        assert_eq!(refused["error"]["code"], -32600, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(message.contains("limit of 1048576 bytes"), "{message}");
        let next = answers
            .iter()
            .find(|a| a["id"] == 3)
            .expect("the next request is served");
        assert_eq!(next["result"]["isError"], false, "{next}");
        assert!(
            !dir.path().join("big.txt").exists(),
            "nothing of the refused write is left"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("small.txt")).unwrap(),
            "fine"
        );
        std::fs::remove_file(dir.path().join("small.txt")).unwrap();
    }
}

/// The example `text` component, built from guest/examples/text with the host.
fn text_component() -> PathBuf {
    PathBuf::from(pluto_sandbox::guests::EXAMPLE_TEXT_PATH)
}

#[test]
fn tool_inspect_and_call_a_component() {
    let dir = tempfile::tempdir().unwrap();
    let pluto = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_pluto"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let wasm = text_component();
    let out = pluto(&["tool", "inspect", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing = text(&out.stdout);
    assert!(
        listing.contains("__word_count: Count the words"),
        "{listing}"
    );
    assert!(listing.contains("wasi:io/streams"), "{listing}");
    assert!(
        !listing.contains("wasi:filesystem") && !listing.contains("wasi:http"),
        "pure compute: {listing}"
    );
    let ws = dir.path().display().to_string();
    let out = pluto(&[
        "tool",
        "call",
        wasm.to_str().unwrap(),
        "word_count",
        r#"{"text": "one two three\nfour"}"#,
        "--workspace",
        &ws,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "4 words, 2 lines, 18 characters");
    assert!(
        text(&out.stderr).contains(r#""words":4"#),
        "details on stderr: {}",
        text(&out.stderr)
    );

    // Not a component, or not one of the tool world: clear errors.
    std::fs::write(dir.path().join("junk.wasm"), "this is not wasm").unwrap();
    let out = pluto(&["tool", "inspect", "junk.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("junk.wasm is not a usable tool component"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("module.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let out = pluto(&["tool", "inspect", "module.wasm"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("not a usable tool component"),
        "{}",
        text(&out.stderr)
    );
    let out = pluto(&[
        "tool",
        "call",
        wasm.to_str().unwrap(),
        "nope",
        "{}",
        "--workspace",
        &ws,
    ]);
    assert!(
        text(&out.stderr).contains("its tools are: word_count, upper, echo"),
        "{}",
        text(&out.stderr)
    );
    // The wrong world: a program (the notes MCP server) is not a tool component.
    let out = pluto(&["tool", "inspect", "example:notes-mcp"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("it is not a tool component: it must export `pluto:sandbox/tool@0.1.0`"),
        "{}",
        text(&out.stderr)
    );
    // A trap in `describe`: the error carries the guest's panic message.
    let out = pluto(&["tool", "inspect", pluto_sandbox::guests::BROKEN_PATH]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("`describe` failed: wasm trap"), "{err}");
    assert!(err.contains("describe fails on purpose"), "{err}");
    // Examples by name; an unknown one lists them.
    let out = pluto(&["tool", "inspect", "example:fetch"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("wasi:http/outgoing-handler"));
    let out = pluto(&["tool", "inspect", "example:nope"]);
    assert!(
        text(&out.stderr).contains("the examples are text, fetch, notes-mcp"),
        "{}",
        text(&out.stderr)
    );
}

/// A web server on 127.0.0.1 that answers every request with `body`; how many it answered.
async fn local_site(body: &'static str) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    (port, served)
}

/// A project whose agent `a` uses the `fetch` example under policy `site`, which allows
/// `http://127.0.0.1:PORT` and the name `localhost` (a name alone does not open loopback).
fn fetch_project(port: u16) -> Project {
    let project = Project::new("  - component: example:fetch\n    policy: site\n");
    let policies = project.dir.path().join("sandbox-policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("site.yaml"),
        format!(
            "policy: 1\nname: site\nnetwork:\n  allow: [\"http://127.0.0.1:{port}\", localhost]\n  deny: [169.254.169.254]\n"
        ),
    )
    .unwrap();
    project
}

/// The URLs the network tests fetch: the allowed host, another host, a private address
/// through an allowed name, and the cloud metadata address.
fn fetch_urls(port: u16) -> [String; 4] {
    [
        format!("http://127.0.0.1:{port}/page"),
        "http://93.184.215.14/".to_owned(),
        format!("http://localhost:{}/page", port.wrapping_add(1)),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_fetches_from_the_allowed_host_and_is_refused_elsewhere() {
    let (port, served) = local_site("hello from the allowed host").await;
    let urls = fetch_urls(port);
    let calls: Vec<Value> = urls.iter().map(|u| json!({"url": u})).collect();
    let model = StandIn::start(scripted_model(Format::OpenRouter, move |body: &Value| {
        let last = body["messages"].as_array().unwrap().last().unwrap();
        if last["role"] == "tool" {
            Step::answer("done")
        } else {
            Step::calls(
                "",
                calls.iter().map(|a| ("fetch__get", a.clone())).collect(),
            )
        }
    }))
    .await;
    let project = fetch_project(port);
    let url = model.url.clone();
    let out = tokio::task::spawn_blocking(move || project.run(&url, &[], true))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let completed = tool_results(&out);
    assert_eq!(completed.len(), 4, "{completed:?}");
    let by_url = |u: &str| {
        completed
            .iter()
            .find(|e| e["details"]["url"] == u)
            .unwrap_or_else(|| panic!("no result for {u}: {completed:?}"))
    };
    let allowed = by_url(&urls[0]);
    assert_eq!(allowed["is_error"], false, "{allowed}");
    assert!(
        allowed["content"]
            .as_str()
            .unwrap()
            .contains("HTTP 200\nhello from the allowed host"),
        "{allowed}"
    );
    assert_eq!(allowed["details"]["mode"], "sandbox");
    for refused in &urls[1..] {
        let e = by_url(refused);
        assert_eq!(e["is_error"], true, "{e}");
        assert!(
            e["content"]
                .as_str()
                .unwrap()
                .contains("refused by the sandbox policy"),
            "{e}"
        );
    }
    assert_eq!(
        served.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "only the allowed request reached a server"
    );
}

/// Runs `tests/mcp_calls.py` (the official MCP Python SDK) against `pluto ARGS…` in `dir`.
async fn mcp_calls(dir: &Path, calls: Value, args: &[&str], env: &[(&str, &str)]) -> Value {
    let python = std::env::var("PLUTO_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = mcp_dir().join("../mcp_calls.py");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .arg(calls.to_string())
        .arg(env!("CARGO_BIN_EXE_pluto"))
        .args(args)
        .current_dir(dir)
        .env("OPENROUTER_API_KEY", "unused")
        .env_remove("PLUTO_STATE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::task::spawn_blocking(move || {
        cmd.output()
            .expect("run the MCP client (bash tests/run.sh installs it)")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "the MCP client failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fetch_component_through_pluto_mcp_serve_follows_the_policy() {
    let (port, served) = local_site("served over MCP").await;
    let project = fetch_project(port);
    let calls: Vec<Value> = fetch_urls(port)
        .iter()
        .map(|u| json!(["fetch__get", {"url": u}]))
        .collect();
    let seen = mcp_calls(
        project.dir.path(),
        Value::Array(calls),
        &["mcp", "serve", "--agent", "a.md"],
        &[],
    )
    .await;
    assert_eq!(seen["tools"][0]["name"], "fetch__get", "{seen}");
    let results = seen["results"].as_array().unwrap();
    assert_eq!(results[0]["is_error"], false, "{seen}");
    assert!(
        results[0]["text"]
            .as_str()
            .unwrap()
            .contains("served over MCP")
    );
    assert_eq!(results[0]["structured"]["status"], 200, "{seen}");
    for refused in &results[1..] {
        assert_eq!(refused["is_error"], true, "{seen}");
        assert!(
            refused["text"]
                .as_str()
                .unwrap()
                .contains("refused by the sandbox policy"),
            "{seen}"
        );
    }
    assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_mcp_server_runs_under_wasmtime_as_an_agents_tool() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        caller(
            "notes__add_note",
            json!({"title": "shopping", "text": "milk and bread"}),
        ),
    ))
    .await;
    let project = Project::new("  - mcp: notes\n    wasm: example:notes-mcp\n");
    let url = model.url.clone();
    let (out, project) =
        tokio::task::spawn_blocking(move || (project.run(&url, &[], true), project))
            .await
            .unwrap();
    let dir = project.dir.path().to_path_buf();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let completed = tool_results(&out).into_iter().next().expect("a tool call");
    assert_eq!(completed["is_error"], false, "{completed}");
    assert_eq!(completed["content"], "saved note `shopping` (14 bytes)");
    // The server wrote through the sandbox's workspace preopen: the agent's workspace.
    assert_eq!(
        std::fs::read_to_string(dir.join("notes/shopping.md")).unwrap(),
        "milk and bread"
    );
    let offered: Vec<String> = model.requests()[0].json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        offered,
        ["notes__add_note", "notes__list_notes", "notes__read_note"]
    );

    // The same server through `pluto mcp serve`, to the official Python client; a title that
    // would leave the folder is refused by the server, and `..` by the sandbox in any case.
    let seen = mcp_calls(
        &dir,
        json!([
            ["notes__list_notes", {}],
            ["notes__read_note", {"title": "shopping"}],
            ["notes__add_note", {"title": "../escape", "text": "x"}],
        ]),
        &["mcp", "serve", "--agent", "a.md"],
        &[],
    )
    .await;
    let results = &seen["results"];
    assert_eq!(results[0]["text"], "shopping", "{seen}");
    assert_eq!(results[1]["text"], "milk and bread", "{seen}");
    assert_eq!(results[2]["is_error"], true, "{seen}");
    assert!(!dir.join("escape.md").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_list_is_valid_on_the_first_request_after_a_restart_with_a_warm_cache() {
    let project = Project::new(
        "  - builtin: files\n  - component: example:text\n  - mcp: notes\n    wasm: example:notes-mcp\n",
    );
    let cache = tempfile::tempdir().unwrap();
    let cache_home = cache.path().to_str().unwrap().to_owned();
    let env = [("XDG_CACHE_HOME", cache_home.as_str())];
    let args = ["mcp", "serve", "--agent", "a.md", "--sandbox"];
    let cold = mcp_calls(project.dir.path(), json!([]), &args, &env).await;
    let compiled = std::fs::read_dir(cache.path().join("pluto/wasm"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(compiled > 0, "the first start fills the compile cache");
    let warm = mcp_calls(
        project.dir.path(),
        json!([["text__word_count", {"text": "a b c"}]]),
        &args,
        &env,
    )
    .await;
    assert_eq!(
        warm["tools"], cold["tools"],
        "the same tools, cold and warm"
    );
    let tools = warm["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 6 + 3 + 3, "{warm}");
    for tool in tools {
        let name = tool["name"].as_str().unwrap();
        assert!(
            !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "invalid tool name {name:?}"
        );
        assert_eq!(tool["schema"]["type"], "object", "{tool}");
    }
    assert_eq!(warm["results"][0]["text"], "3 words, 1 lines, 5 characters");
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_digests_are_checked_and_programs_are_not_components() {
    use sha2::Digest as _;
    let model = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("ok")
    }))
    .await;
    let wasm = std::fs::read(text_component()).unwrap();
    let right: String = sha2::Sha256::digest(&wasm)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let wrong = "0".repeat(64);
    for (entry, expect) in [
        (
            format!("  - component: text.wasm\n    digest: sha256:{right}\n"),
            None,
        ),
        (
            format!("  - component: text.wasm\n    digest: sha256:{wrong}\n"),
            Some(format!(
                "its digest is sha256:{right}, but the manifest pins sha256:{wrong}"
            )),
        ),
        (
            "  - mcp: notes\n    wasm: example:text\n".to_owned(),
            Some("it is not a wasm32-wasip2 program (it must export `wasi:cli/run`".to_owned()),
        ),
    ] {
        let project = Project::new(&entry);
        std::fs::write(project.dir.path().join("text.wasm"), &wasm).unwrap();
        let url = model.url.clone();
        let out = tokio::task::spawn_blocking(move || project.run(&url, &[], false))
            .await
            .unwrap();
        match expect {
            None => assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr)),
            Some(message) => {
                assert_eq!(out.status.code(), Some(2), "{entry}");
                assert!(
                    text(&out.stderr).contains(&message),
                    "{}",
                    text(&out.stderr)
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_uses_a_tool_component_always_sandboxed() {
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        caller(
            "text__word_count",
            json!({"text": "count these four words"}),
        ),
    ))
    .await;
    let project = Project::new("  - component: text.wasm\n    include: [word_count]\n");
    std::fs::copy(text_component(), project.dir.path().join("text.wasm")).unwrap();
    let requests_url = model.url.clone();
    let out = tokio::task::spawn_blocking(move || project.run(&requests_url, &[], true))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let completed = tool_results(&out).into_iter().next().expect("a tool call");
    assert_eq!(completed["content"], "4 words, 1 lines, 22 characters");
    assert_eq!(completed["details"]["mode"], "sandbox", "{completed}");
    let offered: Vec<String> = model.requests()[0].json()["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        offered,
        vec!["text__word_count"],
        "named COMPONENT__TOOL, filtered by include"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_whose_imports_its_policy_does_not_grant_is_refused_with_the_line_to_add() {
    let model = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("never")
    }))
    .await;
    let project = Project::new("  - component: files.wasm\n    policy: nothing\n");
    // The sandboxed `files` tools import wasi:filesystem; the policy grants no folder.
    std::fs::write(
        project.dir.path().join("files.wasm"),
        pluto_sandbox::guests::FILES,
    )
    .unwrap();
    std::fs::create_dir_all(project.dir.path().join("sandbox-policies")).unwrap();
    std::fs::write(
        project.dir.path().join("sandbox-policies/nothing.yaml"),
        "policy: 1\nname: nothing\n",
    )
    .unwrap();
    let url = model.url.clone();
    let out = tokio::task::spawn_blocking(move || project.run(&url, &[], false))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("tool component `files`"), "{err}");
    assert!(err.contains("imports `wasi:filesystem/"), "{err}");
    assert!(
        err.contains("policy `nothing` grants no folder: add `filesystem:"),
        "{err}"
    );
    assert!(model.requests().is_empty(), "the model was never asked");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wasm_mcp_server_stuck_in_a_loop_is_stopped_and_started_again() {
    let turn = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let model = StandIn::start(scripted_model(
        Format::OpenRouter,
        move |_: &Value| match turn.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
            0 => Step::calls("", vec![("spin__spin", json!({}))]),
            1 => Step::calls("", vec![("spin__ping", json!({}))]),
            _ => Step::answer("done"),
        },
    ))
    .await;
    let project = Project::new("  - mcp: spin\n    wasm: spin.wasm\n    policy: quick\n");
    let policies = project.dir.path().join("sandbox-policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("quick.yaml"),
        "policy: 1\nname: quick\nlimits: { timeout: 2s }\n",
    )
    .unwrap();
    std::fs::copy(
        pluto_sandbox::guests::SPIN_MCP_PATH,
        project.dir.path().join("spin.wasm"),
    )
    .unwrap();
    let url = model.url.clone();
    let started = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || project.run(&url, &[], true))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let completed = tool_results(&out);
    assert_eq!(completed[0]["is_error"], true, "{completed:?}");
    assert!(
        completed[0]["content"]
            .as_str()
            .unwrap()
            .contains("MCP server `spin`"),
        "{completed:?}"
    );
    assert_eq!(
        completed[1]["content"], "pong",
        "started again: {completed:?}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the loop was cut at the policy's time limit"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn through_mcp_serve_a_component_cannot_write_into_the_stream_or_run_past_its_limit() {
    let project = Project::new("  - component: probe.wasm\n    policy: tight\n");
    std::fs::copy(
        pluto_sandbox::guests::PROBE_PATH,
        project.dir.path().join("probe.wasm"),
    )
    .unwrap();
    let policies = project.dir.path().join("sandbox-policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("tight.yaml"),
        "policy: 1\nname: tight\nfilesystem: [{ path: \"{workspace}\", access: [read, write] }]\nnetwork: { allow: [\"127.0.0.1:1\"] }\nlimits: { timeout: 1s, output: 64KiB }\n",
    )
    .unwrap();
    let seen = mcp_calls(
        project.dir.path(),
        json!([
            ["probe__flood", {"chunks": 8}],
            ["probe__spin", {}],
            ["probe__env", {}],
        ]),
        &["mcp", "serve", "--agent", "a.md"],
        &[],
    )
    .await;
    let results = &seen["results"];
    // 512 KiB written to the guest's stdout and stderr: captured and bounded, never on the
    // MCP stream (the client parsed every message).
    assert!(
        results[0]["text"].as_str().unwrap().starts_with("flooded"),
        "{seen}"
    );
    // An endless loop ends at the policy's CPU time limit; the next call works.
    assert_eq!(results[1]["is_error"], true, "{seen}");
    assert_eq!(results[1]["text"], "timeout after 1s", "{seen}");
    assert_eq!(results[2]["is_error"], false, "{seen}");
}
