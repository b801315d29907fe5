//! The attack probe: a hostile tool component, built only for the sandbox's attack tests.
//!
//! Each tool attempts one kind of escape or exhaustion directly through WASI (not through a
//! shell), and reports what happened as text: `ok: ...` when the attempt succeeded (the tests
//! then fail), `denied: ...` with the error otherwise. Tools that exhaust a resource never
//! return on their own; the host must stop them.

use std::io::Write;

use serde_json::Value;

wit_bindgen::generate!({ path: "../../wit/sandbox", world: "tool-component" });

use exports::pluto::sandbox::tool::{ContentPart, Guest, ToolDefinition, ToolResult};

fn reply(text: String) -> ToolResult {
    ToolResult { content: vec![ContentPart::Text(text)], details: "null".into(), is_error: false }
}

fn outcome<T: std::fmt::Debug>(r: std::io::Result<T>) -> String {
    match r {
        Ok(v) => format!("ok: {v:?}"),
        Err(e) => format!("denied: {e}"),
    }
}

fn s(args: &Value, key: &str) -> String {
    args[key].as_str().unwrap_or_default().to_owned()
}

#[inline(never)]
fn recurse(depth: u64, pad: [u8; 256]) -> u64 {
    if depth == 0 { pad[0] as u64 } else { recurse(depth - 1, std::hint::black_box(pad)) + 1 }
}

struct Probe;

impl Guest for Probe {
    fn describe() -> Vec<ToolDefinition> {
        ["read", "write", "truncate", "set_len", "set_times", "remove", "mkdir", "rename", "hard_link", "list",
         "count_dir", "env", "connect", "listen", "udp", "spin", "sleep", "alloc", "recurse", "flood", "random", "resources", "huge_string", "fill", "scan", "symlink",
         "sleep_read", "resolve"]
            .iter()
            .map(|n| ToolDefinition { name: (*n).into(), description: format!("attack: {n}"), input_schema: "{\"type\":\"object\"}".into() })
            .collect()
    }

    fn call(name: String, arguments: String) -> ToolResult {
        let args: Value = serde_json::from_str(&arguments).unwrap_or(Value::Null);
        let path = s(&args, "path");
        let text = match name.as_str() {
            "read" => outcome(std::fs::read_to_string(&path)),
            "write" => outcome(std::fs::write(&path, s(&args, "content"))),
            "truncate" => outcome(std::fs::OpenOptions::new().write(true).truncate(true).open(&path).map(|_| ())),
            "set_len" => outcome(std::fs::OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(args["len"].as_u64().unwrap_or(0)))),
            "set_times" => outcome(std::fs::File::open(&path).and_then(|f| f.set_modified(std::time::SystemTime::UNIX_EPOCH))),
            "remove" => outcome(std::fs::remove_file(&path)),
            "mkdir" => outcome(std::fs::create_dir(&path)),
            "rename" => outcome(std::fs::rename(&path, s(&args, "to"))),
            "hard_link" => outcome(std::fs::hard_link(&path, s(&args, "to"))),
            "list" => outcome(std::fs::read_dir(&path).map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect::<Vec<_>>())),
            "count_dir" => outcome(std::fs::read_dir(&path).map(|d| d.count())),
            "env" => format!("vars: {:?}; args: {:?}", std::env::vars().collect::<Vec<_>>(), std::env::args().collect::<Vec<_>>()),
            "connect" => match std::net::TcpStream::connect(s(&args, "addr")) {
                Ok(mut stream) => {
                    use std::io::{Read, Write};
                    let _ = stream.write_all(b"GET / HTTP/1.0\r\n\r\n");
                    let mut answer = String::new();
                    let _ = stream.read_to_string(&mut answer);
                    format!("connected: {}", answer.lines().next().unwrap_or(""))
                }
                Err(e) => format!("refused: {e}"),
            },
            "listen" => match std::net::TcpListener::bind(s(&args, "addr")) {
                Ok(l) => format!("listening on {:?}", l.local_addr()),
                Err(e) => format!("refused: {e}"),
            },
            "udp" => match std::net::UdpSocket::bind("0.0.0.0:0").and_then(|u| u.send_to(b"x", s(&args, "addr"))) {
                Ok(n) => format!("sent {n} bytes"),
                Err(e) => format!("refused: {e}"),
            },
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(args["secs"].as_u64().unwrap_or(3600)));
                "woke up".into()
            }
            "alloc" => {
                // Grow memory in 1 MiB steps, touching every page.
                let mut keep: Vec<Vec<u8>> = Vec::new();
                for _ in 0..args["mib"].as_u64().unwrap_or(1 << 20) {
                    keep.push(vec![1u8; 1 << 20]);
                }
                format!("ok: allocated {} MiB", keep.len())
            }
            "recurse" => format!("ok: {}", recurse(args["depth"].as_u64().unwrap_or(u64::MAX), [7; 256])),
            "flood" => {
                let chunk = vec![b'x'; 64 * 1024];
                let mut written = 0u64;
                for _ in 0..args["chunks"].as_u64().unwrap_or(1 << 20) {
                    let out = std::io::stdout().write_all(&chunk).and_then(|()| std::io::stderr().write_all(&chunk));
                    if out.is_err() {
                        break;
                    }
                    written += 2 * chunk.len() as u64;
                }
                format!("flooded {written} bytes")
            }
            "random" => {
                let bytes = wasip2::random::random::get_random_bytes(args["bytes"].as_u64().unwrap_or(1 << 40));
                format!("ok: {} random bytes", bytes.len())
            }
            "resources" => {
                let mut open = Vec::new();
                let mut last = String::new();
                for _ in 0..args["count"].as_u64().unwrap_or(1_000_000) {
                    match std::fs::File::open(&path) {
                        Ok(f) => open.push(f),
                        Err(e) => {
                            last = e.to_string();
                            break;
                        }
                    }
                }
                format!("opened {} handles; then: {last}", open.len())
            }
            "symlink" => {
                // A link made by the guest itself, through WASI's `symlink-at` on the workspace
                // preopen (std has no stable WASI symlink).
                let preopens = wasip2::filesystem::preopens::get_directories();
                match preopens.iter().find(|(_, p)| p == "/workspace") {
                    Some((dir, _)) => match dir.symlink_at(&s(&args, "target"), &s(&args, "link")) {
                        Ok(()) => "ok: linked".to_owned(),
                        Err(e) => format!("denied: {e:?}"),
                    },
                    None => "denied: no /workspace preopen".to_owned(),
                }
            }
            "sleep_read" => {
                // Wait (for the host to change the workspace meanwhile), then read.
                std::thread::sleep(std::time::Duration::from_millis(args["ms"].as_u64().unwrap_or(500)));
                outcome(std::fs::read_to_string(&path))
            }
            "resolve" => {
                // A name lookup through wasi:sockets/ip-name-lookup (what would leak a name as
                // a DNS query).
                use wasip2::sockets::{instance_network::instance_network, ip_name_lookup::resolve_addresses};
                let network = instance_network();
                match resolve_addresses(&network, &s(&args, "name")) {
                    Ok(stream) => {
                        stream.subscribe().block();
                        let mut found = Vec::new();
                        loop {
                            match stream.resolve_next_address() {
                                Ok(Some(a)) => found.push(format!("{a:?}")),
                                Ok(None) => break,
                                Err(e) => {
                                    found.push(format!("{e:?}"));
                                    break;
                                }
                            }
                        }
                        format!("ok: {found:?}")
                    }
                    Err(e) => format!("denied: {e:?}"),
                }
            }
            "huge_string" => "y".repeat(args["bytes"].as_u64().unwrap_or(1 << 30) as usize),
            "fill" => {
                // Leave a canary all over linear memory, for the next tenant to look for.
                let canary = s(&args, "canary");
                let mut block = Vec::with_capacity(args["mib"].as_u64().unwrap_or(8) as usize * (1 << 20));
                while block.len() + canary.len() <= block.capacity() {
                    block.extend_from_slice(canary.as_bytes());
                }
                format!("ok: filled {} bytes", std::hint::black_box(block).len())
            }
            "scan" => {
                // Look at fresh, never-written memory for a canary some earlier call left.
                let canary = s(&args, "canary");
                let size = args["mib"].as_u64().unwrap_or(8) as usize * (1 << 20);
                let mut block: Vec<u8> = Vec::with_capacity(size);
                let fresh = block.spare_capacity_mut();
                // SAFETY: reading uninitialized bytes as u8 is what this attack is about; any
                // value is a valid u8.
                let bytes: Vec<u8> = fresh.iter().map(|b| unsafe { b.assume_init() }).collect();
                let found = bytes.windows(canary.len().max(1)).filter(|w| *w == canary.as_bytes()).count();
                block.push(0);
                format!("found {found}")
            }
            other => format!("unknown probe `{other}`"),
        };
        reply(text)
    }
}

export!(Probe);
