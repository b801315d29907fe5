//! The `shell` guest under the sandbox: the command language and commands the issue names, run
//! inside the component over the workspace, with no process spawned.

use pluto_paf::Policy;
use pluto_sandbox::{Sandbox, SandboxConfig, guests};

#[tokio::test(flavor = "multi_thread")]
async fn the_shell_guest_runs_pipelines_and_commands_over_the_workspace() {
    let cache = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
    let sandbox = Sandbox::new(&SandboxConfig {
        cache_dir: Some(cache),
        ..SandboxConfig::default()
    })
    .unwrap();
    let shell = sandbox.load("shell", guests::SHELL).await.unwrap();
    assert_eq!(shell.definitions()[0].name, "shell");
    let ws = tempfile::tempdir().unwrap();
    std::fs::write(
        ws.path().join("f.txt"),
        "apple\nbanana\ncherry\napple pie\n",
    )
    .unwrap();
    let policy = Policy::builtin_default();
    let env = |_: &str| None;
    let run = |command: &str| {
        let args = serde_json::json!({ "command": command }).to_string();
        let sandbox = &sandbox;
        let shell = &shell;
        let policy = &policy;
        let ws = ws.path().to_path_buf();
        async move { sandbox.call(shell, policy, &ws, &env, "shell", &args).await }
    };
    let cases: &[(&str, &str)] = &[
        ("cat f.txt | grep apple | wc -l", "2"),
        ("echo hello > out.txt && cat out.txt", "hello"),
        (
            "echo a >> out.txt; echo b >> out.txt; tail -n 2 out.txt | tr a-z A-Z",
            "A\nB",
        ),
        ("false || echo recovered", "recovered"),
        ("true && echo yes; false; echo $?", "yes\n1"),
        ("X=world; echo \"hello $X\" 'and $X'", "hello world and $X"),
        ("echo $((6 * 7 + 1))", "43"),
        ("echo \"lines: $(wc -l < f.txt)\"", "lines: 4"),
        (
            "for i in 1 2 3; do echo n$i; done | sort -r | head -n 1",
            "n3",
        ),
        ("i=0; while [ $i -lt 3 ]; do i=$((i+1)); done; echo $i", "3"),
        (
            "if test -f f.txt; then echo file; else echo none; fi",
            "file",
        ),
        ("sort f.txt | uniq | cut -c1-3 | head -n 2", "app\napp"),
        (
            "mkdir -p d/e && touch d/e/x.md && find d -name '*.md'",
            "d/e/x.md",
        ),
        (
            "cp f.txt g.txt && mv g.txt h.txt && ls *.txt | sort | tr '\\n' ' '",
            "f.txt h.txt out.txt",
        ),
        ("sed 's/apple/APPLE/' f.txt | head -n 1", "APPLE"),
        ("seq 3 | xargs echo", "1 2 3"),
        ("basename /a/b/c.txt; dirname /a/b/c.txt", "c.txt\n/a/b"),
        ("printf '%s-%d\\n' x 5", "x-5"),
        ("pwd", "/workspace"),
        ("cd d && pwd", "/workspace/d"),
        ("echo x | tee t.txt; cat t.txt", "x\nx"),
        (
            "mkdir z && rmdir z && ls z 2>/dev/null || echo gone",
            "gone",
        ),
        (
            "rm h.txt && ls h.txt 2>/dev/null || echo removed",
            "removed",
        ),
        ("export GREETING=hi; env | grep '^GREETING='", "GREETING=hi"),
        ("[ 1 -lt 2 ] && echo less", "less"),
        ("sleep 0 && echo slept", "slept"),
        ("date +%Y | wc -c", "5"),
        ("diff f.txt f.txt && echo same", "same"),
        (
            "printf 'a\nb\n' > x.txt; diff f.txt x.txt > /dev/null; echo $?",
            "1",
        ),
    ];
    for (command, expected) in cases {
        let r = run(command).await;
        assert!(!r.is_error, "{command}: {}", r.content);
        let output = r
            .content
            .rsplit_once("\n[exit code:")
            .map_or("", |(out, _)| out);
        assert_eq!(output.trim_end(), *expected, "{command}\n{}", r.content);
        assert_eq!(r.details["mode"], "sandbox");
    }
    assert_eq!(
        std::fs::read_to_string(ws.path().join("out.txt")).unwrap(),
        "hello\na\nb\n"
    );

    let missing = run("no-such-program --flag").await;
    assert_eq!(missing.details["exit_code"], 127, "{}", missing.content);
    assert!(
        missing
            .content
            .contains("no-such-program: command not found"),
        "{}",
        missing.content
    );
    let escape = run("cat /etc/passwd; cat ../../../etc/passwd; ls /").await;
    assert!(!escape.content.contains("root:"), "{}", escape.content);
}
