//! The `files` guest under the sandbox: the same results as the native tools, within the policy.

use std::path::Path;
use std::time::Instant;

use pluto_paf::Policy;
use pluto_sandbox::{Sandbox, SandboxConfig, guests};

#[tokio::test]
async fn the_files_guest_reads_and_writes_the_workspace() {
    let started = Instant::now();
    let sandbox = Sandbox::new(&SandboxConfig::default()).unwrap();
    let files = sandbox.load("files", guests::FILES).await.unwrap();
    eprintln!("load: {:?}", started.elapsed());
    let names: Vec<&str> = files
        .definitions()
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "read_file",
            "write_file",
            "edit_file",
            "list_dir",
            "glob",
            "grep"
        ]
    );

    let ws = tempfile::tempdir().unwrap();
    let policy = Policy::builtin_default();
    let env = |_: &str| None;
    let w = sandbox
        .call(
            &files,
            &policy,
            ws.path(),
            &env,
            "write_file",
            r#"{"path":"a/b.txt","content":"hello\n"}"#,
        )
        .await;
    assert!(!w.is_error, "{}", w.content);
    assert_eq!(w.content, "Created a/b.txt (6 bytes)");
    assert_eq!(w.details["mode"], "sandbox");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("a/b.txt")).unwrap(),
        "hello\n"
    );
    let started = Instant::now();
    let r = sandbox
        .call(
            &files,
            &policy,
            ws.path(),
            &env,
            "read_file",
            r#"{"path":"a/b.txt"}"#,
        )
        .await;
    eprintln!("call: {:?}", started.elapsed());
    assert_eq!(r.content, "hello");
    let escape = sandbox
        .call(
            &files,
            &policy,
            ws.path(),
            &env,
            "read_file",
            r#"{"path":"../../etc/passwd"}"#,
        )
        .await;
    assert!(escape.is_error);
    let _ = Path::new(".");
}
