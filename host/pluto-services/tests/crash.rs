//! Crash safety: a writer killed with SIGKILL over and over while appending loses nothing it
//! acknowledged, and never damages earlier events; on files and on PostgreSQL.
//!
//! The writer is this test binary itself, run again with `PLUTO_CRASH_WRITER` set.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pluto_services::{
    FileStore, NewSession, PgStore, SessionId, SessionStore, StoreError, Tenant, all_events,
};
use pluto_test_support::services::postgres_url;
use serde_json::json;

const KILLS: usize = 12;

async fn open(url: &str) -> Arc<dyn SessionStore> {
    match url.strip_prefix("file://") {
        Some(path) => Arc::new(FileStore::new(path)),
        None => Arc::new(PgStore::connect(url, 2).await.expect("PostgreSQL")),
    }
}

/// The writer: appends events as fast as it can and prints each acknowledged number.
#[tokio::test]
async fn crash_writer_child() {
    let Ok(url) = std::env::var("PLUTO_CRASH_WRITER") else {
        return; // only a writer when the crash test runs it
    };
    let tenant = Tenant::new("crash").unwrap();
    let id = SessionId::new(std::env::var("PLUTO_CRASH_SESSION").unwrap()).unwrap();
    let store = open(&url).await;
    let mut last = store.get(&tenant, &id).await.expect("session").last_seq;
    let padding = "p".repeat(32 * 1024);
    let mut out = std::io::stdout().lock();
    loop {
        let batch: Vec<_> = (1..=3)
            .map(|i| json!({"type": "message.delta", "n": last + i, "pad": padding}))
            .collect();
        last = store
            .append(&tenant, &id, last, &batch)
            .await
            .expect("append");
        writeln!(out, "acked {last}").unwrap();
        out.flush().unwrap();
    }
}

async fn kill_loop(url: &str) {
    let tenant = Tenant::new("crash").unwrap();
    let store = open(url).await;
    let session = store
        .create(
            &tenant,
            NewSession {
                agent: "writer".into(),
                ..NewSession::default()
            },
        )
        .await
        .unwrap();
    let mut acked = 0u64;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_writer_child",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("PLUTO_CRASH_WRITER", url)
            .env("PLUTO_CRASH_SESSION", session.id.as_str())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        // Let it write for a while (a different while each round), then kill it mid-stride.
        let until = Instant::now() + Duration::from_millis(150 + 37 * round as u64);
        let mut seen_this_round = 0;
        while Instant::now() < until || seen_this_round == 0 {
            let Some(Ok(line)) = lines.next() else { break };
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.parse().unwrap();
                seen_this_round += 1;
            }
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        // Acknowledgements already in the pipe count too: they were printed after the append.
        for line in lines.map_while(Result::ok) {
            if let Some(n) = line.strip_prefix("acked ") {
                acked = n.parse().unwrap();
            }
        }
        child.wait().unwrap();
        assert!(
            seen_this_round > 0,
            "round {round}: the writer acknowledged nothing"
        );
    }
    let events = all_events(&*store, &tenant, &session.id, 0).await.unwrap();
    assert!(
        events.len() as u64 >= acked,
        "{} events stored, {acked} acknowledged",
        events.len()
    );
    for (i, event) in events.iter().enumerate() {
        assert_eq!(event.seq, i as u64 + 1, "numbers are consecutive");
        assert_eq!(
            event.data["n"], event.seq,
            "event {} holds what was written",
            event.seq
        );
    }
    // And the log takes appends again after the last crash.
    let last = store.get(&tenant, &session.id).await.unwrap().last_seq;
    assert_eq!(last, events.len() as u64);
    store
        .append(&tenant, &session.id, last, &[json!({"n": last + 1})])
        .await
        .unwrap();
    eprintln!(
        "{KILLS} kills, {acked} events acknowledged, {} stored",
        events.len()
    );
}

#[tokio::test]
async fn sigkill_loop_on_files_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    kill_loop(&format!("file://{}", dir.path().display())).await;
}

#[tokio::test]
async fn sigkill_loop_on_postgres_loses_no_acknowledged_event() {
    kill_loop(&postgres_url()).await;
}

/// A torn last line (a writer died mid-line) is not an event, and the next append cuts it off
/// without touching what came before.
#[tokio::test]
async fn a_torn_last_line_is_ignored_then_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    let tenant = Tenant::new("t").unwrap();
    let id = store
        .create(
            &tenant,
            NewSession {
                agent: "a".into(),
                ..NewSession::default()
            },
        )
        .await
        .unwrap()
        .id;
    store
        .append(&tenant, &id, 0, &[json!({"n": 1}), json!({"n": 2})])
        .await
        .unwrap();
    let log = dir
        .path()
        .join("tenants/t/sessions")
        .join(id.as_str())
        .join("events.jsonl");
    let before = std::fs::read_to_string(&log).unwrap();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(br#"{"seq":3,"at":"2026-01-01T00:00:00.000Z","data":{"n":"#)
        .unwrap();
    assert_eq!(store.get(&tenant, &id).await.unwrap().last_seq, 2);
    assert_eq!(store.events(&tenant, &id, 0, 10).await.unwrap().len(), 2);
    assert!(matches!(
        store.append(&tenant, &id, 3, &[json!({"n": 3})]).await,
        Err(StoreError::Conflict {
            expected: 3,
            actual: 2
        })
    ));
    assert_eq!(
        store
            .append(&tenant, &id, 2, &[json!({"n": 3})])
            .await
            .unwrap(),
        3
    );
    let after = std::fs::read_to_string(&log).unwrap();
    assert!(after.starts_with(&before), "earlier events untouched");
    let events = store.events(&tenant, &id, 0, 10).await.unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.data["n"].clone())
            .collect::<Vec<_>>(),
        vec![json!(1), json!(2), json!(3)]
    );
}

/// Hostile ids never reach the file system.
#[tokio::test]
async fn hostile_ids_are_refused() {
    for bad in ["../x", "a/b", "..", ".hidden", "", "a\0b", "con\\x"] {
        assert!(SessionId::new(bad).is_err(), "{bad:?}");
        assert!(Tenant::new(bad).is_err(), "{bad:?}");
    }
    let long = "a".repeat(129);
    assert!(SessionId::new(long).is_err());
}
