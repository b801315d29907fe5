//! The native tools against a real temporary workspace, real bash and a local HTTP server.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pluto_core::{ToolCall, ToolContext, ToolExecutor, ToolResult};
use pluto_paf::tool::Builtin;
use pluto_test_support::{Reply, StandIn};
use pluto_tools::{Toolbox, builtin};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Whether process `pid` still runs (a zombie, killed but not yet reaped, does not).
fn running(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())) {
        Ok(stat) => {
            stat.rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                != Some("Z")
        }
        Err(_) => false,
    }
}

fn toolbox() -> Toolbox {
    let client = reqwest::Client::new();
    let mut tb = Toolbox::new();
    for set in [Builtin::Files, Builtin::Shell, Builtin::HttpFetch] {
        for tool in builtin(set, &client, None) {
            tb.add(tool).unwrap();
        }
    }
    tb
}

fn ctx(workspace: &Path) -> ToolContext {
    ToolContext {
        session: None,
        workspace: workspace.to_path_buf(),
        cancel: CancellationToken::new(),
        deadline: Instant::now() + Duration::from_secs(60),
    }
}

async fn call(tb: &Toolbox, ctx: &ToolContext, name: &str, args: serde_json::Value) -> ToolResult {
    tb.call(
        &ToolCall {
            id: "c".into(),
            name: name.into(),
            arguments: args.to_string(),
        },
        ctx,
    )
    .await
}

#[test]
fn the_tool_names_are_exactly_the_documented_ones() {
    let names: Vec<String> = toolbox()
        .definitions()
        .iter()
        .map(|d| d.name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "edit_file",
            "list_dir",
            "glob",
            "grep",
            "shell",
            "http_fetch"
        ]
    );
}

#[tokio::test]
async fn files_round_trip_inside_the_workspace() {
    let ws = tempfile::tempdir().unwrap();
    let (tb, c) = (toolbox(), ctx(ws.path()));

    let w = call(
        &tb,
        &c,
        "write_file",
        json!({"path": "src/lib.rs", "content": "fn a() {}\nfn b() {}\n"}),
    )
    .await;
    assert!(!w.is_error, "{}", w.content);
    assert_eq!(w.content, "Created src/lib.rs (20 bytes)");
    assert_eq!(w.details["created"], true);
    assert_eq!(
        std::fs::read_to_string(ws.path().join("src/lib.rs")).unwrap(),
        "fn a() {}\nfn b() {}\n"
    );

    let r = call(&tb, &c, "read_file", json!({"path": "src/lib.rs"})).await;
    assert_eq!(r.content, "fn a() {}\nfn b() {}");
    let r = call(
        &tb,
        &c,
        "read_file",
        json!({"path": "src/lib.rs", "offset": 2, "limit": 1}),
    )
    .await;
    assert_eq!(r.content, "fn b() {}");
    let abs = ws.path().canonicalize().unwrap().join("src/lib.rs");
    let r = call(
        &tb,
        &c,
        "read_file",
        json!({"path": abs.to_str().unwrap(), "limit": 1}),
    )
    .await;
    assert_eq!(
        r.content,
        "fn a() {}\n[lines 1-1 of 2; read on with offset 2]"
    );

    let e = call(&tb, &c, "edit_file", json!({"path": "src/lib.rs", "old_string": "fn b() {}", "new_string": "fn b() -> u8 { 1 }"})).await;
    assert!(!e.is_error, "{}", e.content);
    assert!(
        e.details["diff"]
            .as_str()
            .unwrap()
            .contains("-fn b() {}\n+fn b() -> u8 { 1 }"),
        "{}",
        e.details
    );
    let twice = call(
        &tb,
        &c,
        "edit_file",
        json!({"path": "src/lib.rs", "old_string": "fn", "new_string": "pub fn"}),
    )
    .await;
    assert!(twice.is_error);
    assert_eq!(
        twice.content,
        "old_string occurs 2 times in src/lib.rs; include more context to make it unique"
    );
    let missing = call(
        &tb,
        &c,
        "edit_file",
        json!({"path": "src/lib.rs", "old_string": "fn z", "new_string": ""}),
    )
    .await;
    assert_eq!(missing.content, "old_string was not found in src/lib.rs");

    call(
        &tb,
        &c,
        "write_file",
        json!({"path": "README.md", "content": "TODO: fn a\n"}),
    )
    .await;
    let l = call(&tb, &c, "list_dir", json!({"path": "."})).await;
    assert_eq!(l.content, "README.md\nsrc/");
    assert_eq!(l.details["entries"][1]["kind"], "dir");
    let g = call(&tb, &c, "glob", json!({"pattern": "**/*.rs"})).await;
    assert_eq!(g.content, "src/lib.rs");
    let g = call(&tb, &c, "grep", json!({"pattern": "fn [ab]"})).await;
    assert_eq!(
        g.content,
        "README.md:1:TODO: fn a\nsrc/lib.rs:1:fn a() {}\nsrc/lib.rs:2:fn b() -> u8 { 1 }"
    );
    let g = call(&tb, &c, "grep", json!({"pattern": "fn", "path": "src"})).await;
    assert_eq!(g.details["matches"].as_array().unwrap().len(), 2);
    let bad = call(&tb, &c, "grep", json!({"pattern": "("})).await;
    assert!(bad.is_error && bad.content.starts_with("invalid regular expression"));
}

#[tokio::test]
async fn paths_cannot_leave_the_workspace() {
    let outer = tempfile::tempdir().unwrap();
    let ws = outer.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    std::fs::write(outer.path().join("secret.txt"), "secret").unwrap();
    std::os::unix::fs::symlink(outer.path().join("secret.txt"), ws.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outer.path(), ws.join("up")).unwrap();
    let (tb, c) = (toolbox(), ctx(&ws));

    for (tool, args) in [
        ("read_file", json!({"path": "../secret.txt"})),
        (
            "read_file",
            json!({"path": outer.path().join("secret.txt").to_str().unwrap()}),
        ),
        ("read_file", json!({"path": "/etc/passwd"})),
        ("read_file", json!({"path": "link.txt"})),
        ("read_file", json!({"path": "up/secret.txt"})),
        ("write_file", json!({"path": "../evil.txt", "content": "x"})),
        ("write_file", json!({"path": "up/evil.txt", "content": "x"})),
        ("list_dir", json!({"path": "up"})),
        ("grep", json!({"pattern": "secret", "path": "up"})),
    ] {
        let r = call(&tb, &c, tool, args.clone()).await;
        assert!(r.is_error, "{tool} {args} was allowed: {}", r.content);
        assert!(
            !r.content.contains("secret\n") && r.content != "secret",
            "{tool} leaked: {}",
            r.content
        );
    }
    assert!(!outer.path().join("evil.txt").exists());
    let g = call(&tb, &c, "grep", json!({"pattern": "secret"})).await;
    assert_eq!(
        g.content, "no matches for secret",
        "grep followed a link out of the workspace"
    );
}

#[tokio::test]
async fn binary_and_missing_files_are_clear_errors() {
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(ws.path().join("a.bin"), [0u8, 1, 2]).unwrap();
    let (tb, c) = (toolbox(), ctx(ws.path()));
    assert_eq!(
        call(&tb, &c, "read_file", json!({"path": "a.bin"}))
            .await
            .content,
        "`a.bin` is a binary file"
    );
    assert_eq!(
        call(&tb, &c, "read_file", json!({"path": "nope"}))
            .await
            .content,
        "`nope` does not exist"
    );
    let schema = call(&tb, &c, "read_file", json!({"path": "a.bin", "offset": 0})).await;
    assert!(
        schema.is_error && schema.content.contains("/offset"),
        "{}",
        schema.content
    );
}

#[tokio::test]
async fn shell_reports_output_and_exit_code() {
    let ws = tempfile::tempdir().unwrap();
    let (tb, c) = (toolbox(), ctx(ws.path()));
    let r = call(
        &tb,
        &c,
        "shell",
        json!({"command": "echo out; echo err >&2; pwd; exit 3"}),
    )
    .await;
    assert!(!r.is_error);
    assert_eq!(r.details["exit_code"], 3);
    assert_eq!(
        r.details["stdout"],
        format!("out\n{}\n", ws.path().canonicalize().unwrap().display())
    );
    assert_eq!(r.details["stderr"], "err\n");
    assert!(r.content.ends_with("[exit code: 3]"), "{}", r.content);
    assert!(r.content.contains("out\n") && r.content.contains("err\n"));

    let big = call(
        &tb,
        &c,
        "shell",
        json!({"command": "head -c 300000 /dev/zero | tr '\\0' 'x'"}),
    )
    .await;
    assert!(big.content.len() < 70 * 1024, "{}", big.content.len());
    assert!(big.content.contains("bytes cut ..."));
    assert_eq!(big.details["output_bytes"], 300_000);
    assert_eq!(big.details["truncated"], true);
}

#[tokio::test]
async fn shell_timeouts_kill_the_whole_process_group() {
    let ws = tempfile::tempdir().unwrap();
    let (tb, c) = (toolbox(), ctx(ws.path()));
    let started = Instant::now();
    let r = call(
        &tb,
        &c,
        "shell",
        json!({"command": "sleep 30 & echo $! > bg.pid; sleep 30", "timeout_ms": 300}),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(r.is_error);
    assert_eq!(r.content, "[killed: still running after 300 ms]");
    assert_eq!(r.details["timed_out"], true);
    let pid = std::fs::read_to_string(ws.path().join("bg.pid")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running(&pid), "the background job survived");
}

#[tokio::test]
async fn cancelling_a_run_stops_its_shell_commands() {
    let ws = tempfile::tempdir().unwrap();
    let (tb, c) = (Arc::new(toolbox()), ctx(ws.path()));
    let cancel = c.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        cancel.cancel();
    });
    let started = Instant::now();
    let r = call(
        &tb,
        &c,
        "shell",
        json!({"command": "echo $$ > sh.pid; sleep 30"}),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(r.content, "`shell` was cancelled");
    let pid = std::fs::read_to_string(ws.path().join("sh.pid")).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!running(&pid), "the command survived cancellation");
}

#[tokio::test]
async fn http_fetch_returns_text_with_status_and_headers_in_details() {
    let server = StandIn::start(|req, _| match req.path.as_str() {
        "/page" => Reply::stream(
            "text/html; charset=utf-8",
            vec!["<h1>Hi</h1>".into(), "<p>there</p>".into()],
        ),
        "/image" => Reply::stream("image/png", vec!["\u{1}PNG".into()]),
        _ => Reply::error(404, r#"{"error":"nope"}"#),
    })
    .await;
    let ws = tempfile::tempdir().unwrap();
    let (tb, c) = (toolbox(), ctx(ws.path()));
    let r = call(
        &tb,
        &c,
        "http_fetch",
        json!({"url": format!("{}/page", server.url)}),
    )
    .await;
    assert!(!r.is_error);
    assert_eq!(r.content, "HTTP 200 OK\n\n<h1>Hi</h1><p>there</p>");
    assert_eq!(r.details["status"], 200);
    assert_eq!(
        r.details["headers"]["content-type"],
        "text/html; charset=utf-8"
    );
    let img = call(
        &tb,
        &c,
        "http_fetch",
        json!({"url": format!("{}/image", server.url)}),
    )
    .await;
    assert_eq!(
        img.content,
        "HTTP 200 OK\n\n[4 bytes of image/png, not shown]"
    );
    let missing = call(
        &tb,
        &c,
        "http_fetch",
        json!({"url": format!("{}/x", server.url)}),
    )
    .await;
    assert!(missing.is_error && missing.content.starts_with("HTTP 404"));
    let bad = call(&tb, &c, "http_fetch", json!({"url": "file:///etc/passwd"})).await;
    assert_eq!(bad.content, "unsupported scheme `file`: use http or https");
}

mod sandboxed_http_fetch {
    //! `http_fetch` in sandbox mode: the policy's network rules, checked on the host for every
    //! address and redirect, against a real local server.

    use super::*;
    use pluto_paf::policy::NetworkPolicy;
    use pluto_tools::Tool;
    use pluto_tools::http_fetch::HttpFetch;

    fn network(allow: &[&str], deny: &[&str]) -> NetworkPolicy {
        serde_json::from_value(json!({"allow": allow, "deny": deny})).unwrap()
    }

    async fn fetch(policy: NetworkPolicy, url: &str) -> ToolResult {
        let dir = tempfile::tempdir().unwrap();
        HttpFetch::sandboxed(policy)
            .call(json!({"url": url}), &ctx(dir.path()))
            .await
    }

    #[tokio::test]
    async fn only_what_the_policy_names_is_reached() {
        let server = StandIn::start(|request, _| {
            if request.path == "/hop" {
                Reply::error(302, "").with_header("location", "/page")
            } else if request.path == "/away" {
                Reply::error(302, "").with_header("location", "http://127.0.0.2:9/elsewhere")
            } else {
                Reply::stream("text/plain", vec!["served".into()])
            }
        })
        .await;
        let url = format!("{}/page", server.url);

        let ok = fetch(network(&["127.0.0.1"], &[]), &url).await;
        assert!(!ok.is_error, "{}", ok.content);
        assert!(ok.content.contains("served"));
        assert_eq!(ok.details["mode"], "sandbox");

        // Nothing allowed by default; `*` and a host name do not cover loopback.
        for allow in [vec![], vec!["*"], vec!["localhost"]] {
            let url = url.replace("127.0.0.1", "localhost");
            let refused = fetch(network(&allow, &[]), &url).await;
            assert!(refused.is_error, "{allow:?}: {}", refused.content);
            assert!(!refused.content.contains("served"));
        }
        let refused = fetch(network(&["*"], &[]), &url).await;
        assert!(
            refused.content.contains("must name it in network.allow"),
            "{}",
            refused.content
        );

        // Deny wins over allow.
        let denied = fetch(network(&["127.0.0.0/8"], &["127.0.0.1"]), &url).await;
        assert!(
            denied.is_error && denied.content.contains("network.deny"),
            "{}",
            denied.content
        );

        // A redirect is checked like the first request: followed where allowed, refused elsewhere.
        let hop = fetch(network(&["127.0.0.1"], &[]), &format!("{}/hop", server.url)).await;
        assert!(
            !hop.is_error && hop.content.contains("served"),
            "{}",
            hop.content
        );
        let away = fetch(
            network(&["127.0.0.1"], &[]),
            &format!("{}/away", server.url),
        )
        .await;
        assert!(away.is_error, "{}", away.content);
        assert!(away.content.contains("127.0.0.2"), "{}", away.content);
        assert_eq!(
            server
                .requests()
                .iter()
                .filter(|r| r.path == "/elsewhere")
                .count(),
            0
        );
    }
}

#[tokio::test]
async fn native_file_writes_keep_the_policys_disk_quota() {
    use pluto_paf::policy::DiskLimit;
    use pluto_paf::scalar::{ByteSize, Scalar};
    let client = reqwest::Client::new();
    let mut tb = Toolbox::new();
    let disk = DiskLimit {
        bytes: Some(ByteSize::parse("1MiB").unwrap()),
        files: Some(3),
    };
    for tool in builtin(Builtin::Files, &client, Some(disk)) {
        tb.add(tool).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let c = ctx(dir.path());
    let chunk = "x".repeat(600 << 10);
    let first = call(
        &tb,
        &c,
        "write_file",
        json!({"path": "a.txt", "content": chunk}),
    )
    .await;
    assert!(!first.is_error, "{}", first.content);
    // Rewriting a file gives its old contents back: still within the quota.
    let again = call(
        &tb,
        &c,
        "write_file",
        json!({"path": "a.txt", "content": chunk}),
    )
    .await;
    assert!(!again.is_error, "{}", again.content);
    let second = call(
        &tb,
        &c,
        "write_file",
        json!({"path": "b.txt", "content": chunk}),
    )
    .await;
    assert!(second.is_error, "{}", second.content);
    assert!(
        second.content.contains("disk quota (1MiB and 3 files)"),
        "{}",
        second.content
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["a.txt"], "nothing half-written, no temporary file");
    for name in ["c.txt", "d.txt"] {
        let r = call(&tb, &c, "write_file", json!({"path": name, "content": "x"})).await;
        assert!(!r.is_error, "{}", r.content);
    }
    let fourth = call(
        &tb,
        &c,
        "write_file",
        json!({"path": "e.txt", "content": "x"}),
    )
    .await;
    assert!(fourth.is_error, "the entry quota: {}", fourth.content);
}
