//! The real servers the state tests use: PostgreSQL and Redis on their standard local ports, and
//! an S3-compatible server (moto) started per test.
//!
//! `PLUTO_TEST_POSTGRES` and `PLUTO_TEST_REDIS` override the servers' URLs; `PLUTO_MOTO_SERVER`
//! names the `moto_server` program (`bash tests/run.sh` installs it and sets it).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}_{nanos}", std::process::id())
}

/// A PostgreSQL URL with a schema of its own, so that tests can run in parallel.
pub fn postgres_url() -> String {
    let base = std::env::var("PLUTO_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}schema=pluto_test_{}", unique())
}

/// A Redis URL with a key prefix of its own.
pub fn redis_url() -> String {
    let base =
        std::env::var("PLUTO_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned());
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}prefix=pluto_test_{}", unique())
}

/// A moto S3 server on a free local port, stopped when dropped.
#[derive(Debug)]
pub struct S3Server {
    child: Child,
    port: u16,
}

impl S3Server {
    /// Starts the server and waits until it answers.
    ///
    /// # Panics
    /// When `moto_server` cannot be found or does not start: run `bash tests/run.sh`, which
    /// installs it.
    pub fn start() -> S3Server {
        let program =
            std::env::var("PLUTO_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_owned());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `{program}` ({e}): run `bash tests/run.sh`, which installs moto"
                )
            });
        let server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The server's endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` and returns an `s3://` URL for it under `prefix`, with credentials.
    pub fn bucket(&self, bucket: &str, prefix: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("read");
        assert!(
            answer.starts_with("HTTP/1.1 200"),
            "creating the bucket: {answer}"
        );
        format!(
            "s3://{bucket}/{prefix}?endpoint={}&region=us-east-1&access_key_id=test&secret_access_key=test",
            self.endpoint()
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
