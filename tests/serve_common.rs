//! What the `pluto serve` end-to-end tests share: a server process and request helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::Value;

/// A `pluto serve` process on a free port, killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
}

impl Server {
    pub fn start(dir: &std::path::Path, provider_url: &str, state: &str) -> Server {
        Server::start_with(dir, provider_url, state, &[])
    }

    pub fn start_with(
        dir: &std::path::Path,
        provider_url: &str,
        state: &str,
        extra: &[&str],
    ) -> Server {
        Server::start_wrapped(dir, provider_url, state, extra, &[])
    }

    /// As `start_with`, the binary run by `wrapper` (a command and its arguments, such as
    /// `prlimit --nofile=1024:4096`) when one is given.
    pub fn start_wrapped(
        dir: &std::path::Path,
        provider_url: &str,
        state: &str,
        extra: &[&str],
        wrapper: &[&str],
    ) -> Server {
        let pluto = env!("CARGO_BIN_EXE_pluto");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(pluto);
                c
            }
            None => Command::new(pluto),
        };
        let mut child = command
            .args(["serve", "--bind", "127.0.0.1:0", "--state", state])
            .args(extra)
            .arg("--agents")
            .arg(dir.join("agents"))
            .arg("--workspace")
            .arg(dir)
            .current_dir(dir)
            .env("OPENROUTER_BASE_URL", format!("{provider_url}/api/v1"))
            .env("OPENROUTER_API_KEY", "sk-or-test")
            .env_remove("PLUTO_STATE")
            .env_remove("PLUTO_BIND")
            .env_remove("PLUTO_ADMIN_KEY")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pluto serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("pluto serve exited before listening")
                .unwrap();
            if let Some(rest) = line.split("listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe; shown when a test fails.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                eprintln!("[pluto serve] {line}");
            }
        });
        Server { child, url }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("agents")).unwrap();
    std::fs::write(
        dir.path().join("agents/greeter.md"),
        "---\npaf: 1\nname: greeter\ndescription: Greets\nmodel: { provider: openrouter, name: m }\n---\nGreet.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("agents/worker.md"),
        "---\npaf: 1\nname: worker\ndescription: Runs commands\nmodel: { provider: openrouter, name: m }\ntools:\n  - builtin: shell\n---\nWork.\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("agents/keeper.md"),
        "---\npaf: 1\nname: keeper\ndescription: Keeps notes\nmodel: { provider: openrouter, name: m }\nmemory: { enabled: true, scope: agent }\n---\nKeep notes.\n",
    )
    .unwrap();
    dir
}

pub fn with_key(request: reqwest::RequestBuilder, key: Option<&str>) -> reqwest::RequestBuilder {
    match key {
        Some(key) => request.bearer_auth(key),
        None => request,
    }
}

pub async fn status(request: reqwest::RequestBuilder) -> u16 {
    request.send().await.unwrap().status().as_u16()
}

pub async fn json_of(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let code = response.status().as_u16();
    (code, response.json().await.unwrap_or(Value::Null))
}
