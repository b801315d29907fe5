//! The `files` guest under the sandbox: the same tools as the native set, within the policy.

use pluto_paf::Policy;
use pluto_sandbox::{Sandbox, SandboxConfig, guests};

#[tokio::test]
async fn the_files_guest_reads_and_writes_the_workspace() {
    let sandbox = Sandbox::new(&SandboxConfig::default()).unwrap();
    let files = sandbox.load("files", guests::FILES).await.unwrap();
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
    let call = |tool: &'static str, args: &'static str| {
        sandbox.call(&files, &policy, ws.path(), &env, tool, args)
    };

    let w = call("write_file", r#"{"path":"a/b.txt","content":"hello\n"}"#).await;
    assert!(!w.is_error, "{}", w.content);
    assert_eq!(w.content, "Created a/b.txt (6 bytes)");
    assert_eq!(w.details["mode"], "sandbox");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("a/b.txt")).unwrap(),
        "hello\n"
    );
    assert_eq!(
        call("read_file", r#"{"path":"a/b.txt"}"#).await.content,
        "hello"
    );
    assert_eq!(
        call("glob", r#"{"pattern":"**/*.txt"}"#).await.content,
        "a/b.txt"
    );
    let escape = call("read_file", r#"{"path":"../../etc/passwd"}"#).await;
    assert!(escape.is_error);
    assert_eq!(
        escape.content,
        "`../../etc/passwd` is outside the workspace"
    );
}
