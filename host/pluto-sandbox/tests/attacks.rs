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

// Hard links: a regular file with more than one link may be an outside file's inode. The
// check is made on each opened file (its link count, read from the opened descriptor), not by
// scanning the workspace, so neither timing nor the workspace's size gets around it.

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
    assert!(denied(&r.content), "{}", r.content);
    assert!(!r.content.contains("TOP-SECRET"), "{}", r.content);
    // The rest of the workspace stays usable: only that file is refused.
    std::fs::write(f.ws().join("other.txt"), "mine").unwrap();
    let other = f
        .call(
            &policy(Access::Write),
            "read",
            json!({"path": "/workspace/other.txt"}),
        )
        .await;
    assert_eq!(other, "ok: \"mine\"");
    std::fs::remove_file(f.ws().join("looks-innocent.txt")).unwrap();
    f.healthy().await;
}

#[tokio::test]
async fn a_hard_link_that_appears_while_a_call_runs_is_refused() {
    let f = Fixture::new(8).await;
    let (outside, link) = (f.dir.path().join("secret.txt"), f.ws().join("late.txt"));
    let planter = std::thread::spawn(move || {
        std::thread::sleep(StdDuration::from_millis(150));
        std::fs::hard_link(outside, link).unwrap();
    });
    let out = f
        .call(
            &policy(Access::Write),
            "sleep_read",
            json!({"path": "/workspace/late.txt", "ms": 600}),
        )
        .await;
    planter.join().unwrap();
    assert!(denied(&out), "{out}");
    assert!(!out.contains("TOP-SECRET"), "{out}");
}

#[tokio::test]
async fn a_hard_link_deep_in_a_huge_workspace_is_refused() {
    let f = Fixture::new(8).await;
    // More entries than any scan would look at, before the folder that holds the link.
    let bulk = f.ws().join("bulk");
    std::fs::create_dir_all(bulk.join("deeper/still")).unwrap();
    for i in 0..200_100 {
        std::fs::File::create(bulk.join(format!("f{i}"))).unwrap();
    }
    std::fs::hard_link(
        f.dir.path().join("secret.txt"),
        bulk.join("deeper/still/x.txt"),
    )
    .unwrap();
    let started = Instant::now();
    let out = f
        .call(
            &policy(Access::Write),
            "read",
            json!({"path": "/workspace/bulk/deeper/still/x.txt"}),
        )
        .await;
    assert!(denied(&out), "{out}");
    // No walk of the 200,000 files: the call costs what a call on an empty workspace costs.
    assert!(
        started.elapsed() < StdDuration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn writes_through_a_hard_link_change_nothing_outside() {
    let f = Fixture::new(8).await;
    let outside = f.dir.path().join("secret.txt");
    std::fs::hard_link(&outside, f.ws().join("linked.txt")).unwrap();
    let p = policy(Access::Write);
    for (tool, args) in [
        (
            "write",
            json!({"path": "/workspace/linked.txt", "content": "overwritten"}),
        ),
        ("truncate", json!({"path": "/workspace/linked.txt"})),
        ("set_len", json!({"path": "/workspace/linked.txt"})),
        ("set_times", json!({"path": "/workspace/linked.txt"})),
    ] {
        let out = f.call(&p, tool, args.clone()).await;
        assert!(denied(&out), "{tool} {args}: {out}");
        assert_eq!(
            std::fs::read_to_string(&outside).unwrap(),
            "TOP-SECRET",
            "{tool}"
        );
    }
}

#[tokio::test]
async fn a_symlink_to_a_hard_linked_file_is_refused_too() {
    let f = Fixture::new(8).await;
    std::fs::create_dir(f.ws().join("d")).unwrap();
    std::fs::hard_link(f.dir.path().join("secret.txt"), f.ws().join("d/linked.txt")).unwrap();
    std::os::unix::fs::symlink("d/linked.txt", f.ws().join("alias.txt")).unwrap();
    let out = f
        .call(
            &policy(Access::Write),
            "read",
            json!({"path": "/workspace/alias.txt"}),
        )
        .await;
    assert!(denied(&out), "{out}");
}

#[tokio::test]
async fn a_policy_may_allow_hard_links() {
    let f = Fixture::new(8).await;
    std::fs::write(f.ws().join("a.txt"), "shared inode").unwrap();
    std::fs::hard_link(f.ws().join("a.txt"), f.ws().join("b.txt")).unwrap();
    let strict = policy(Access::Write);
    let out = f
        .call(&strict, "read", json!({"path": "/workspace/b.txt"}))
        .await;
    assert!(denied(&out), "{out}");
    let mut open = policy(Access::Write);
    open.allow_hard_links = true;
    let out = f
        .call(&open, "read", json!({"path": "/workspace/b.txt"}))
        .await;
    assert_eq!(out, "ok: \"shared inode\"");
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

    // A million open handles: the resource table's cap ends the call (given the time to get
    // there: each open is also checked for hard links).
    std::fs::write(f.ws().join("health.txt"), "x").unwrap();
    let mut slow = p.clone();
    slow.limits.timeout = Duration::parse("20s").unwrap();
    let handles = f
        .call_in(
            &slow,
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

// Names: a lookup is an effect (the name leaves the host as a DNS query), so it is made only
// for names an allow rule names; the decision comes first, which the error shows: a refused
// name gets `access-denied`, a looked-up one whatever the resolver said.

fn network_policy(allow: &[&str], deny: &[&str]) -> Policy {
    let rules = |l: &[&str]| {
        l.iter()
            .map(|r| pluto_paf::network::NetRule::parse(r).unwrap())
            .collect()
    };
    let mut p = Policy::default();
    p.network.allow = rules(allow);
    p.network.deny = rules(deny);
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn names_are_looked_up_only_when_a_rule_names_them() {
    let f = Fixture::new(8).await;
    let resolve = |p: Policy, name: &'static str| {
        let f = &f;
        async move { f.call(&p, "resolve", json!({ "name": name })).await }
    };
    // Refused before any query: no network at all, another name, data encoded in a name,
    // a rule for another scheme (https:// rules are for wasi:http), rules naming addresses.
    for (allow, name) in [
        (vec![], "localhost"),
        (vec!["example.com"], "localhost"),
        (vec!["example.com"], "c2VjcmV0.exfil.invalid"),
        (vec!["*.corp.invalid"], "corp.invalid"),
        (vec!["*.corp.invalid"], "a.corp.invalid.evil.invalid"),
        (vec!["https://localhost"], "localhost"),
        (vec!["127.0.0.0/8", "::1"], "localhost"),
    ] {
        let out = resolve(network_policy(&allow, &[]), name).await;
        assert!(
            out.starts_with("denied") && (allow.is_empty() || out.contains("access-denied")),
            "{allow:?} {name}: {out}"
        );
    }
    // Looked up when named: the answer is the resolver's.
    let out = resolve(network_policy(&["localhost"], &[]), "localhost").await;
    assert!(out.starts_with("ok") && out.contains("127"), "{out}");
    let out = resolve(network_policy(&["*.corp.invalid"], &[]), "a.corp.invalid").await;
    assert!(!out.contains("access-denied"), "{out}");
    let out = resolve(network_policy(&["*"], &[]), "anything.invalid").await;
    assert!(!out.contains("access-denied"), "{out}");
    f.healthy().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_name_denies_its_addresses_in_every_form() {
    let f = Fixture::new(8).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let p = network_policy(&["127.0.0.0/8", "::1"], &["localhost"]);
    for addr in [
        format!("127.0.0.1:{port}"),
        format!("[::ffff:127.0.0.1]:{port}"),
    ] {
        let out = f.call(&p, "connect", json!({ "addr": addr })).await;
        assert!(out.starts_with("refused"), "{addr}: {out}");
    }
    drop(listener);
    // HTTP is decided by the same rules (`destination`, used by wasi:http and http_fetch).
    for host in ["127.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1", "localhost"] {
        let refused = pluto_sandbox::destination(&p.network, "http", host, port).await;
        assert!(
            matches!(&refused, Err(pluto_sandbox::Refused::Policy(why)) if why.contains("network.deny") || why.contains("not looked up")),
            "{host}: {refused:?}"
        );
    }
}

#[tokio::test]
async fn http_names_are_decided_before_they_are_looked_up() {
    use pluto_sandbox::{Refused, destination};
    let none = network_policy(&[], &[]);
    let some = network_policy(&["https://api.example.com:443", "*.corp.invalid"], &[]);
    // `.invalid` never resolves (RFC 6761): a lookup would answer `Lookup`, so `Policy` proves
    // the name was refused without one.
    for (p, host) in [
        (&none, "c2VjcmV0.exfil.invalid"),
        (&some, "c2VjcmV0.exfil.invalid"),
        (&some, "corp.invalid"),
    ] {
        let r = destination(&p.network, "https", host, 443).await;
        assert!(
            matches!(&r, Err(Refused::Policy(why)) if why.contains("not looked up")),
            "{host}: {r:?}"
        );
    }
    // Scheme and port are part of the decision: an https rule does not let a name be looked up
    // for http, nor for another port.
    let r = destination(&some.network, "http", "api.example.com", 80).await;
    assert!(matches!(r, Err(Refused::Policy(_))), "{r:?}");
    let r = destination(&some.network, "https", "api.example.com", 8443).await;
    assert!(matches!(r, Err(Refused::Policy(_))), "{r:?}");
    // A named one is looked up (and fails, being `.invalid`).
    let r = destination(&some.network, "https", "x.corp.invalid", 443).await;
    assert!(matches!(r, Err(Refused::Lookup(_))), "{r:?}");
}
