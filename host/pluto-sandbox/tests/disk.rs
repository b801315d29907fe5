//! `limits.disk`: a tenant's writable folders cannot grow past the policy's quota, by bytes or by
//! entries, through any guest (the `files` tools, the shell, a hostile probe); a refused write
//! leaves nothing half-written, and what is removed is given back.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pluto_paf::Policy;
use pluto_paf::policy::DiskLimit;
use pluto_paf::scalar::{ByteSize, Scalar};
use pluto_sandbox::{Component, Sandbox, SandboxConfig, guests};
use serde_json::{Value, json};

struct Fixture {
    sandbox: Sandbox,
    files: Arc<Component>,
    shell: Arc<Component>,
    probe: Arc<Component>,
    ws: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Fixture {
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
        let sandbox = Sandbox::new(&SandboxConfig {
            cache_dir: Some(cache),
            ..SandboxConfig::default()
        })
        .unwrap();
        let files = sandbox.load("files", guests::FILES).await.unwrap();
        let shell = sandbox.load("shell", guests::SHELL).await.unwrap();
        let probe = sandbox
            .load("probe", include_bytes!(env!("PLUTO_GUEST_PROBE")))
            .await
            .unwrap();
        Fixture {
            sandbox,
            files,
            shell,
            probe,
            ws: tempfile::tempdir().unwrap(),
        }
    }

    async fn call(
        &self,
        component: &Component,
        policy: &Policy,
        tool: &str,
        args: Value,
    ) -> pluto_core::ToolResult {
        let env = |_: &str| None;
        self.sandbox
            .call(
                component,
                policy,
                self.ws.path(),
                &env,
                tool,
                &args.to_string(),
            )
            .await
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.ws.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn quota(bytes: Option<&str>, files: Option<u64>) -> Policy {
    let mut p = Policy::builtin_default();
    p.limits.disk = Some(DiskLimit {
        bytes: bytes.map(|b| ByteSize::parse(b).unwrap()),
        files,
    });
    p
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_files_tools_stop_at_the_byte_quota_and_leave_nothing_half_written() {
    let f = Fixture::new().await;
    let p = quota(Some("1MiB"), None);
    let chunk = "x".repeat(600 << 10);
    let first = f
        .call(
            &f.files,
            &p,
            "write_file",
            json!({"path": "a.txt", "content": chunk}),
        )
        .await;
    assert!(!first.is_error, "{}", first.content);
    let second = f
        .call(
            &f.files,
            &p,
            "write_file",
            json!({"path": "b.txt", "content": chunk}),
        )
        .await;
    assert!(second.is_error, "{}", second.content);
    assert!(
        second.content.contains("disk quota (1MiB) is reached"),
        "the error says why: {}",
        second.content
    );
    assert_eq!(f.names(), ["a.txt"], "no partial b.txt, no temporary file");
    assert_eq!(size(&f.ws.path().join("a.txt")), 600 << 10);
    // What is removed is given back: the next call measures the folder again.
    std::fs::remove_file(f.ws.path().join("a.txt")).unwrap();
    let third = f
        .call(
            &f.files,
            &p,
            "write_file",
            json!({"path": "b.txt", "content": chunk}),
        )
        .await;
    assert!(!third.is_error, "{}", third.content);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_entry_quota_counts_files_and_folders() {
    let f = Fixture::new().await;
    let p = quota(None, Some(3));
    for name in ["1.txt", "2.txt", "3.txt"] {
        let r = f
            .call(
                &f.files,
                &p,
                "write_file",
                json!({"path": name, "content": "x"}),
            )
            .await;
        assert!(!r.is_error, "{name}: {}", r.content);
    }
    let fourth = f
        .call(
            &f.files,
            &p,
            "write_file",
            json!({"path": "4.txt", "content": "x"}),
        )
        .await;
    assert!(fourth.is_error, "{}", fourth.content);
    let dir = f
        .call(&f.probe, &p, "mkdir", json!({"path": "/workspace/d"}))
        .await;
    assert!(dir.content.starts_with("denied"), "{}", dir.content);
    assert_eq!(f.names(), ["1.txt", "2.txt", "3.txt"]);
    // Within one call, a removal makes room for a new entry.
    let shell = f
        .call(
            &f.shell,
            &p,
            "shell",
            json!({"command": "rm 1.txt && touch 5.txt && ls | tr '\\n' ' '"}),
        )
        .await;
    assert_eq!(shell.details["exit_code"], 0, "{}", shell.content);
    assert_eq!(f.names(), ["2.txt", "3.txt", "5.txt"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shell_fails_loudly_at_the_quota() {
    let f = Fixture::new().await;
    let p = quota(Some("256KiB"), None);
    let r = f
        .call(
            &f.shell,
            &p,
            "shell",
            json!({"command": "seq 1 200000 > big.txt"}),
        )
        .await;
    assert_ne!(r.details["exit_code"], 0, "{:.300}", r.content);
    assert!(
        r.content.contains("disk quota (256KiB) is reached"),
        "{:.300}",
        r.content
    );
    assert!(size(&f.ws.path().join("big.txt")) <= 256 << 10);
    // Within the quota the same shell writes and appends.
    let r = f
        .call(
            &f.shell,
            &p,
            "shell",
            json!({"command": "rm big.txt; seq 1 1000 > s.txt; seq 1 10 >> s.txt; wc -l < s.txt"}),
        )
        .await;
    assert_eq!(r.details["exit_code"], 0, "{:.300}", r.content);
    assert!(r.content.contains("1010"), "{:.300}", r.content);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_guest_cannot_grow_past_the_quota_by_any_write() {
    let f = Fixture::new().await;
    let p = quota(Some("64KiB"), Some(10));
    // Straight writes (a stream), truncation to a large size (set-size), growth by appending.
    let big = "y".repeat(100 << 10);
    let out = f
        .call(
            &f.probe,
            &p,
            "write",
            json!({"path": "/workspace/w.txt", "content": big}),
        )
        .await;
    assert!(out.content.starts_with("denied"), "{}", out.content);
    assert!(size(&f.ws.path().join("w.txt")) <= 64 << 10);
    std::fs::write(f.ws.path().join("s.txt"), "small").unwrap();
    let out = f
        .call(
            &f.probe,
            &p,
            "set_len",
            json!({"path": "/workspace/s.txt", "len": 1u64 << 30}),
        )
        .await;
    assert!(
        out.content.starts_with("denied") || size(&f.ws.path().join("s.txt")) <= 64 << 10,
        "{}",
        out.content
    );
    assert!(size(&f.ws.path().join("s.txt")) <= 64 << 10);
    // Without a quota the same policy writes freely.
    let free = Policy::builtin_default();
    let out = f
        .call(
            &f.probe,
            &free,
            "write",
            json!({"path": "/workspace/w.txt", "content": big}),
        )
        .await;
    assert_eq!(out.content, "ok: ()");
}
