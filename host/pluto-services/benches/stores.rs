//! Appends/s and reads/s of each session backend, and artifact saves/loads in files and S3.
//!
//!     cargo bench -p pluto-services --bench stores
//!
//! Needs PostgreSQL and Redis on their local ports and moto (`bash tests/run.sh` installs it);
//! a backend that cannot be reached is reported and skipped. Prints a Markdown table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pluto_services::{
    ArtifactStore, FileStore, NewSession, PgStore, RedisStore, SessionStore, Tenant, blob_store,
    bytes_body,
};
use pluto_test_support::services::{S3Server, postgres_url, redis_url};
use serde_json::{Value, json};

const APPENDS: u64 = 2000;
const BATCH: usize = 20;
const READS: u64 = 200;

fn event(n: u64) -> Value {
    json!({"type": "message.delta", "turn": 1, "text": format!("token {n} of a streamed answer, about a hundred bytes long.")})
}

fn rate(n: u64, took: Duration) -> String {
    format!("{:.0}", n as f64 / took.as_secs_f64())
}

/// One event per append, each acknowledged before the next; then batches; then reads.
async fn sessions(name: &str, store: Arc<dyn SessionStore>) {
    let tenant = Tenant::new("bench").unwrap();
    let id = store
        .create(
            &tenant,
            NewSession {
                agent: "bench".into(),
                ..NewSession::default()
            },
        )
        .await
        .expect("create")
        .id;
    let mut last = 0;
    let start = Instant::now();
    for n in 0..APPENDS {
        last = store
            .append(&tenant, &id, last, &[event(n)])
            .await
            .expect("append");
    }
    let single = start.elapsed();

    let batch: Vec<Value> = (0..BATCH as u64).map(event).collect();
    let rounds = APPENDS / BATCH as u64;
    let start = Instant::now();
    for _ in 0..rounds {
        last = store
            .append(&tenant, &id, last, &batch)
            .await
            .expect("append");
    }
    let batched = start.elapsed();

    // Reads: the last 100 events (an SSE resume), and a whole 4,000-event log.
    let start = Instant::now();
    for _ in 0..READS {
        let got = store
            .events(&tenant, &id, last - 100, 100)
            .await
            .expect("read");
        assert_eq!(got.len(), 100);
    }
    let tail = start.elapsed();
    let start = Instant::now();
    let full_reads = READS / 10;
    for _ in 0..full_reads {
        let got = store.events(&tenant, &id, 0, 10_000).await.expect("read");
        assert_eq!(got.len() as u64, last);
    }
    let full = start.elapsed();
    println!(
        "| {name} | {} | {} | {} | {} |",
        rate(APPENDS, single),
        rate(rounds * BATCH as u64, batched),
        rate(READS, tail),
        rate(full_reads * last, full),
    );
}

async fn artifacts(name: &str, artifacts: ArtifactStore, sessions: Arc<dyn SessionStore>) {
    let tenant = Tenant::new("bench").unwrap();
    let id = sessions
        .create(
            &tenant,
            NewSession {
                agent: "bench".into(),
                ..NewSession::default()
            },
        )
        .await
        .expect("create")
        .id;
    let body = vec![7u8; 64 * 1024];
    let n = 200u64;
    let start = Instant::now();
    for _ in 0..n {
        artifacts
            .save(
                &tenant,
                &id,
                "out.bin",
                "application/octet-stream",
                bytes_body(body.clone()),
            )
            .await
            .expect("save");
    }
    let saves = start.elapsed();
    let start = Instant::now();
    for _ in 0..n {
        artifacts
            .read_all(&tenant, &id, "out.bin", None)
            .await
            .expect("load");
    }
    let loads = start.elapsed();
    println!("| {name} | {} | {} |", rate(n, saves), rate(n, loads));
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!(
        "Session events ({APPENDS} single appends, then batches of {BATCH}; reads of the last 100 events and of the whole log):\n"
    );
    println!(
        "| backend | appends/s (1 event, durable) | events/s (batches of {BATCH}) | tail reads/s (100 events) | events read/s (whole log) |"
    );
    println!("|---|---|---|---|---|");
    sessions("files", Arc::new(FileStore::new(dir.path()))).await;
    match PgStore::connect(&postgres_url(), 4).await {
        Ok(pg) => sessions("PostgreSQL", Arc::new(pg)).await,
        Err(e) => println!("| PostgreSQL | skipped: {e} | | | |"),
    }
    match RedisStore::connect(&redis_url()).await {
        Ok(redis) => sessions("Redis", Arc::new(redis)).await,
        Err(e) => println!("| Redis | skipped: {e} | | | |"),
    }

    println!("\nArtifacts (64 KiB each; the index in files or PostgreSQL):\n");
    println!("| bytes in | saves/s | loads/s |");
    println!("|---|---|---|");
    let files = Arc::new(FileStore::new(dir.path()));
    let local = ArtifactStore::new(
        blob_store(None, dir.path()).unwrap(),
        files.clone(),
        files.clone(),
        u64::MAX,
    );
    artifacts("files", local, files).await;
    if let Ok(pg) = PgStore::connect(&postgres_url(), 4).await {
        let pg = Arc::new(pg);
        let s3 = S3Server::start();
        let url = s3.bucket("bench", "artifacts");
        let store = ArtifactStore::new(
            blob_store(Some(&url), dir.path()).unwrap(),
            pg.clone(),
            pg.clone(),
            u64::MAX,
        );
        artifacts("S3 (moto), index in PostgreSQL", store, pg).await;
    }
}
