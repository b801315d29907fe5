//! End-to-end tests of `pluto run` and `pluto chat`: the real binary against local stand-ins
//! that speak each provider's wire format, with real tools in a temporary workspace.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pluto_test_support::{Format, Reply, StandIn, Step, scripted_model};
use serde_json::{Value, json};

const PROVIDER_VARS: [&str; 7] = [
    "OPENROUTER_API_KEY",
    "OPENROUTER_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OLLAMA_HOST",
];

fn provider_name(format: Format) -> &'static str {
    match format {
        Format::OpenAi => "openai",
        Format::OpenRouter => "openrouter",
        Format::Anthropic => "anthropic",
        Format::Ollama => "ollama",
    }
}

/// The environment that points `format`'s provider at `url`.
fn provider_env(format: Format, url: &str) -> Vec<(&'static str, String)> {
    match format {
        Format::OpenAi => vec![
            ("OPENAI_BASE_URL", format!("{url}/v1")),
            ("OPENAI_API_KEY", "sk-test".into()),
        ],
        Format::OpenRouter => vec![
            ("OPENROUTER_BASE_URL", format!("{url}/api/v1")),
            ("OPENROUTER_API_KEY", "sk-or-test".into()),
        ],
        Format::Anthropic => vec![
            ("ANTHROPIC_BASE_URL", url.to_owned()),
            ("ANTHROPIC_API_KEY", "sk-ant-test".into()),
        ],
        Format::Ollama => vec![("OLLAMA_HOST", url.to_owned())],
    }
}

/// A temporary project: an agents folder with one `worker` agent using files + shell, and a
/// separate workspace folder.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(provider: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("agents")).unwrap();
        std::fs::create_dir_all(dir.path().join("ws")).unwrap();
        let agent = format!(
            "---\npaf: 1\nname: worker\ndescription: Runs commands and writes files\nmodel: {{ provider: {provider}, name: test-model }}\n\
             tools:\n  - builtin: files\n  - builtin: shell\n---\nYou are {{{{agent.name}}}}. Work in the workspace.\n"
        );
        std::fs::write(dir.path().join("agents/worker.md"), agent).unwrap();
        Project { dir }
    }

    fn ws(&self) -> std::path::PathBuf {
        self.dir.path().join("ws")
    }

    fn command(&self, format: Format, url: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
        cmd.args(args)
            .arg("--workspace")
            .arg(self.ws())
            .current_dir(self.dir.path());
        for var in PROVIDER_VARS {
            cmd.env_remove(var);
        }
        cmd.envs(provider_env(format, url))
            .env_remove("PLUTO_AGENTS")
            .env_remove("PLUTO_WORKSPACE")
            .env_remove("PLUTO_STATE")
            .env_remove("PLUTO_ARTIFACTS")
            .env_remove("PLUTO_DATA");
        cmd
    }
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("run pluto"))
        .await
        .expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The model of the acceptance test: call `shell` and `write_file`, then report their results.
fn worker_brain(format: Format) -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    move |body| {
        let results = format.tool_results(body);
        if results.is_empty() {
            Step::calls(
                "I'll run it and save the answer.",
                vec![
                    ("shell", json!({"command": "echo hello from $((6*7))"})),
                    (
                        "write_file",
                        json!({"path": "out/answer.txt", "content": "forty-two\n"}),
                    ),
                ],
            )
        } else {
            let first = results[0].lines().next().unwrap_or_default().to_owned();
            Step::answer(format!(
                "Done. shell said: {first} | write_file said: {}",
                results[1]
            ))
        }
    }
}

/// Every key anywhere in a JSON value.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn each_provider_runs_the_models_tool_calls_and_prints_the_answer() {
    for format in Format::ALL {
        let server = StandIn::start(scripted_model(format, worker_brain(format))).await;
        let project = Project::new(provider_name(format));
        let out = output(project.command(
            format,
            &server.url,
            &["run", "worker", "Say hello and save 42"],
        ))
        .await;
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format:?}\nstdout: {stdout}\nstderr: {stderr}"
        );
        assert_eq!(
            stdout,
            "I'll run it and save the answer.\nDone. shell said: hello from 42 | write_file said: Created out/answer.txt (10 bytes)\n",
            "{format:?}"
        );
        assert!(
            stderr.contains("→ shell {\"command\":\"echo hello from $((6*7))\"}"),
            "{format:?}: {stderr}"
        );
        assert!(stderr.contains("✓ write_file"), "{format:?}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(project.ws().join("out/answer.txt")).unwrap(),
            "forty-two\n"
        );

        let requests = server.requests();
        assert_eq!(requests.len(), 2, "{format:?}");
        assert!(requests[1].path.ends_with(format.path()));
        // The tool results went back to the model ...
        let results = format.tool_results(&requests[1].json());
        assert_eq!(results[0], "hello from 42\n[exit code: 0]", "{format:?}");
        // ... and the tools' details never did.
        for request in &requests {
            let mut all = Vec::new();
            keys(&request.json(), &mut all);
            for secret in [
                "details",
                "duration_ms",
                "exit_code",
                "stdout",
                "stderr",
                "output_bytes",
            ] {
                assert!(
                    !all.iter().any(|k| k == secret),
                    "{format:?}: `{secret}` was sent to the provider"
                );
            }
            let raw = String::from_utf8_lossy(&request.body);
            assert!(
                !raw.contains("duration_ms") && !raw.contains("\"timed_out\""),
                "{format:?}: details leaked: {raw}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_prints_the_event_stream_with_details_for_clients() {
    let format = Format::Anthropic;
    let server = StandIn::start(scripted_model(format, worker_brain(format))).await;
    let project = Project::new("anthropic");
    let out =
        output(project.command(format, &server.url, &["run", "worker", "go", "--json"])).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    // Tool events interleave as the calls happen to finish (pluto-runtime's tests pin down the
    // parallelism); here every call starts and completes inside its turn.
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|t| *t != "message.delta")
        .map(|t| if t.starts_with("tool.") { "tool.*" } else { t })
        .collect();
    assert_eq!(
        names,
        [
            "run.started",
            "turn.started",
            "message.completed",
            "tool.*",
            "tool.*",
            "tool.*",
            "tool.*",
            "turn.completed",
            "turn.started",
            "message.completed",
            "turn.completed",
            "run.completed"
        ]
    );
    for name in ["shell", "write_file"] {
        let of = |kind: &str| {
            events
                .iter()
                .position(|e| e["type"] == kind && e["name"] == name)
                .unwrap()
        };
        assert!(of("tool.started") < of("tool.completed"), "{name}");
    }
    let shell = events
        .iter()
        .find(|e| e["type"] == "tool.completed" && e["name"] == "shell")
        .unwrap();
    assert_eq!(shell["details"]["exit_code"], 0);
    assert_eq!(shell["details"]["stdout"], "hello from 42\n");
    let done = events.last().unwrap();
    assert_eq!(done["turns"], 2);
    assert_eq!(done["usage"]["output_tokens"], 178);
    assert!(events.iter().any(|e| e["type"] == "message.delta"));
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_failures_and_missing_keys_are_clear() {
    let server = StandIn::start(|_, _| {
        Reply::error(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        )
    })
    .await;
    let project = Project::new("openai");
    let out = output(project.command(Format::OpenAi, &server.url, &["run", "worker", "hi"])).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: openai answered HTTP 401: Incorrect API key provided"),
        "{}",
        text(&out.stderr)
    );

    let project = Project::new("openrouter");
    let mut cmd = project.command(Format::OpenRouter, &server.url, &["run", "worker", "hi"]);
    cmd.env_remove("OPENROUTER_API_KEY")
        .env_remove("OPENROUTER_BASE_URL");
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: OPENROUTER_API_KEY is not set: the agent's provider `openrouter` needs an API key (export OPENROUTER_API_KEY=...)\n"
    );

    let out = output(project.command(Format::Ollama, &server.url, &["run", "nobody", "hi"])).await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: no agent named `nobody` in agents; the agents are: worker\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stream_cut_mid_answer_fails_the_run() {
    let server = StandIn::start(|_, _| {
        Format::Ollama
            .reply(&Step::answer("this answer will not finish"))
            .cut_after(2)
    })
    .await;
    let project = Project::new("ollama");
    let out = output(project.command(
        Format::Ollama,
        &server.url,
        &["run", "worker", "hi", "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let last: Value = serde_json::from_str(text(&out.stdout).lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "run.failed");
    assert_eq!(last["code"], "provider");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .starts_with("ollama stream ended early"),
        "{last}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_prompt_can_come_from_stdin() {
    let format = Format::OpenAi;
    let server = StandIn::start(scripted_model(format, |body: &Value| {
        let last = body["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_str()
            .unwrap()
            .to_owned();
        Step::answer(format!("you said: {last}"))
    }))
    .await;
    let project = Project::new("openai");
    let mut cmd = project.command(format, &server.url, &["run", "worker", "-"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a prompt\nwith two lines")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "you said: a prompt\nwith two lines\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn chat_keeps_the_conversation_until_reset() {
    let format = Format::OpenRouter;
    let server = StandIn::start(scripted_model(format, |body: &Value| {
        let users = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "user")
            .count();
        Step::answer(format!("I have seen {users} message(s)."))
    }))
    .await;
    let project = Project::new("openrouter");
    let mut cmd = project.command(format, &server.url, &["chat", "worker"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || {
        let mut child = cmd.spawn().unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"hello\nagain\n/reset\nfresh\n/exit\nnever sent\n")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "I have seen 1 message(s).\nI have seen 2 message(s).\nI have seen 1 message(s).\n"
    );
    assert!(text(&out.stderr).contains("(new session "));
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cancels_the_run_and_its_running_tools() {
    let format = Format::OpenAi;
    let server = StandIn::start(scripted_model(format, |_: &Value| {
        Step::calls(
            "",
            vec![(
                "shell",
                json!({"command": "echo $$ > sleeper.pid; sleep 30"}),
            )],
        )
    }))
    .await;
    let project = Project::new("openai");
    let mut cmd = project.command(format, &server.url, &["run", "worker", "sleep"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let ws = project.ws();
    let (out, elapsed) = tokio::task::spawn_blocking(move || {
        let child = cmd.spawn().unwrap();
        let pid_file = ws.join("sleeper.pid");
        let started = Instant::now();
        while !pid_file.exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        let interrupted = Instant::now();
        (child.wait_with_output().unwrap(), interrupted.elapsed())
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        elapsed < Duration::from_secs(5),
        "cancelling took {elapsed:?}"
    );
    assert!(text(&out.stderr).contains("(cancelled)"));
    let pid = std::fs::read_to_string(project.ws().join("sleeper.pid")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(
        stat.is_empty()
            || stat
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z'),
        "the tool's process survived: {stat}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_in_chat_cancels_the_answer_and_the_chat_goes_on() {
    let format = Format::Ollama;
    let server = StandIn::start(scripted_model(format, |body: &Value| {
        let last = body["messages"].as_array().unwrap().last().unwrap().clone();
        if last["content"] == "take your time" {
            Step::calls(
                "",
                vec![(
                    "shell",
                    json!({"command": "echo $$ > sleeper.pid; sleep 30"}),
                )],
            )
        } else {
            let users = body["messages"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["role"] == "user")
                .count();
            Step::answer(format!("hello back ({users} message in the history)"))
        }
    }))
    .await;
    let project = Project::new("ollama");
    let mut cmd = project.command(format, &server.url, &["chat", "worker"]);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let ws = project.ws();
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"take your time\n").unwrap();
        let pid_file = ws.join("sleeper.pid");
        let started = Instant::now();
        while !pid_file.exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(200));
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stdin.write_all(b"hello\n/exit\n").unwrap();
        drop(stdin);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The cancelled exchange is not kept: the next request holds only the new message.
    assert!(
        text(&out.stdout).ends_with("hello back (1 message in the history)\n"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("(cancelled)"),
        "{}",
        text(&out.stderr)
    );
}

/// A model that writes a file, reads it back, then reports both results.
fn write_then_read(format: Format) -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    move |body| {
        let results = format.tool_results(body);
        match results.len() {
            0 => Step::calls(
                "",
                vec![(
                    "write_file",
                    json!({"path": "notes/a.txt", "content": "from the sandbox\n"}),
                )],
            ),
            1 => Step::calls("", vec![("read_file", json!({"path": "notes/a.txt"}))]),
            _ => Step::answer(format!("wrote: {} | read: {}", results[0], results[1])),
        }
    }
}

impl Project {
    /// `pluto` with no `PATH` at all, and the wasm cache in the build's temp folder.
    fn sandboxed(&self, format: Format, url: &str, args: &[&str]) -> Command {
        let mut cmd = self.command(format, url, args);
        cmd.env("PATH", "").env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("xdg-cache"),
        );
        cmd
    }

    fn add_agent(&self, file: &str, text: &str) {
        std::fs::write(self.dir.path().join("agents").join(file), text).unwrap();
    }
}

fn events(out: &Output) -> Vec<Value> {
    text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn with_sandbox_shell_and_file_tools_run_in_guests_without_any_host_program() {
    let format = Format::OpenAi;
    let server = StandIn::start(scripted_model(format, worker_brain(format))).await;
    let project = Project::new("openai");
    // No PATH at all: no bash, no coreutils. The shell's commands run inside the guest.
    let out = output(project.sandboxed(
        format,
        &server.url,
        &["run", "worker", "go", "--sandbox", "--json"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let events = events(&out);
    let done: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool.completed")
        .collect();
    assert_eq!(done.len(), 2);
    for e in &done {
        assert_eq!(e["details"]["mode"], "sandbox", "{e}");
        assert_eq!(e["is_error"], false, "{e}");
    }
    assert_eq!(
        events.last().unwrap()["output"],
        "Done. shell said: hello from 42 | write_file said: Created out/answer.txt (10 bytes)"
    );
    assert_eq!(
        std::fs::read_to_string(project.ws().join("out/answer.txt")).unwrap(),
        "forty-two\n"
    );
    let offered = server.requests()[0].json()["tools"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(offered, 7, "the six file tools and shell, all sandboxed");

    // The same model's file tools also work for a write-then-read conversation.
    let server = StandIn::start(scripted_model(format, write_then_read(format))).await;
    let out = output(project.sandboxed(
        format,
        &server.url,
        &["run", "worker", "go", "--sandbox", "--json"],
    ))
    .await;
    let second = self::events(&out);
    assert_eq!(
        second.last().unwrap()["output"],
        "wrote: Created notes/a.txt (17 bytes) | read: from the sandbox"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_that_requires_the_sandbox_gets_it_and_its_policy_holds() {
    let format = Format::Anthropic;
    let server = StandIn::start(scripted_model(format, write_then_read(format))).await;
    let project = Project::new("anthropic");
    project.add_agent(
        "reader.md",
        "---\npaf: 1\nname: reader\ndescription: Reads only\nmodel: { provider: anthropic, name: m }\n\
         tools: [{ builtin: files }]\nsandbox: { mode: required, policy: readonly }\n---\nRead.\n",
    );
    let mut cmd = project.sandboxed(format, &server.url, &["run", "reader", "go", "--json"]);
    cmd.arg("--policies")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sandbox-policies"));
    let out = output(cmd).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let write = events(&out)
        .into_iter()
        .find(|e| e["type"] == "tool.completed")
        .unwrap();
    assert_eq!(write["is_error"], true);
    assert_eq!(write["content"], "permission denied: `notes/a.txt`");
    assert!(!project.ws().join("notes").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn native_mcp_servers_are_refused_in_the_sandbox_unless_allowed() {
    let project = Project::new("ollama");
    project.add_agent(
        "mcp.md",
        "---\npaf: 1\nname: mcp\ndescription: Uses a native MCP server\nmodel: { provider: ollama, name: m }\n\
         tools:\n  - mcp: notes\n    command: npx\n---\nHi.\n",
    );
    let out = output(project.sandboxed(
        Format::Ollama,
        "http://127.0.0.1:9",
        &["run", "mcp", "hi", "--sandbox"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr),
        "error: the agent cannot run sandboxed:\nagents/mcp.md:7:5: error: MCP server `notes` runs as a native process, \
         which sandbox policy `default` does not allow\n  help: add `notes` to `native_mcp.allow` in the policy, or run the \
         server as WebAssembly (`wasm:`)\n"
    );
}

/// The id in a `new session ID (…)` line on stderr.
fn session_id(stderr: &[u8]) -> String {
    let err = text(stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("new session "))
        .unwrap_or_else(|| panic!("no session line in: {err}"));
    line["new session ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A model that says how many user messages it has seen, and what the last one was.
fn counting_brain() -> impl Fn(&Value) -> Step + Send + Sync + 'static {
    |body: &Value| {
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
}

async fn continue_a_session_across_processes(state: Option<String>) {
    let format = Format::OpenRouter;
    let server = StandIn::start(scripted_model(format, counting_brain())).await;
    let project = Project::new("openrouter");
    let with_state = |mut cmd: Command| {
        if let Some(url) = &state {
            cmd.args(["--state", url]);
        }
        cmd
    };
    let first = output(with_state(project.command(
        format,
        &server.url,
        &["run", "worker", "my name is Ada"],
    )))
    .await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    let id = session_id(&first.stderr);
    let second = output(with_state(project.command(
        format,
        &server.url,
        &["run", "worker", "what is my name?", "--session", &id],
    )))
    .await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(
        text(&second.stderr).contains(&format!("continuing session {id}")),
        "{}",
        text(&second.stderr)
    );
    assert_eq!(
        text(&second.stdout).trim(),
        "2 user message(s): my name is Ada / what is my name?"
    );
    if state.is_none() {
        // The default: readable JSONL under ./.pluto in the current folder.
        let log = project
            .dir
            .path()
            .join(".pluto/tenants/default/sessions")
            .join(&id)
            .join("events.jsonl");
        let lines = std::fs::read_to_string(&log).unwrap();
        let types: Vec<String> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()["data"]["type"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(types.first().map(String::as_str), Some("run.started"));
        assert_eq!(types.last().map(String::as_str), Some("run.completed"));
        assert_eq!(types.iter().filter(|t| *t == "run.started").count(), 2);
    }
    // Continuing a session that does not exist is a clear error.
    let missing = output(with_state(project.command(
        format,
        &server.url,
        &["run", "worker", "hi", "--session", "no-such-session"],
    )))
    .await;
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        text(&missing.stderr).contains("session no-such-session not found"),
        "{}",
        text(&missing.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn run_continues_a_stored_session_in_files() {
    continue_a_session_across_processes(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_continues_a_stored_session_in_postgres() {
    continue_a_session_across_processes(Some(pluto_test_support::services::postgres_url())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn run_continues_a_stored_session_in_redis() {
    continue_a_session_across_processes(Some(pluto_test_support::services::redis_url())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_with_memory_remembers_across_sessions() {
    let format = Format::OpenAi;
    let server = StandIn::start(scripted_model(format, |body: &Value| {
        let system = body["messages"][0]["content"].as_str().unwrap_or_default();
        let results = Format::OpenAi.tool_results(body);
        let last_user = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|m| m["role"] == "user")
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned();
        if last_user.starts_with("remember") && results.is_empty() {
            return Step::calls(
                "",
                vec![(
                    "remember",
                    json!({"text": "Ada's favourite colour is teal"}),
                )],
            );
        }
        if !results.is_empty() {
            return Step::answer(format!("noted: {}", results[0]));
        }
        let remembered = system
            .lines()
            .filter(|l| l.starts_with("- "))
            .collect::<Vec<_>>()
            .join(";");
        Step::answer(format!("memories: [{remembered}]"))
    }))
    .await;
    let project = Project::new("openai");
    let agent = "---\npaf: 1\nname: keeper\ndescription: Remembers things\nmodel: { provider: openai, name: m }\n\
                 memory: { enabled: true, scope: user }\n---\nYou keep notes.\n";
    std::fs::write(project.dir.path().join("agents/keeper.md"), agent).unwrap();
    let first = output(project.command(
        format,
        &server.url,
        &[
            "run",
            "keeper",
            "remember my favourite colour",
            "--user",
            "ada",
        ],
    ))
    .await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout).trim(), "noted: Remembered.");
    // A new session, the same user: the note is found for a matching question.
    let second = output(project.command(
        format,
        &server.url,
        &["run", "keeper", "what colour do I like?", "--user", "ada"],
    ))
    .await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(
        text(&second.stdout).trim(),
        "memories: [- Ada's favourite colour is teal]"
    );
    // Another user's memory is their own.
    let other = output(project.command(
        format,
        &server.url,
        &["run", "keeper", "what colour do I like?", "--user", "bob"],
    ))
    .await;
    assert_eq!(text(&other.stdout).trim(), "memories: []");
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_reports_what_it_did() {
    let url = pluto_test_support::services::postgres_url();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
    cmd.args(["migrate", "--state", &url])
        .env_remove("PLUTO_STATE");
    let first = output(cmd).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(
        text(&first.stderr).contains("2 migration(s) applied"),
        "{}",
        text(&first.stderr)
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pluto"));
    cmd.args(["migrate", "--state", &url])
        .env_remove("PLUTO_STATE");
    let again = output(cmd).await;
    assert!(
        text(&again.stderr).contains("0 migration(s) applied"),
        "{}",
        text(&again.stderr)
    );
}
