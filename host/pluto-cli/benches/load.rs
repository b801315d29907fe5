//! Load on `pluto serve` (the release binary) against a stand-in provider:
//!
//!     cargo bench -p pluto-cli --bench load              # both
//!     cargo bench -p pluto-cli --bench load -- runs      # 1,000 concurrent SSE runs
//!     cargo bench -p pluto-cli --bench load -- tenants   # 10,000 tenants, one agent each
//!
//! `runs` measures the latency Pluto adds to a provider turn (the stand-in answers at once),
//! alone and with 1,000 streamed runs in flight, and the server's peak memory. `tenants` needs
//! PostgreSQL (tenants and keys live there) and reports the server's resident memory before and
//! after each tenant's agent is loaded. `PLUTO_BENCH_RUNS` and `PLUTO_BENCH_TENANTS` change the counts.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use pluto_test_support::services::postgres_url;
use pluto_test_support::{Format, StandIn, Step, scripted_model};
use serde_json::{Value, json};

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(dir: &Path, provider: &str, args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_pluto"))
            .args(["serve", "--bind", "127.0.0.1:0", "--agents"])
            .arg(dir.join("agents"))
            .arg("--workspace")
            .arg(dir)
            .args(args)
            .current_dir(dir)
            .env("OPENROUTER_BASE_URL", format!("{provider}/api/v1"))
            .env("OPENROUTER_API_KEY", "sk-or-bench")
            .env("PLUTO_LOG", "error")
            .env_remove("PLUTO_STATE")
            .env_remove("PLUTO_ADMIN_KEY")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pluto serve (release)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines.next().expect("pluto serve exited").unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Server { child, url }
    }

    /// (resident now, peak resident) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One streamed run, read to its end; its latency.
async fn streamed_run(http: &reqwest::Client, url: &str) -> Duration {
    let started = Instant::now();
    let response = http
        .post(url)
        .header("accept", "text/event-stream")
        .json(&json!({"input": "Say hello."}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);
    let mut body = response.bytes_stream();
    let mut text = Vec::new();
    while let Some(chunk) = body.next().await {
        text.extend_from_slice(&chunk.expect("body"));
    }
    let took = started.elapsed();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("event: run.completed"), "{text}");
    took
}

async fn runs() {
    let n = count("PLUTO_BENCH_RUNS", 1000);
    let model = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("Hello from the stand-in model, in a few streamed words.")
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("agents/greeter.md"),
        "---\npaf: 1\nname: greeter\ndescription: Greets\nmodel: { provider: openrouter, name: m }\n---\nGreet.\n",
    )
    .unwrap();
    let state = format!("file://{}", dir.path().join("state").display());
    let server = Server::start(
        dir.path(),
        &model.url,
        &["--state", &state, "--max-runs", "100000"],
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4096)
        .build()
        .unwrap();
    let url = format!("{}/v1/agents/greeter/runs", server.url);

    // The provider turn alone: the same request shape, straight to the stand-in.
    let direct = format!("{}/api/v1/chat/completions", model.url);
    let body = json!({"model": "m", "stream": true, "messages": [
        {"role": "system", "content": "Greet."}, {"role": "user", "content": "Say hello."}]});
    let mut base = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let r = http.post(&direct).json(&body).send().await.unwrap();
        let _ = r.bytes().await.unwrap();
        base.push(started.elapsed());
    }
    base.sort();
    let baseline = percentile(&base, 0.5);

    for _ in 0..20 {
        streamed_run(&http, &url).await;
    }
    let mut alone = Vec::new();
    for _ in 0..200 {
        alone.push(streamed_run(&http, &url).await);
    }
    alone.sort();
    let (rss_before, _) = server.memory();

    let gate = Arc::new(tokio::sync::Barrier::new(n + 1));
    let mut tasks = Vec::new();
    for _ in 0..n {
        let (http, url, gate) = (http.clone(), url.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            streamed_run(&http, &url).await
        }));
    }
    gate.wait().await;
    let started = Instant::now();
    let mut loaded = Vec::new();
    for t in tasks {
        loaded.push(t.await.unwrap());
    }
    let wall = started.elapsed();
    loaded.sort();
    let (rss_after, peak) = server.memory();

    println!("Streamed runs (one provider turn each, file state, {n} concurrent):\n");
    println!("| | p50 | p99 |");
    println!("|---|---|---|");
    println!(
        "| provider turn alone (stand-in, direct) | {} | {} |",
        ms(baseline),
        ms(percentile(&base, 0.99))
    );
    println!(
        "| one run at a time, added by Pluto | {} | {} |",
        ms(percentile(&alone, 0.5).saturating_sub(baseline)),
        ms(percentile(&alone, 0.99).saturating_sub(baseline))
    );
    println!(
        "| {n} runs at once, added by Pluto | {} | {} |",
        ms(percentile(&loaded, 0.5).saturating_sub(baseline)),
        ms(percentile(&loaded, 0.99).saturating_sub(baseline))
    );
    println!(
        "\n{n} runs in {:.2} s ({:.0} runs/s); server memory: {} MiB resident before, {} MiB after, {} MiB peak",
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
}

async fn tenants() {
    let n = count("PLUTO_BENCH_TENANTS", 10_000);
    let model = StandIn::start(scripted_model(Format::OpenRouter, |_: &Value| {
        Step::answer("hi")
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    let state = postgres_url();
    let data = dir.path().join("data");
    let server = Server::start(
        dir.path(),
        &model.url,
        &[
            "--state",
            &state,
            "--data",
            data.to_str().unwrap(),
            "--admin-key",
            "bench-admin",
            "--agent-cache",
            "100000",
        ],
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let (rss_start, _) = server.memory();
    let started = Instant::now();
    let keys: Vec<String> = futures::stream::iter(0..n)
        .map(|i| {
            let (http, url) = (http.clone(), server.url.clone());
            async move {
                let admin = |r: reqwest::RequestBuilder| r.bearer_auth("bench-admin");
                let t = format!("tenant-{i}");
                let r = admin(http.put(format!("{url}/admin/v1/tenants/{t}"))).send().await.unwrap();
                assert!(r.status().is_success());
                let key: Value = admin(http.post(format!("{url}/admin/v1/tenants/{t}/keys")))
                    .send().await.unwrap().json().await.unwrap();
                let files = json!({"helper.md": format!(
                    "---\npaf: 1\nname: helper\ndescription: Helps tenant {i}\nmodel: {{ provider: openrouter, name: m }}\n---\nHelp tenant {i}.\n")});
                let r = admin(http.put(format!("{url}/admin/v1/tenants/{t}/agents/helper")))
                    .json(&files).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
                key["key"].as_str().unwrap().to_owned()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let setup = started.elapsed();
    let (rss_idle, _) = server.memory();
    let started = Instant::now();
    futures::stream::iter(keys)
        .map(|key| {
            let (http, url) = (http.clone(), server.url.clone());
            async move {
                let r = http
                    .get(format!("{url}/v1/agents/helper"))
                    .bearer_auth(key)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
            }
        })
        .buffer_unordered(32)
        .for_each(|()| async {})
        .await;
    let load = started.elapsed();
    let (rss_loaded, peak) = server.memory();
    println!("\n{n} tenants, one deployed agent each (PostgreSQL state):\n");
    println!("| | resident memory |");
    println!("|---|---|");
    println!("| server started | {} MiB |", rss_start / 1024);
    println!(
        "| {n} tenants, keys and agents stored, none loaded | {} MiB |",
        rss_idle / 1024
    );
    println!(
        "| every tenant's agent loaded and cached | {} MiB ({:.1} KiB per tenant; peak {} MiB) |",
        rss_loaded / 1024,
        (rss_loaded.saturating_sub(rss_idle)) as f64 / n as f64,
        peak / 1024
    );
    println!(
        "\nSetting up {n} tenants through the admin API took {:.1} s; loading their agents {:.1} s ({:.0} agents/s).",
        setup.as_secs_f64(),
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = which.is_empty();
    if all || which.iter().any(|w| w == "runs") {
        runs().await;
    }
    if all || which.iter().any(|w| w == "tenants") {
        tenants().await;
    }
}
