//! The conformance suite against every backend, on real servers.

use std::sync::Arc;

use pluto_services::{ArtifactStore, FileStore, PgStore, RedisStore, blob_store, conformance};
use pluto_test_support::services::{S3Server, postgres_url, redis_url};

const LIMIT: u64 = 32 * 1024 * 1024;

#[tokio::test]
async fn file_sessions() {
    let dir = tempfile::tempdir().unwrap();
    conformance::sessions(Arc::new(FileStore::new(dir.path()))).await;
}

#[tokio::test]
async fn file_memory() {
    let dir = tempfile::tempdir().unwrap();
    conformance::memory(Arc::new(FileStore::new(dir.path()))).await;
}

#[tokio::test]
async fn file_artifacts() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(dir.path()));
    let blobs = blob_store(None, dir.path()).unwrap();
    let artifacts = ArtifactStore::new(blobs, store.clone(), store.clone(), LIMIT);
    conformance::artifacts(store, &artifacts, LIMIT).await;
}

async fn postgres() -> Arc<PgStore> {
    Arc::new(
        PgStore::connect(&postgres_url(), 8)
            .await
            .expect("PostgreSQL on 127.0.0.1:5432 (see tests/run.sh)"),
    )
}

#[tokio::test]
async fn postgres_sessions() {
    conformance::sessions(postgres().await).await;
}

#[tokio::test]
async fn postgres_memory() {
    conformance::memory(postgres().await).await;
}

#[tokio::test]
async fn postgres_artifacts_in_s3() {
    let store = postgres().await;
    let s3 = S3Server::start();
    let url = s3.bucket("pluto-artifacts", "tenants-data");
    let blobs = blob_store(Some(&url), std::path::Path::new("unused")).unwrap();
    let artifacts = ArtifactStore::new(blobs, store.clone(), store.clone(), LIMIT);
    conformance::artifacts(store, &artifacts, LIMIT).await;
}

#[tokio::test]
async fn redis_sessions() {
    let store = RedisStore::connect(&redis_url())
        .await
        .expect("Redis on 127.0.0.1:6379 (see tests/run.sh)");
    conformance::sessions(Arc::new(store)).await;
}

#[tokio::test]
async fn migrations_run_once() {
    let url = postgres_url();
    let store = PgStore::connect(&url, 2).await.unwrap();
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "already applied at connect"
    );
    let again = PgStore::connect_only(&url, 2).await.unwrap();
    assert_eq!(again.migrate().await.unwrap(), 0);
}

#[tokio::test]
async fn redis_ttl_expires_idle_sessions() {
    use pluto_services::{NewSession, Page, SessionStore, StoreError, Tenant};
    let store = RedisStore::connect(&format!("{}&ttl=1", redis_url()))
        .await
        .unwrap();
    let tenant = Tenant::new("ephemeral").unwrap();
    let new = || NewSession {
        agent: "a".into(),
        ..NewSession::default()
    };
    let id = store.create(&tenant, new()).await.unwrap().id;
    store
        .append(&tenant, &id, 0, &[serde_json::json!({"n": 1})])
        .await
        .unwrap();
    assert_eq!(store.get(&tenant, &id).await.unwrap().last_seq, 1);
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    assert!(matches!(
        store.get(&tenant, &id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.events(&tenant, &id, 0, 10).await,
        Err(StoreError::NotFound { .. })
    ));
    let listed = store.list(&tenant, None, &Page::first(10)).await.unwrap();
    assert!(
        listed.items.is_empty(),
        "expired sessions leave the listing"
    );
}

#[tokio::test]
async fn file_tenants() {
    let dir = tempfile::tempdir().unwrap();
    conformance::tenants(Arc::new(FileStore::new(dir.path()))).await;
}

#[tokio::test]
async fn postgres_tenants() {
    conformance::tenants(postgres().await).await;
}
