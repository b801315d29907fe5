//! Attack tests: a hostile guest (`guest/probe`) attempts each escape and exhaustion directly
//! through WASI. Every attempt must fail safely, with the host healthy and the next call
//! working.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use pluto_paf::Policy;
use pluto_paf::policy::{Access, FsGrant, FsPath};
use pluto_paf::scalar::{ByteSize, Duration, Scalar, VarName};
use pluto_sandbox::{Component, Sandbox, SandboxConfig};
use serde_json::json;

const PROBE: &[u8] = include_bytes!(env!("PLUTO_GUEST_PROBE"));

struct Fixture {
    sandbox: Sandbox,
    probe: Arc<Component>,
    /// Holds `ws/` (the workspace), `secret.txt` and `outside/` next to it.
    dir: tempfile::TempDir,
}

impl Fixture {
    async fn new(max_instances: u32) -> Fixture {
        let config = SandboxConfig {
            cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache")),
            max_instances,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::new(&config).unwrap();
        let probe = sandbox.load("probe", PROBE).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ws")).unwrap();
        std::fs::create_dir(dir.path().join("outside")).unwrap();
        std::fs::write(dir.path().join("secret.txt"), "TOP-SECRET").unwrap();
        std::fs::write(dir.path().join("outside/secret.txt"), "TOP-SECRET").unwrap();
        Fixture {
            sandbox,
            probe,
            dir,
        }
    }

    fn ws(&self) -> PathBuf {
        self.dir.path().join("ws")
    }

    async fn call_in(
        &self,
        policy: &Policy,
        ws: &Path,
        tool: &str,
        args: serde_json::Value,
    ) -> pluto_core::ToolResult {
        let env = |k: &str| match k {
            "TZ" => Some("Europe/Paris".to_owned()),
            "SECRET_TOKEN" => Some("sk-live-123".to_owned()),
            _ => None,
        };
        self.sandbox
            .call(&self.probe, policy, ws, &env, tool, &args.to_string())
            .await
    }

    async fn call(&self, policy: &Policy, tool: &str, args: serde_json::Value) -> String {
        let r = self.call_in(policy, &self.ws(), tool, args).await;
        r.content
    }

    /// The host is healthy: a normal call right after works.
    async fn healthy(&self) {
        std::fs::write(self.ws().join("health.txt"), "fine").unwrap();
        assert_eq!(
            self.call(
                &policy(Access::Write),
                "read",
                json!({"path": "/workspace/health.txt"})
            )
            .await,
            "ok: \"fine\""
        );
    }
}

/// The workspace with `access`, small limits, and TZ passed through.
fn policy(access: Access) -> Policy {
    let access = if access == Access::Write {
        vec![Access::Read, Access::Write]
    } else {
        vec![Access::Read]
    };
    let mut p = Policy {
        filesystem: vec![FsGrant {
            path: FsPath::parse("{workspace}").unwrap(),
            access,
        }],
        ..Policy::default()
    };
    p.env.allow = vec![VarName::parse("TZ").unwrap()];
    p.limits.memory = ByteSize(64 << 20);
    p.limits.timeout = Duration(StdDuration::from_secs(2));
    p.limits.output = ByteSize(64 << 10);
    p
}

fn denied(text: &str) -> bool {
    text.starts_with("denied:")
}

#[tokio::test]
async fn paths_cannot_leave_the_workspace() {
    let f = Fixture::new(8).await;
    let p = policy(Access::Write);
    let secret = f.dir.path().join("secret.txt");
    let long = format!("/workspace/{}", "a/".repeat(50_000));
    for path in [
        "/workspace/../secret.txt",
        "/workspace/x/../../secret.txt",
        "../secret.txt",
        "secret.txt",
        secret.to_str().unwrap(),
        "/etc/passwd",
        "/proc/self/environ",
        "/proc/1/cmdline",
        "/dev/zero",
        "",
        "/workspace/a\u{0}b",
        &long,
    ] {
        let out = f.call(&p, "read", json!({"path": path})).await;
        assert!(denied(&out), "{path:.80}: {out:.200}");
        let out = f
            .call(&p, "write", json!({"path": path, "content": "pwned"}))
            .await;
        assert!(denied(&out), "write {path:.80}: {out:.200}");
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "TOP-SECRET");
    assert!(!f.dir.path().join("pwned").exists());
    f.healthy().await;
}

#[tokio::test]
async fn symbolic_links_planted_by_the_host_do_not_lead_out() {
    let f = Fixture::new(8).await;
    let ws = f.ws();
    let outside = f.dir.path().join("outside");
    std::os::unix::fs::symlink(f.dir.path().join("secret.txt"), ws.join("abs")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", ws.join("rel")).unwrap();
    std::os::unix::fs::symlink("c2", ws.join("c1")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", ws.join("c2")).unwrap();
    std::os::unix::fs::symlink(format!("{}/", outside.display()), ws.join("slash")).unwrap();
    std::os::unix::fs::symlink("../outside/", ws.join("relslash")).unwrap();
    std::os::unix::fs::symlink("../created-outside.txt", ws.join("dangling")).unwrap();
    let p = policy(Access::Write);
    for path in [
        "abs",
        "rel",
        "c1",
        "slash/secret.txt",
        "relslash/secret.txt",
    ] {
        let out = f
            .call(&p, "read", json!({"path": format!("/workspace/{path}")}))
            .await;
        assert!(denied(&out), "{path}: {out}");
    }
    let out = f
        .call(
            &p,
            "write",
            json!({"path": "/workspace/dangling", "content": "x"}),
        )
        .await;
    assert!(denied(&out), "{out}");
    assert!(
        !f.dir.path().join("created-outside.txt").exists(),
        "a write went through a dangling link"
    );
    let out = f
        .call(&p, "list", json!({"path": "/workspace/slash"}))
        .await;
    assert!(denied(&out), "{out}");
    f.healthy().await;
}

#[tokio::test]
async fn hard_links_to_outside_files_are_refused() {
    let f = Fixture::new(8).await;
    std::fs::hard_link(
        f.dir.path().join("secret.txt"),
        f.ws().join("looks-innocent.txt"),
    )
    .unwrap();
    let r = f
        .call_in(
            &policy(Access::Write),
            &f.ws(),
            "read",
            json!({"path": "/workspace/looks-innocent.txt"}),
        )
        .await;
    assert!(r.is_error, "{}", r.content);
    assert!(
        r.content.contains("`looks-innocent.txt` has 2 hard links"),
        "{}",
        r.content
    );
    std::fs::remove_file(f.ws().join("looks-innocent.txt")).unwrap();
    f.healthy().await;
}

#[tokio::test]
async fn a_read_only_policy_allows_no_change_of_any_kind() {
    let f = Fixture::new(8).await;
    std::fs::write(f.ws().join("keep.txt"), "original").unwrap();
    std::fs::create_dir(f.ws().join("sub")).unwrap();
    let ro = policy(Access::Read);
    let attempts = [
        (
            "write",
            json!({"path": "/workspace/keep.txt", "content": "changed"}),
        ),
        (
            "write",
            json!({"path": "/workspace/new.txt", "content": "new"}),
        ),
        ("truncate", json!({"path": "/workspace/keep.txt"})),
        ("set_len", json!({"path": "/workspace/keep.txt"})),
        ("set_times", json!({"path": "/workspace/keep.txt"})),
        ("remove", json!({"path": "/workspace/keep.txt"})),
        ("mkdir", json!({"path": "/workspace/dir"})),
        (
            "rename",
            json!({"path": "/workspace/keep.txt", "to": "/workspace/moved.txt"}),
        ),
        (
            "hard_link",
            json!({"path": "/workspace/keep.txt", "to": "/workspace/link.txt"}),
        ),
    ];
    let before = std::fs::metadata(f.ws().join("keep.txt"))
        .unwrap()
        .modified()
        .unwrap();
    for (tool, args) in attempts {
        let out = f.call(&ro, tool, args.clone()).await;
        assert!(denied(&out), "{tool} {args}: {out}");
    }
    assert_eq!(
        std::fs::read_to_string(f.ws().join("keep.txt")).unwrap(),
        "original"
    );
    assert_eq!(
        std::fs::metadata(f.ws().join("keep.txt"))
            .unwrap()
            .modified()
            .unwrap(),
        before
    );
    let names: Vec<_> = std::fs::read_dir(f.ws())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert_eq!(
        f.call(&ro, "read", json!({"path": "/workspace/keep.txt"}))
            .await,
        "ok: \"original\""
    );
}

#[tokio::test]
async fn nothing_moves_from_a_read_only_folder_into_a_writable_one() {
    let f = Fixture::new(8).await;
    let shared = f.dir.path().join("outside");
    let mut p = policy(Access::Write);
    p.filesystem.push(FsGrant {
        path: FsPath::parse(shared.to_str().unwrap()).unwrap(),
        access: vec![Access::Read],
    });
    let from = format!("{}/secret.txt", shared.display());
    let out = f.call(&p, "read", json!({"path": from})).await;
    assert_eq!(out, "ok: \"TOP-SECRET\"", "the read-only grant is readable");
    for tool in ["rename", "hard_link"] {
        let out = f
            .call(
                &p,
                tool,
                json!({"path": from, "to": "/workspace/stolen.txt"}),
            )
            .await;
        assert!(denied(&out), "{tool}: {out}");
    }
    assert!(shared.join("secret.txt").exists());
    assert!(!f.ws().join("stolen.txt").exists());
}

#[tokio::test]
async fn cpu_time_memory_stack_and_host_allocations_are_bounded() {
    let f = Fixture::new(8).await;
    let p = policy(Access::Write);
    let started = Instant::now();
    let spin = f.call_in(&p, &f.ws(), "spin", json!({})).await;
    assert!(spin.is_error);
    assert_eq!(spin.content, "timeout after 2s");
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "{:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let sleep = f.call_in(&p, &f.ws(), "sleep", json!({"secs": 3600})).await;
    assert_eq!(sleep.content, "timeout after 2s");
    assert!(
        started.elapsed() < StdDuration::from_secs(4),
        "a blocked host call was not cut: {:?}",
        started.elapsed()
    );

    let alloc = f.call_in(&p, &f.ws(), "alloc", json!({"mib": 1024})).await;
    assert!(alloc.is_error);
    assert_eq!(alloc.content, "memory limit 64MiB exceeded");

    let recurse = f
        .call_in(&p, &f.ws(), "recurse", json!({"depth": 100_000_000u64}))
        .await;
    assert!(
        recurse.is_error && recurse.content.starts_with("the sandboxed tool failed"),
        "{}",
        recurse.content
    );

    let random = f
        .call_in(&p, &f.ws(), "random", json!({"bytes": 1u64 << 40}))
        .await;
    assert!(random.is_error, "{}", random.content);

    let mut big = policy(Access::Write);
    big.limits.memory = ByteSize(512 << 20);
    let huge = f
        .call_in(&big, &f.ws(), "huge_string", json!({"bytes": 64 << 20}))
        .await;
    assert!(
        huge.is_error,
        "a 64 MiB result passed the host-call fuel: {:.100}",
        huge.content
    );

    // A million open handles: the resource table's cap ends the call.
    std::fs::write(f.ws().join("health.txt"), "x").unwrap();
    let handles = f
        .call_in(
            &p,
            &f.ws(),
            "resources",
            json!({"path": "/workspace/health.txt", "count": 1_000_000}),
        )
        .await;
    assert!(handles.is_error, "{}", handles.content);
    assert_eq!(
        handles.content,
        "the sandboxed tool failed: resource table has no free keys"
    );
    f.healthy().await;
}

#[tokio::test]
async fn an_output_flood_is_capped() {
    let f = Fixture::new(8).await;
    let r = f
        .call_in(
            &policy(Access::Write),
            &f.ws(),
            "flood",
            json!({"chunks": 100_000}),
        )
        .await;
    let flooded: u64 = r
        .content
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(flooded <= 2 * (64 << 10) + 2 * (64 << 10), "{}", r.content);
    let text = f
        .call_in(
            &policy(Access::Write),
            &f.ws(),
            "huge_string",
            json!({"bytes": 200_000}),
        )
        .await;
    assert!(
        text.content.ends_with("[output truncated at 64KiB]"),
        "{:.100}",
        text.content
    );
    assert!(text.content.len() < (64 << 10) + 100);
    f.healthy().await;
}

#[tokio::test]
async fn only_granted_environment_variables_and_no_arguments_are_visible() {
    let f = Fixture::new(8).await;
    let out = f.call(&policy(Access::Write), "env", json!({})).await;
    assert_eq!(out, r#"vars: [("TZ", "Europe/Paris")]; args: []"#);
}

#[tokio::test]
async fn a_large_folder_is_listed_within_limits() {
    let f = Fixture::new(8).await;
    let big = f.ws().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..100_000 {
        std::fs::File::create(big.join(format!("f{i}"))).unwrap();
    }
    let mut p = policy(Access::Write);
    p.limits.timeout = Duration(StdDuration::from_secs(20));
    let out = f
        .call(&p, "count_dir", json!({"path": "/workspace/big"}))
        .await;
    assert!(out == "ok: 100000" || out.starts_with("timeout"), "{out}");
    f.healthy().await;
}

#[tokio::test]
async fn a_burst_of_calls_waits_for_the_pool_instead_of_failing() {
    let f = Arc::new(Fixture::new(4).await);
    std::fs::write(f.ws().join("health.txt"), "fine").unwrap();
    let calls = (0..200).map(|_| {
        let f = f.clone();
        tokio::spawn(async move {
            f.call(
                &policy(Access::Write),
                "read",
                json!({"path": "/workspace/health.txt"}),
            )
            .await
        })
    });
    for call in calls {
        assert_eq!(call.await.unwrap(), "ok: \"fine\"");
    }
}

#[tokio::test]
async fn tenants_see_nothing_of_each_other() {
    let f = Fixture::new(2).await;
    let (a, b) = (f.dir.path().join("tenant-a"), f.dir.path().join("tenant-b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let p = policy(Access::Write);
    let canary = "CANARY-7f3a9e-TENANT-A";
    let w = f
        .call_in(
            &p,
            &a,
            "write",
            json!({"path": "/workspace/canary.txt", "content": canary}),
        )
        .await;
    assert_eq!(w.content, "ok: ()");
    let fill = f
        .call_in(&p, &a, "fill", json!({"canary": canary, "mib": 16}))
        .await;
    assert!(fill.content.starts_with("ok: filled"), "{}", fill.content);
    for _ in 0..4 {
        // Tenant B gets the pooled slots tenant A used: no file and no byte of A's memory shows.
        let read = f
            .call_in(&p, &b, "read", json!({"path": "/workspace/canary.txt"}))
            .await;
        assert!(denied(&read.content), "{}", read.content);
        let scan = f
            .call_in(&p, &b, "scan", json!({"canary": canary, "mib": 16}))
            .await;
        assert_eq!(scan.content, "found 0");
    }
}

#[tokio::test]
async fn links_made_by_the_guest_do_not_lead_out() {
    let f = Fixture::new(8).await;
    let p = policy(Access::Write);
    let secret = f.dir.path().join("secret.txt");
    for (target, link) in [
        ("/etc", "etc"),
        ("/etc/passwd", "passwd"),
        ("../../../../etc", "up"),
        ("../secret.txt", "secret"),
        (secret.to_str().unwrap(), "abs-secret"),
    ] {
        let made = f
            .call(&p, "symlink", json!({"target": target, "link": link}))
            .await;
        // Making the link may be refused outright; if it is allowed, following it must fail.
        if made == "ok: linked" {
            for path in [
                format!("/workspace/{link}"),
                format!("/workspace/{link}/passwd"),
            ] {
                let read = f.call(&p, "read", json!({"path": path})).await;
                assert!(denied(&read), "{target} via {path}: {read}");
                let write = f
                    .call(&p, "write", json!({"path": path, "content": "pwned"}))
                    .await;
                assert!(denied(&write), "{target} via {path}: {write}");
            }
        } else {
            assert!(denied(&made), "{made}");
        }
    }
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "TOP-SECRET");
    f.healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sockets_connect_only_to_what_the_policy_allows() {
    let f = Fixture::new(8).await;
    // A local server the policy allows, and one it does not.
    let serve = |answer: &'static str| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                use std::io::{Read, Write};
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        port
    };
    let allowed = serve("HTTP/1.0 200 allowed\r\n\r\n");
    let other = serve("HTTP/1.0 200 other\r\n\r\n");
    let mut p = Policy::default();
    p.network.allow = vec![
        pluto_paf::network::NetRule::parse(&format!("127.0.0.1:{allowed}")).unwrap(),
        pluto_paf::network::NetRule::parse("*").unwrap(),
    ];
    let connect = |addr: String| {
        let (f, p) = (&f, &p);
        async move { f.call(p, "connect", json!({ "addr": addr })).await }
    };
    assert_eq!(
        connect(format!("127.0.0.1:{allowed}")).await,
        "connected: HTTP/1.0 200 allowed"
    );
    // Another port on the same host, a private and a metadata address, IPv4-mapped loopback:
    // `*` does not open special ranges.
    for addr in [
        format!("127.0.0.1:{other}"),
        "10.0.0.1:80".to_owned(),
        "169.254.169.254:80".to_owned(),
        format!("[::ffff:127.0.0.1]:{other}"),
    ] {
        let out = connect(addr.clone()).await;
        assert!(out.starts_with("refused"), "{addr}: {out}");
    }
    // No listening, no UDP, whatever the allow list says.
    let out = f.call(&p, "listen", json!({"addr": "127.0.0.1:0"})).await;
    assert!(out.starts_with("refused"), "{out}");
    let out = f
        .call(&p, "udp", json!({"addr": format!("127.0.0.1:{allowed}")}))
        .await;
    assert!(out.starts_with("refused"), "{out}");
    // Without any network rule, no socket at all.
    let out = f
        .call(
            &Policy::default(),
            "connect",
            json!({"addr": format!("127.0.0.1:{allowed}")}),
        )
        .await;
    assert!(out.starts_with("refused"), "{out}");
    f.healthy().await;
}
