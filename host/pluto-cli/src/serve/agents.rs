//! The agents a tenant can run: its own (deployed through the admin API, kept in the state
//! store) over the shared ones in `--agents`. Prepared agents are kept in an LRU cache with a
//! size bound, keyed by tenant and name, so idle tenants cost nothing beyond their entries.
//!
//! The shared folder is checked on every lookup (a `stat` per entry): an edited agent is
//! reloaded; an edit that breaks it keeps the last good version and logs the error.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use axum::http::StatusCode;
use pluto_paf::{Agent, Catalog};
use pluto_services::{AgentFiles, Services, Tenant, check_id};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use super::api::{ApiError, ApiResult};
use crate::compose::{AgentArgs, Prepared, build};

/// One prepared agent and the version of its definition it was prepared from.
struct Loaded {
    prepared: Arc<Prepared>,
    version: String,
}

/// The shared agents folder as last read.
#[derive(Default)]
struct Shared {
    fingerprint: Vec<(PathBuf, u64, Option<SystemTime>)>,
    generation: u64,
    catalog: Catalog,
}

/// Where agents come from, and the cache of prepared ones.
pub struct Agents {
    args: Arc<AgentArgs>,
    services: Services,
    data: PathBuf,
    trusted: bool,
    shared: Mutex<Shared>,
    cache: moka::future::Cache<(Tenant, String), Arc<Loaded>>,
}

/// What a listing shows of an agent.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AgentInfo {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Its version.
    pub version: String,
    /// `tenant` (deployed through the admin API) or `shared` (from the agents folder).
    pub source: &'static str,
    /// The provider and model.
    pub model: String,
}

fn info(agent: &Agent, source: &'static str) -> AgentInfo {
    let m = &agent.manifest;
    AgentInfo {
        name: m.name.as_str().to_owned(),
        description: m.description.to_string(),
        version: m.version.to_string(),
        source,
        model: format!("{} {}", m.model.provider.as_str(), m.model.name),
    }
}

/// Every file under `dir` (one level of agent folders), with size and time, sorted.
fn fingerprint(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((folder, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if depth < 3 {
                    stack.push((entry.path(), depth + 1));
                }
            } else {
                out.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    out.sort();
    out
}

impl Agents {
    /// Agents from `args.agents` and the tenant store, at most `capacity` prepared at once.
    pub fn new(
        args: Arc<AgentArgs>,
        services: Services,
        data: PathBuf,
        trusted: bool,
        capacity: u64,
    ) -> Self {
        Agents {
            args,
            services,
            data,
            trusted,
            shared: Mutex::new(Shared::default()),
            cache: moka::future::Cache::builder()
                .max_capacity(capacity)
                .build(),
        }
    }

    /// How many prepared agents are cached.
    pub fn cached(&self) -> u64 {
        self.cache.entry_count()
    }

    /// Rereads the shared folder if anything in it changed; returns the catalog's generation.
    async fn refresh(&self) -> u64 {
        let dir = self.args.agents.clone();
        let now = tokio::task::spawn_blocking(move || fingerprint(&dir))
            .await
            .unwrap_or_default();
        let mut shared = self.shared.lock().await;
        if shared.generation > 0 && shared.fingerprint == now {
            return shared.generation;
        }
        let policies = self.args.sandbox.policy_set();
        let (mut catalog, problems) = if self.args.agents.is_dir() {
            Catalog::load_dir(&self.args.agents, &policies)
        } else {
            (Catalog::default(), Vec::new())
        };
        for problem in &problems {
            tracing::error!("agent not (re)loaded: {problem}");
        }
        // A broken edit keeps the last good version of an agent whose files are still there.
        for old in shared.catalog.iter() {
            let name = old.manifest.name.as_str();
            if catalog.get(name).is_none() && old.manifest_path().exists() {
                tracing::warn!(agent = name, "keeping the last good version of the agent");
                let _ = catalog.insert(old.clone());
            }
        }
        shared.catalog = catalog;
        shared.fingerprint = now;
        shared.generation += 1;
        shared.generation
    }

    /// The agents `tenant` can run.
    pub async fn list(&self, tenant: &Tenant) -> ApiResult<Vec<AgentInfo>> {
        self.refresh().await;
        let mut out: BTreeMap<String, AgentInfo> = BTreeMap::new();
        for agent in self.shared.lock().await.catalog.iter() {
            out.insert(
                agent.manifest.name.as_str().to_owned(),
                info(agent, "shared"),
            );
        }
        for name in self.services.tenants.list_agents(tenant).await? {
            if let Ok(prepared) = self.get(tenant, &name).await {
                out.insert(name, info(&prepared.agent, "tenant"));
            }
        }
        Ok(out.into_values().collect())
    }

    /// The agent `name` of `tenant`, prepared (from the cache when its definition is unchanged).
    pub async fn get(&self, tenant: &Tenant, name: &str) -> ApiResult<Arc<Prepared>> {
        let missing = || ApiError::not_found(format!("agent `{name}` not found"));
        if check_id("agent name", name).is_err() {
            return Err(missing());
        }
        let key = (tenant.clone(), name.to_owned());
        if let Some(files) = self.services.tenants.get_agent(tenant, name).await? {
            let version = format!("tenant:{}", digest(&files));
            if let Some(hit) = self.cache.get(&key).await.filter(|l| l.version == version) {
                return Ok(hit.prepared.clone());
            }
            let dir = self
                .data
                .join("agent-cache")
                .join(tenant.as_str())
                .join(name);
            let agent = materialize(&files, &dir, &self.args.sandbox.policy_set())
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_agent", e))?;
            return self.prepare(key, agent, version).await;
        }
        let generation = self.refresh().await;
        let version = format!("shared:{generation}");
        if let Some(hit) = self.cache.get(&key).await.filter(|l| l.version == version) {
            return Ok(hit.prepared.clone());
        }
        let agent = self
            .shared
            .lock()
            .await
            .catalog
            .get(name)
            .cloned()
            .ok_or_else(missing)?;
        self.prepare(key, agent, version).await
    }

    async fn prepare(
        &self,
        key: (Tenant, String),
        agent: Agent,
        version: String,
    ) -> ApiResult<Arc<Prepared>> {
        let tenant = key.0.clone();
        let workspace = self.workspace(&tenant)?;
        let prepared = build(
            agent,
            &self.args.sandbox.policy_set(),
            &self.args,
            self.services.clone(),
            tenant,
            workspace,
            true,
        )
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "agent_unavailable",
                format!("{e:#}"),
            )
        })?;
        let prepared = Arc::new(prepared);
        self.cache
            .insert(
                key,
                Arc::new(Loaded {
                    prepared: prepared.clone(),
                    version,
                }),
            )
            .await;
        Ok(prepared)
    }

    /// The tenant's workspace folder: `--workspace` in trusted mode, else one per tenant.
    fn workspace(&self, tenant: &Tenant) -> ApiResult<PathBuf> {
        let unavailable =
            |e: String| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", e);
        if self.trusted {
            return self
                .args
                .workspace_dir()
                .map_err(|e| unavailable(format!("{e:#}")));
        }
        let dir = self.data.join("workspaces").join(tenant.as_str());
        std::fs::create_dir_all(&dir)
            .map_err(|e| unavailable(format!("creating {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Forgets the cached agent (after the admin API changed it).
    pub async fn forget(&self, tenant: &Tenant, name: &str) {
        self.cache
            .invalidate(&(tenant.clone(), name.to_owned()))
            .await;
    }
}

/// A digest of an agent's files.
pub fn digest(files: &AgentFiles) -> String {
    let mut hash = Sha256::new();
    for (path, text) in files {
        hash.update(path.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

/// Checks a relative path of an agent file: no `..`, no absolute path, no hidden parts.
pub fn check_rel_path(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components().all(|c| match c {
            Component::Normal(part) => part
                .to_str()
                .is_some_and(|s| check_id("path part", s).is_ok()),
            _ => false,
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{path}` is not a relative path of plain names (no `..`, no leading `/` or `.`)"
        ))
    }
}

/// Writes an agent's files into `dir` (replacing what was there) and loads it, as
/// `pluto validate` would; the error lists every problem with its file, line and column.
pub fn materialize(
    files: &AgentFiles,
    dir: &Path,
    policies: &pluto_paf::PolicySet,
) -> Result<Agent, String> {
    if files.is_empty() {
        return Err("no files: send `agent.yaml` (+ its instructions) or one `NAME.md`".into());
    }
    for path in files.keys() {
        check_rel_path(path)?;
    }
    let staging = dir.with_file_name(format!(
        ".{}-{}",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("agent"),
        uuid::Uuid::now_v7().simple()
    ));
    let write = || -> std::io::Result<()> {
        for (path, text) in files {
            let target = staging.join(path);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(target, text)?;
        }
        Ok(())
    };
    write().map_err(|e| format!("writing the agent's files: {e}"))?;
    let entry = if files.contains_key("agent.yaml") {
        staging.clone()
    } else {
        let mds: Vec<&String> = files
            .keys()
            .filter(|p| p.ends_with(".md") && !p.contains('/'))
            .collect();
        match mds.as_slice() {
            [one] => staging.join(one),
            _ => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(
                    "send `agent.yaml` (folder form) or exactly one top-level `NAME.md` (single-file form)"
                        .into(),
                );
            }
        }
    };
    match Agent::load(&entry, policies) {
        Ok(_) => {}
        Err(diagnostics) => {
            let text = diagnostics
                .to_string()
                .replace(&format!("{}/", staging.display()), "");
            let _ = std::fs::remove_dir_all(&staging);
            return Err(text);
        }
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staging, dir).map_err(|e| format!("installing the agent: {e}"))?;
    let entry = if files.contains_key("agent.yaml") {
        dir.to_path_buf()
    } else {
        dir.join(entry.file_name().unwrap_or_default())
    };
    Agent::load(&entry, policies).map_err(|d| d.to_string())
}
