//! A tool call through `pluto mcp serve --sandbox`, measured by a minimal JSON-RPC client over
//! stdio (as a peer's numbers are): cold start from spawn to the first call's answer, then the
//! p50/p99 of repeated calls — a trivial echo component (the peer's benchmark), the sandboxed and
//! native `read_file`, and a wasm MCP server's tool.
//!
//!     cargo bench -p pluto-cli --bench mcp_serve

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const CALLS: usize = 2000;

/// One measured setup: an agent, the `pluto mcp serve` flags, and the call repeated.
struct Case {
    label: &'static str,
    tools: &'static str,
    sandbox: bool,
    tool: &'static str,
    arguments: Value,
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("note.txt"), "a short note\n".repeat(20)).unwrap();
    std::fs::create_dir_all(dir.path().join("notes")).unwrap();
    std::fs::write(dir.path().join("notes/n.md"), "a short note\n").unwrap();
    let cases = [
        Case {
            label: "echo component (example:text, always sandboxed)",
            tools: "  - component: example:text\n",
            sandbox: false,
            tool: "text__echo",
            arguments: json!({"text": "hello"}),
        },
        Case {
            label: "read_file, --sandbox (files component)",
            tools: "  - builtin: files\n",
            sandbox: true,
            tool: "read_file",
            arguments: json!({"path": "note.txt"}),
        },
        Case {
            label: "read_file, native",
            tools: "  - builtin: files\n",
            sandbox: false,
            tool: "read_file",
            arguments: json!({"path": "note.txt"}),
        },
        Case {
            label: "wasm MCP server (example:notes-mcp under wasmtime)",
            tools: "  - mcp: notes\n    wasm: example:notes-mcp\n",
            sandbox: false,
            tool: "notes__read_note",
            arguments: json!({"title": "n"}),
        },
    ];
    for case in &cases {
        std::fs::write(
            dir.path().join("a.md"),
            format!(
                "---\npaf: 1\nname: a\ndescription: Benchmarked\nmodel: {{ provider: openrouter, name: m }}\ntools:\n{}---\nWork.\n",
                case.tools
            ),
        )
        .unwrap();
        let sandbox = case.sandbox;
        let mut cold = Vec::new();
        let mut warm = Vec::new();
        for round in 0..5 {
            let started = Instant::now();
            let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
                .args(["mcp", "serve", "--agent", "a.md"])
                .args(if sandbox { vec!["--sandbox"] } else { vec![] })
                .current_dir(dir.path())
                .env(
                    "PLUTO_STATE",
                    format!("file://{}", dir.path().join("state").display()),
                )
                .env("PLUTO_LOG", "error")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = BufReader::new(child.stdout.take().unwrap());
            let mut id = 0;
            let mut request =
                |method: &str,
                 params: Value,
                 stdin: &mut std::process::ChildStdin,
                 stdout: &mut BufReader<std::process::ChildStdout>| {
                    id += 1;
                    let line =
                        json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
                            .to_string();
                    writeln!(stdin, "{line}").unwrap();
                    stdin.flush().unwrap();
                    let mut answer = String::new();
                    loop {
                        answer.clear();
                        stdout.read_line(&mut answer).unwrap();
                        let v: Value = serde_json::from_str(&answer).unwrap();
                        if v["id"] == id {
                            return v;
                        }
                    }
                };
            request(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}),
                &mut stdin,
                &mut stdout,
            );
            writeln!(
                stdin,
                "{}",
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
            )
            .unwrap();
            let call = json!({"name": case.tool, "arguments": case.arguments});
            let first = request("tools/call", call.clone(), &mut stdin, &mut stdout);
            assert_eq!(first["result"]["isError"], false, "{first}");
            cold.push(started.elapsed());
            if round == 0 {
                for _ in 0..CALLS {
                    let t = Instant::now();
                    let r = request("tools/call", call.clone(), &mut stdin, &mut stdout);
                    warm.push(t.elapsed());
                    assert_eq!(r["result"]["isError"], false);
                }
            }
            drop(stdin);
            child.wait().unwrap();
        }
        cold.sort();
        warm.sort();
        let p = |v: &[Duration], q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
        println!(
            "{}: call p50 {:.3} ms, p99 {:.3} ms ({CALLS} calls); spawn to first answer p50 {:.1} ms (5 starts, min {:.1}, max {:.1})",
            case.label,
            p(&warm, 0.5).as_secs_f64() * 1000.0,
            p(&warm, 0.99).as_secs_f64() * 1000.0,
            p(&cold, 0.5).as_secs_f64() * 1000.0,
            cold[0].as_secs_f64() * 1000.0,
            cold[cold.len() - 1].as_secs_f64() * 1000.0,
        );
    }
}
