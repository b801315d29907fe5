//! Long-running programs (how wasm MCP servers run): stdio wired to the host, the policy's
//! workspace, and their share of the instance slots.

use std::path::PathBuf;
use std::time::Duration;

use pluto_paf::Policy;
use pluto_sandbox::{Process, Sandbox, SandboxConfig, guests};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::test(flavor = "multi_thread")]
async fn a_program_speaks_over_its_pipes_and_holds_its_share_of_the_slots() {
    let config = SandboxConfig {
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache")),
        max_instances: 2,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(&config).unwrap();
    let notes = guests::example("notes-mcp").expect("the notes example is embedded");
    let program = sandbox.load_program("notes", notes).unwrap();
    let ws = tempfile::tempdir().unwrap();
    let policy = Policy::builtin_default();
    let env = |_: &str| None;

    let Process { mut stdin, stdout } = sandbox
        .start(&program, &policy, ws.path(), &env)
        .await
        .unwrap();
    let mut stdout = BufReader::new(stdout);
    let mut ask = async |line: &str| {
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stdout.read_line(&mut answer))
            .await
            .expect("an answer within 10 s")
            .unwrap();
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()
    };
    let init = ask(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#).await;
    assert_eq!(init["result"]["serverInfo"]["name"], "notes", "{init}");
    let saved = ask(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}
{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"add_note","arguments":{"title":"t","text":"kept"}}}"#).await;
    assert_eq!(saved["result"]["isError"], false, "{saved}");
    // It wrote through the policy's `{workspace}` preopen.
    assert_eq!(
        std::fs::read_to_string(ws.path().join("notes/t.md")).unwrap(),
        "kept"
    );

    // Two slots: one program may run; a second is refused with the reason.
    let second = sandbox.start(&program, &policy, ws.path(), &env).await;
    let Err(why) = second else {
        panic!("a second program must be refused")
    };
    assert!(why.contains("as many wasm MCP servers as it may"), "{why}");

    // Dropping the first stops it and frees its share.
    drop((stdin, stdout));
    let mut again = None;
    for _ in 0..100 {
        if let Ok(p) = sandbox.start(&program, &policy, ws.path(), &env).await {
            again = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(again.is_some(), "the first program's share was released");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_component_is_not_a_program() {
    let sandbox = Sandbox::new(&SandboxConfig::default()).unwrap();
    let text = guests::example("text").unwrap();
    let Err(e) = sandbox.load_program("text", text) else {
        panic!("a tool component must be refused as a program")
    };
    assert!(e.to_string().contains("must export `wasi:cli/run`"), "{e}");
}
