//! Built only for the tests: a minimal MCP server for wasm32-wasip2 (JSON-RPC lines on stdio,
//! no SDK) whose `spin` tool never returns and whose `ping` answers `pong` — to check that a
//! wasm MCP server stuck in a loop is stopped by the call timeout and started again.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

fn main() {
    let mut out = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else { continue };
        let Some(id) = msg.get("id").cloned() else { continue };
        let result = match msg["method"].as_str() {
            Some("initialize") => json!({
                "protocolVersion": msg["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "spin", "version": "0.1.0"}
            }),
            Some("tools/list") => json!({"tools": [
                {"name": "spin", "description": "Never returns.", "inputSchema": {"type": "object"}},
                {"name": "ping", "description": "Answers pong.", "inputSchema": {"type": "object"}}
            ]}),
            Some("tools/call") if msg["params"]["name"] == "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            Some("tools/call") => json!({"content": [{"type": "text", "text": "pong"}]}),
            _ => {
                let error = json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32601, "message": "method not found"}});
                let _ = writeln!(out, "{error}");
                let _ = out.flush();
                continue;
            }
        };
        let _ = writeln!(out, "{}", json!({"jsonrpc": "2.0", "id": id, "result": result}));
        let _ = out.flush();
    }
}
