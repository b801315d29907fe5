//! Sandboxed versus native tool calls: per-call latency (p50/p99) and many tenants in parallel.
//!
//!     cargo bench -p pluto-tools --bench sandbox
//!
//! A bench binary rather than criterion, to report percentiles and throughput. Each call goes
//! through the same `Toolbox` dispatch (schema check included) that the runtime uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pluto_core::{ToolCall, ToolContext, ToolExecutor};
use pluto_paf::Policy;
use pluto_paf::tool::Builtin;
use pluto_sandbox::{Sandbox, SandboxConfig, guests};
use pluto_tools::{Toolbox, builtin, sandboxed};
use tokio_util::sync::CancellationToken;

const CALLS: usize = 2000;

fn ctx(workspace: &Path) -> ToolContext {
    ToolContext {
        session: None,
        workspace: workspace.to_path_buf(),
        cancel: CancellationToken::new(),
        deadline: Instant::now() + Duration::from_secs(3600),
    }
}

fn call(name: &str, args: &str) -> ToolCall {
    ToolCall {
        id: "c".into(),
        name: name.into(),
        arguments: args.into(),
    }
}

/// p50 and p99 of `n` sequential calls, in microseconds.
async fn latency(tools: &Toolbox, workspace: &Path, c: &ToolCall, n: usize) -> (f64, f64) {
    let ctx = ctx(workspace);
    for _ in 0..n / 10 {
        assert!(!tools.call(c, &ctx).await.is_error);
    }
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let r = tools.call(c, &ctx).await;
        times.push(started.elapsed());
        assert!(!r.is_error, "{}", r.content);
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(times[n / 2]), us(times[n * 99 / 100]))
}

/// Calls per second with `tenants` workspaces called `parallel` at a time.
async fn throughput(
    tools: Arc<Toolbox>,
    workspaces: &[PathBuf],
    parallel: usize,
    total: usize,
) -> f64 {
    let started = Instant::now();
    let per_task = total / parallel;
    let tasks: Vec<_> = (0..parallel)
        .map(|i| {
            let tools = tools.clone();
            let ws = workspaces[i % workspaces.len()].clone();
            tokio::spawn(async move {
                let ctx = ctx(&ws);
                let c = call("read_file", r#"{"path":"f.txt"}"#);
                for _ in 0..per_task {
                    assert!(!tools.call(&c, &ctx).await.is_error);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (per_task * parallel) as f64 / started.elapsed().as_secs_f64()
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let root = tempfile::tempdir().unwrap();
        let workspaces: Vec<PathBuf> = (0..16)
            .map(|i| {
                let ws = root.path().join(format!("tenant-{i}"));
                std::fs::create_dir(&ws).unwrap();
                let text: String = (0..100)
                    .map(|n| format!("line {n}: the quick brown fox\n"))
                    .collect();
                std::fs::write(ws.join("f.txt"), text).unwrap();
                ws
            })
            .collect();

        let http = reqwest::Client::new();
        let mut native = Toolbox::new();
        for set in [Builtin::Files, Builtin::Shell] {
            for tool in builtin(set, &http, None) {
                native.add(tool).unwrap();
            }
        }
        let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");
        let sandbox = Arc::new(
            Sandbox::new(&SandboxConfig {
                cache_dir: Some(cache),
                ..SandboxConfig::default()
            })
            .unwrap(),
        );
        let env: sandboxed::Env = Arc::new(|_: &str| None);
        let policy = Arc::new(Policy::builtin_default());
        let mut boxed = Toolbox::new();
        for (name, wasm) in [("files", guests::FILES), ("shell", guests::SHELL)] {
            let component = sandbox.load(name, wasm).await.unwrap();
            for tool in sandboxed::tools(&sandbox, &component, &policy, &env) {
                boxed.add(tool).unwrap();
            }
        }

        let read = call("read_file", r#"{"path":"f.txt"}"#);
        let (np50, np99) = latency(&native, &workspaces[0], &read, CALLS).await;
        let (sp50, sp99) = latency(&boxed, &workspaces[0], &read, CALLS).await;
        let shell = call("shell", r#"{"command":"cat f.txt | grep fox | wc -l"}"#);
        let (hp50, hp99) = latency(&native, &workspaces[0], &shell, CALLS / 4).await;
        let (bp50, bp99) = latency(&boxed, &workspaces[0], &shell, CALLS / 4).await;

        println!("per call ({CALLS} sequential calls; µs)");
        println!("  read_file native     p50 {np50:8.1}  p99 {np99:8.1}");
        println!(
            "  read_file sandboxed  p50 {sp50:8.1}  p99 {sp99:8.1}  (sandboxed/native p50: {:.2}x)",
            sp50 / np50
        );
        println!("  shell native (cat f.txt | grep fox | wc -l)     p50 {hp50:8.1}  p99 {hp99:8.1}");
        println!(
            "  shell sandboxed (cat f.txt | grep fox | wc -l)  p50 {bp50:8.1}  p99 {bp99:8.1}  (sandboxed/native p50: {:.2}x)",
            bp50 / hp50
        );

        let boxed = Arc::new(boxed);
        let native = Arc::new(native);
        let before = rss_kib();
        let sandboxed_rate = throughput(boxed.clone(), &workspaces, 16, 8000).await;
        let peak = rss_kib();
        let native_rate = throughput(native, &workspaces, 16, 8000).await;
        println!("16 tenants, 16 calls in flight, read_file:");
        println!("  sandboxed {sandboxed_rate:8.0} calls/s   native {native_rate:8.0} calls/s");
        println!(
            "  resident memory while 16 sandboxed calls run: +{} KiB ({} KiB per instance)",
            peak.saturating_sub(before),
            peak.saturating_sub(before) / 16
        );
    });
}
