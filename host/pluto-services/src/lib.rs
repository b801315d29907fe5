//! Pluto's state: sessions (append-only event logs), memory (searchable notes) and artifacts
//! (versioned blobs), per tenant, behind small traits with interchangeable backends.
//!
//! | URL | sessions | memory | artifact index | artifact bytes |
//! |---|---|---|---|---|
//! | `file://PATH` (default `./.pluto`) | files | files | files | files |
//! | `postgres://…` | PostgreSQL | PostgreSQL | PostgreSQL | `--artifacts` (default: files) |
//!
//! Tenants, API keys and deployed agents are kept beside memory.
//! | `redis://…` | Redis | files (`--data`) | files (`--data`) | `--artifacts` (default: files) |
//!
//! Artifact bytes go where `--artifacts` points: `file://PATH` or `s3://BUCKET/PREFIX?endpoint=…`.

mod artifact;
pub mod conformance;
mod error;
mod file;
mod ids;
mod memory;
mod postgres;
mod redis;
mod session;
mod tenants;
mod time;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStore;

pub use artifact::{
    ArtifactIndex, ArtifactStore, ArtifactVersion, ByteStream, DEFAULT_TENANT_LIMIT, bytes_body,
};
pub use error::{Result, StoreError};
pub use file::FileStore;
pub use ids::{SessionId, Tenant, check_id};
pub use memory::{Hit, MAX_TEXT, MemoryEntry, MemoryStore, Scope, bm25};
pub use postgres::PgStore;
pub use redis::RedisStore;
pub use session::{Listing, NewSession, Page, Session, SessionStore, StoredEvent, all_events};
pub use tenants::{AgentFiles, KeyRecord, NewKey, TenantStore, key_hash, new_key};
pub use time::Timestamp;

/// The three services, as one instance of Pluto uses them.
#[derive(Clone)]
pub struct Services {
    /// Sessions and their events.
    pub sessions: Arc<dyn SessionStore>,
    /// Memory.
    pub memory: Arc<dyn MemoryStore>,
    /// Artifacts.
    pub artifacts: Arc<ArtifactStore>,
    /// Tenants, API keys and deployed agents.
    pub tenants: Arc<dyn TenantStore>,
    /// Where the state is, for messages (passwords removed).
    pub describe: String,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("state", &self.describe)
            .finish()
    }
}

/// Where state and artifacts live.
#[derive(Debug, Clone)]
pub struct StateConfig {
    /// The state URL: `file://PATH`, a bare path, `postgres://…` or `redis://…`.
    pub state: String,
    /// The artifact bytes URL: `file://PATH` or `s3://BUCKET/PREFIX?…`; `None` keeps them in
    /// files (beside file state, or under `data`).
    pub artifacts: Option<String>,
    /// The folder for what an external state backend does not hold.
    pub data: PathBuf,
    /// The most bytes of artifacts per tenant.
    pub artifact_limit: u64,
    /// The most database connections.
    pub max_connections: u32,
}

impl Default for StateConfig {
    fn default() -> Self {
        StateConfig {
            state: "file://.pluto".into(),
            artifacts: None,
            data: PathBuf::from(".pluto"),
            artifact_limit: DEFAULT_TENANT_LIMIT,
            max_connections: 16,
        }
    }
}

/// The folder a `file://` URL (or a bare path) names.
fn file_path(url: &str) -> Option<PathBuf> {
    if let Some(path) = url.strip_prefix("file://") {
        return Some(PathBuf::from(if path.is_empty() { "." } else { path }));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

/// The stores a state URL names, the folder for artifact bytes, and a description.
type Backends = (
    Arc<dyn SessionStore>,
    Arc<dyn MemoryStore>,
    Arc<dyn ArtifactIndex>,
    Arc<dyn TenantStore>,
    PathBuf,
    String,
);

/// Opens the services `config` describes, running migrations where there are any.
pub async fn open(config: &StateConfig) -> Result<Services> {
    let state = config.state.as_str();
    let (sessions, memory, index, tenants, files, describe): Backends =
        if let Some(root) = file_path(state) {
            let store = Arc::new(FileStore::new(&root));
            let describe = format!("files in {}", root.display());
            (
                store.clone(),
                store.clone(),
                store.clone(),
                store,
                root,
                describe,
            )
        } else if state.starts_with("postgres://") || state.starts_with("postgresql://") {
            let store = Arc::new(PgStore::connect(state, config.max_connections).await?);
            let describe = format!("PostgreSQL at {}", postgres_host(state));
            (
                store.clone(),
                store.clone(),
                store.clone(),
                store,
                config.data.clone(),
                describe,
            )
        } else if state.starts_with("redis://") || state.starts_with("rediss://") {
            let redis = Arc::new(RedisStore::connect(state).await?);
            let files = Arc::new(FileStore::new(&config.data));
            let describe = format!("Redis (sessions) and files in {}", config.data.display());
            (
                redis,
                files.clone(),
                files.clone(),
                files,
                config.data.clone(),
                describe,
            )
        } else {
            return Err(StoreError::Invalid(format!(
                "state URL `{state}` is not file://PATH, postgres://… or redis://…"
            )));
        };
    sessions.ping().await?;
    let blobs = blob_store(config.artifacts.as_deref(), &files)?;
    let artifacts = Arc::new(ArtifactStore::new(
        blobs,
        index,
        sessions.clone(),
        config.artifact_limit,
    ));
    Ok(Services {
        sessions,
        memory,
        artifacts,
        tenants,
        describe,
    })
}

/// `url` without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

fn postgres_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split(['/', '?']).next().unwrap_or(rest)
}

/// The object store for artifact bytes: `url`, or the folder `files`.
pub fn blob_store(url: Option<&str>, files: &Path) -> Result<Arc<dyn ObjectStore>> {
    let url = url.unwrap_or("");
    if url.is_empty() || file_path(url).is_some() {
        let root = if url.is_empty() {
            files.to_path_buf()
        } else {
            file_path(url).unwrap_or_default()
        };
        std::fs::create_dir_all(&root)
            .map_err(|e| StoreError::backend(format!("creating {}", root.display()), e))?;
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)
            .map_err(|e| StoreError::backend(format!("opening {}", root.display()), e))?;
        return Ok(Arc::new(store));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        return s3(rest).map(|s| s as Arc<dyn ObjectStore>);
    }
    Err(StoreError::Invalid(format!(
        "artifacts URL `{url}` is not file://PATH or s3://BUCKET/PREFIX"
    )))
}

/// `BUCKET/PREFIX?endpoint=URL&region=R`; credentials from the usual `AWS_*` variables (or the
/// `access_key_id` and `secret_access_key` parameters).
fn s3(rest: &str) -> Result<Arc<dyn ObjectStore>> {
    use object_store::aws::AmazonS3Builder;
    use object_store::prefix::PrefixStore;
    let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
    if bucket.is_empty() {
        return Err(StoreError::Invalid("s3:// URL names no bucket".into()));
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        builder = match key {
            "endpoint" => builder
                .with_endpoint(value)
                .with_allow_http(value.starts_with("http://")),
            "region" => builder.with_region(value),
            "access_key_id" => builder.with_access_key_id(value),
            "secret_access_key" => builder.with_secret_access_key(value),
            "path_style" | "force_path_style" => {
                builder.with_virtual_hosted_style_request(value == "false")
            }
            other => {
                return Err(StoreError::Invalid(format!(
                    "s3:// URL parameter `{other}` is not one of endpoint, region, access_key_id, secret_access_key, path_style"
                )));
            }
        };
    }
    let store = builder
        .build()
        .map_err(|e| StoreError::backend("configuring S3", e))?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(store)
    } else {
        Arc::new(PrefixStore::new(store, prefix))
    })
}

impl Services {
    /// Deletes a session with its artifacts.
    pub async fn delete_session(&self, tenant: &Tenant, id: &SessionId) -> Result<()> {
        for artifact in self.artifacts.list(tenant, id).await? {
            self.artifacts.delete(tenant, id, &artifact.name).await?;
        }
        self.sessions.delete(tenant, id).await
    }
}
