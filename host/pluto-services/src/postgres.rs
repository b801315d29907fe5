//! PostgreSQL: sessions, events, memory (full-text search) and the artifact index, shared by
//! every Pluto instance that points at the same database.
//!
//! `postgres://USER@HOST/DB?schema=NAME` keeps Pluto's tables in schema `NAME` (created when
//! missing); the migrations in `migrations/` are embedded and run at start (and by
//! `pluto migrate`).

use std::str::FromStr;

use async_trait::async_trait;
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Executor, Row};

use crate::artifact::{ArtifactIndex, ArtifactVersion};
use crate::error::{Context, Result, StoreError};
use crate::ids::{SessionId, Tenant, check_id};
use crate::memory::{Hit, MemoryEntry, MemoryStore, Scope};
use crate::redact;
use crate::session::{Listing, NewSession, Page, Session, SessionStore, StoredEvent};
use crate::tenants::{AgentFiles, KeyRecord, TenantStore};
use crate::time::Timestamp;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// State in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url` (a pool of up to `max_connections`) and runs the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<PgStore> {
        let store = PgStore::connect_only(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to `url` without running the migrations.
    pub async fn connect_only(url: &str, max_connections: u32) -> Result<PgStore> {
        let (url, schema) = split_schema(url)?;
        let mut options =
            PgConnectOptions::from_str(&url).context(|| "parsing the PostgreSQL URL".to_owned())?;
        if let Some(schema) = &schema {
            options = options.options([("search_path", schema.as_str())]);
            // The schema must exist before a pooled connection can use it.
            let mut admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(
                    PgConnectOptions::from_str(&url)
                        .context(|| "parsing the PostgreSQL URL".to_owned())?,
                )
                .await
                .context(|| format!("connecting to PostgreSQL at {}", redact(&url)))?;
            admin
                .execute(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str())
                .await
                .context(|| format!("creating schema {schema}"))?;
            admin.close().await;
            let _ = &mut admin;
        }
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await
            .context(|| format!("connecting to PostgreSQL at {}", redact(&url)))?;
        Ok(PgStore { pool })
    }

    /// Runs the embedded migrations that have not run yet; returns how many ran.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self.applied().await.unwrap_or(0);
        MIGRATOR
            .run(&self.pool)
            .await
            .context(|| "running the PostgreSQL migrations".to_owned())?;
        Ok(self.applied().await?.saturating_sub(before))
    }

    async fn applied(&self) -> Result<usize> {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .context(|| "reading the migrations table".to_owned())?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// The pool (for tests and benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Takes Pluto's own `schema=NAME` parameter out of a URL.
fn split_schema(url: &str) -> Result<(String, Option<String>)> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_owned(), None));
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|pair| match pair.strip_prefix("schema=") {
            Some(name) => {
                schema = Some(name.to_owned());
                false
            }
            None => true,
        })
        .collect();
    if let Some(name) = &schema {
        check_id("PostgreSQL schema", name)?;
        if name.contains('.') {
            return Err(StoreError::Invalid(format!(
                "PostgreSQL schema `{name}` may not contain `.`"
            )));
        }
    }
    let url = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((url, schema))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_u64(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn session_from(row: &sqlx::postgres::PgRow) -> Result<Session> {
    let ctx = || "reading a session row".to_owned();
    Ok(Session {
        id: SessionId::new(row.try_get::<String, _>("id").context(ctx)?)?,
        agent: row.try_get("agent").context(ctx)?,
        created_at: Timestamp(row.try_get("created_ms").context(ctx)?),
        updated_at: Timestamp(row.try_get("updated_ms").context(ctx)?),
        last_seq: to_u64(row.try_get("last_seq").context(ctx)?),
        metadata: row
            .try_get::<Option<Value>, _>("metadata")
            .context(ctx)?
            .unwrap_or(Value::Null),
    })
}

fn not_found(id: &SessionId) -> StoreError {
    StoreError::not_found(format!("session {id}"))
}

#[async_trait]
impl SessionStore for PgStore {
    async fn create(&self, tenant: &Tenant, new: NewSession) -> Result<Session> {
        check_id("agent name", &new.agent)?;
        let id = new.id.clone().unwrap_or_else(SessionId::generate);
        let now = Timestamp::now();
        let metadata = (!new.metadata.is_null()).then_some(&new.metadata);
        let inserted = sqlx::query(
            "INSERT INTO pluto_sessions (tenant, id, agent, created_ms, updated_ms, metadata)
             VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(&new.agent)
        .bind(now.millis())
        .bind(metadata)
        .execute(&self.pool)
        .await
        .context(|| format!("creating session {id}"))?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Invalid(format!("session {id} already exists")));
        }
        Ok(Session::created(id, new, now))
    }

    async fn get(&self, tenant: &Tenant, id: &SessionId) -> Result<Session> {
        let row = sqlx::query("SELECT * FROM pluto_sessions WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .context(|| format!("reading session {id}"))?;
        row.map_or_else(|| Err(not_found(id)), |r| session_from(&r))
    }

    async fn list(
        &self,
        tenant: &Tenant,
        agent: Option<&str>,
        page: &Page,
    ) -> Result<Listing<Session>> {
        let size = page.size();
        let rows = sqlx::query(
            "SELECT * FROM pluto_sessions
             WHERE tenant = $1 AND ($2::text IS NULL OR agent = $2) AND ($3::text IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(agent)
        .bind(page.cursor.as_deref())
        .bind(to_i64(size as u64 + 1))
        .fetch_all(&self.pool)
        .await
        .context(|| "listing sessions".to_owned())?;
        let items = rows.iter().map(session_from).collect::<Result<Vec<_>>>()?;
        Ok(Listing::from_overfetch(items, size, |s| s.id.to_string()))
    }

    async fn delete(&self, tenant: &Tenant, id: &SessionId) -> Result<()> {
        // Events go with it (ON DELETE CASCADE), in the same statement.
        let done = sqlx::query("DELETE FROM pluto_sessions WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .context(|| format!("deleting session {id}"))?;
        if done.rows_affected() == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }

    async fn append(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        expected: u64,
        events: &[Value],
    ) -> Result<u64> {
        let ctx = || format!("appending to session {id}");
        let now = Timestamp::now().millis();
        let last = expected + events.len() as u64;
        let mut tx = self.pool.begin().await.context(ctx)?;
        // The row update is the concurrency check: only one writer can move last_seq on from
        // `expected`; the other finds no row to update.
        let moved = sqlx::query(
            "UPDATE pluto_sessions SET last_seq = $3, updated_ms = $4
             WHERE tenant = $1 AND id = $2 AND last_seq = $5",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(to_i64(last))
        .bind(now)
        .bind(to_i64(expected))
        .execute(&mut *tx)
        .await
        .context(ctx)?;
        if moved.rows_affected() == 0 {
            drop(tx);
            let actual = self.get(tenant, id).await?.last_seq;
            return Err(StoreError::Conflict { expected, actual });
        }
        if !events.is_empty() {
            let seqs: Vec<i64> = (expected + 1..=last).map(to_i64).collect();
            sqlx::query(
                "INSERT INTO pluto_events (tenant, session_id, seq, at_ms, data)
                 SELECT $1, $2, s, $3, d FROM UNNEST($4::bigint[], $5::jsonb[]) AS t(s, d)",
            )
            .bind(tenant.as_str())
            .bind(id.as_str())
            .bind(now)
            .bind(&seqs)
            .bind(events)
            .execute(&mut *tx)
            .await
            .context(ctx)?;
        }
        tx.commit().await.context(ctx)?;
        Ok(last)
    }

    async fn events(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let ctx = || format!("reading session {id}'s events");
        let rows = sqlx::query(
            "SELECT seq, at_ms, data FROM pluto_events
             WHERE tenant = $1 AND session_id = $2 AND seq > $3 ORDER BY seq LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(id.as_str())
        .bind(to_i64(after))
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .context(ctx)?;
        if rows.is_empty() {
            // No events, or no session: tell the two apart.
            self.get(tenant, id).await?;
        }
        rows.iter()
            .map(|r| {
                Ok(StoredEvent {
                    seq: to_u64(r.try_get("seq").context(ctx)?),
                    at: Timestamp(r.try_get("at_ms").context(ctx)?),
                    data: r.try_get("data").context(ctx)?,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .context(|| "pinging PostgreSQL".to_owned())?;
        Ok(())
    }
}

fn entry_from(row: &sqlx::postgres::PgRow) -> Result<MemoryEntry> {
    let ctx = || "reading a memory row".to_owned();
    Ok(MemoryEntry {
        id: row.try_get("id").context(ctx)?,
        scope: Scope::try_from(row.try_get::<String, _>("scope").context(ctx)?)?,
        text: row.try_get("text").context(ctx)?,
        metadata: row
            .try_get::<Option<Value>, _>("metadata")
            .context(ctx)?
            .unwrap_or(Value::Null),
        created_at: Timestamp(row.try_get("created_ms").context(ctx)?),
    })
}

#[async_trait]
impl MemoryStore for PgStore {
    async fn add(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        text: &str,
        metadata: Value,
    ) -> Result<MemoryEntry> {
        let entry = MemoryEntry::new(scope, text, metadata)?;
        sqlx::query(
            "INSERT INTO pluto_memory (tenant, id, scope, text, metadata, created_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(tenant.as_str())
        .bind(&entry.id)
        .bind(scope.to_string())
        .bind(&entry.text)
        .bind((!entry.metadata.is_null()).then_some(&entry.metadata))
        .bind(entry.created_at.millis())
        .execute(&self.pool)
        .await
        .context(|| "adding a memory entry".to_owned())?;
        Ok(entry)
    }

    async fn search(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        // Any of the query's words may match (OR), ranked by PostgreSQL's cover density.
        let rows = sqlx::query(
            "WITH q AS (
                SELECT to_tsquery('english', string_agg(quote_literal(w), ' | ')) AS q
                FROM regexp_split_to_table(lower($3), '[^[:alnum:]]+') AS w WHERE length(w) > 1
             )
             SELECT m.*, ts_rank_cd(m.search, q.q)::float8 AS score FROM pluto_memory m, q
             WHERE m.tenant = $1 AND m.scope = $2 AND q.q IS NOT NULL AND m.search @@ q.q
             ORDER BY score DESC, m.id DESC LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(scope.to_string())
        .bind(query)
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .context(|| "searching memory".to_owned())?;
        rows.iter()
            .map(|r| {
                Ok(Hit {
                    entry: entry_from(r)?,
                    score: r
                        .try_get("score")
                        .context(|| "reading a memory score".to_owned())?,
                })
            })
            .collect()
    }

    async fn list(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        page: &Page,
    ) -> Result<Listing<MemoryEntry>> {
        let size = page.size();
        let rows = sqlx::query(
            "SELECT * FROM pluto_memory WHERE tenant = $1 AND scope = $2
             AND ($3::text IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(tenant.as_str())
        .bind(scope.to_string())
        .bind(page.cursor.as_deref())
        .bind(to_i64(size as u64 + 1))
        .fetch_all(&self.pool)
        .await
        .context(|| "listing memory".to_owned())?;
        let items = rows.iter().map(entry_from).collect::<Result<Vec<_>>>()?;
        Ok(Listing::from_overfetch(items, size, |e| e.id.clone()))
    }

    async fn delete(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM pluto_memory WHERE tenant = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .context(|| "deleting a memory entry".to_owned())?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("memory entry {id}")));
        }
        Ok(())
    }
}

fn version_from(row: &sqlx::postgres::PgRow) -> Result<ArtifactVersion> {
    let ctx = || "reading an artifact row".to_owned();
    Ok(ArtifactVersion {
        name: row.try_get("name").context(ctx)?,
        version: u32::try_from(row.try_get::<i32, _>("version").context(ctx)?).unwrap_or(0),
        size: to_u64(row.try_get("size").context(ctx)?),
        content_type: row.try_get("content_type").context(ctx)?,
        created_at: Timestamp(row.try_get("created_ms").context(ctx)?),
        blob: row.try_get("blob").context(ctx)?,
    })
}

#[async_trait]
impl ArtifactIndex for PgStore {
    async fn record(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        mut version: ArtifactVersion,
        limit: u64,
    ) -> Result<ArtifactVersion> {
        let ctx = || format!("recording artifact `{}`", version.name);
        let mut tx = self.pool.begin().await.context(ctx)?;
        // The usage row serializes the tenant's saves: the limit holds under concurrency.
        let used: i64 = sqlx::query_scalar(
            "INSERT INTO pluto_artifact_usage (tenant, bytes) VALUES ($1, $2)
             ON CONFLICT (tenant) DO UPDATE SET bytes = pluto_artifact_usage.bytes + $2
             RETURNING bytes",
        )
        .bind(tenant.as_str())
        .bind(to_i64(version.size))
        .fetch_one(&mut *tx)
        .await
        .context(ctx)?;
        if to_u64(used) > limit {
            return Err(StoreError::TooLarge { limit });
        }
        let next: i32 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM pluto_artifacts
             WHERE tenant = $1 AND session_id = $2 AND name = $3",
        )
        .bind(tenant.as_str())
        .bind(session.as_str())
        .bind(&version.name)
        .fetch_one(&mut *tx)
        .await
        .context(ctx)?;
        version.version = u32::try_from(next).unwrap_or(1);
        sqlx::query(
            "INSERT INTO pluto_artifacts
             (tenant, session_id, name, version, size, content_type, created_ms, blob)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(tenant.as_str())
        .bind(session.as_str())
        .bind(&version.name)
        .bind(next)
        .bind(to_i64(version.size))
        .bind(&version.content_type)
        .bind(version.created_at.millis())
        .bind(&version.blob)
        .execute(&mut *tx)
        .await
        .context(ctx)?;
        tx.commit().await.context(ctx)?;
        Ok(version)
    }

    async fn usage(&self, tenant: &Tenant) -> Result<u64> {
        let used: Option<i64> =
            sqlx::query_scalar("SELECT bytes FROM pluto_artifact_usage WHERE tenant = $1")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .context(|| "reading artifact usage".to_owned())?;
        Ok(used.map_or(0, to_u64))
    }

    async fn versions(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>> {
        let rows = sqlx::query(
            "SELECT * FROM pluto_artifacts WHERE tenant = $1 AND session_id = $2 AND name = $3
             ORDER BY version",
        )
        .bind(tenant.as_str())
        .bind(session.as_str())
        .bind(name)
        .fetch_all(&self.pool)
        .await
        .context(|| format!("reading artifact `{name}`"))?;
        rows.iter().map(version_from).collect()
    }

    async fn latest(&self, tenant: &Tenant, session: &SessionId) -> Result<Vec<ArtifactVersion>> {
        let rows = sqlx::query(
            "SELECT DISTINCT ON (name) * FROM pluto_artifacts
             WHERE tenant = $1 AND session_id = $2 ORDER BY name, version DESC",
        )
        .bind(tenant.as_str())
        .bind(session.as_str())
        .fetch_all(&self.pool)
        .await
        .context(|| "listing artifacts".to_owned())?;
        rows.iter().map(version_from).collect()
    }

    async fn remove(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>> {
        let ctx = || format!("deleting artifact `{name}`");
        let mut tx = self.pool.begin().await.context(ctx)?;
        let rows = sqlx::query(
            "DELETE FROM pluto_artifacts WHERE tenant = $1 AND session_id = $2 AND name = $3
             RETURNING *",
        )
        .bind(tenant.as_str())
        .bind(session.as_str())
        .bind(name)
        .fetch_all(&mut *tx)
        .await
        .context(ctx)?;
        let removed = rows.iter().map(version_from).collect::<Result<Vec<_>>>()?;
        let freed: u64 = removed.iter().map(|v| v.size).sum();
        sqlx::query("UPDATE pluto_artifact_usage SET bytes = bytes - $2 WHERE tenant = $1")
            .bind(tenant.as_str())
            .bind(to_i64(freed))
            .execute(&mut *tx)
            .await
            .context(ctx)?;
        tx.commit().await.context(ctx)?;
        Ok(removed)
    }
}

fn key_from(row: &sqlx::postgres::PgRow) -> Result<KeyRecord> {
    let ctx = || "reading a key row".to_owned();
    Ok(KeyRecord {
        id: row.try_get("id").context(ctx)?,
        tenant: Tenant::new(row.try_get::<String, _>("tenant").context(ctx)?)?,
        hash: row.try_get("hash").context(ctx)?,
        created_at: Timestamp(row.try_get("created_ms").context(ctx)?),
        revoked_at: row
            .try_get::<Option<i64>, _>("revoked_ms")
            .context(ctx)?
            .map(Timestamp),
    })
}

#[async_trait]
impl TenantStore for PgStore {
    async fn put_tenant(&self, tenant: &Tenant) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO pluto_tenants (tenant, created_ms) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(tenant.as_str())
        .bind(Timestamp::now().millis())
        .execute(&self.pool)
        .await
        .context(|| format!("creating tenant {tenant}"))?;
        Ok(done.rows_affected() == 1)
    }

    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT created_ms FROM pluto_tenants WHERE tenant = $1")
                .bind(tenant.as_str())
                .fetch_optional(&self.pool)
                .await
                .context(|| format!("reading tenant {tenant}"))?;
        Ok(found.is_some())
    }

    async fn add_key(&self, key: &KeyRecord) -> Result<()> {
        if !self.tenant_exists(&key.tenant).await? {
            return Err(StoreError::not_found(format!("tenant {}", key.tenant)));
        }
        sqlx::query(
            "INSERT INTO pluto_keys (id, tenant, hash, created_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(&key.id)
        .bind(key.tenant.as_str())
        .bind(&key.hash)
        .bind(key.created_at.millis())
        .execute(&self.pool)
        .await
        .context(|| "storing a key".to_owned())?;
        Ok(())
    }

    async fn revoke_key(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let done = sqlx::query(
            "UPDATE pluto_keys SET revoked_ms = $3 WHERE tenant = $1 AND id = $2 AND revoked_ms IS NULL",
        )
        .bind(tenant.as_str())
        .bind(id)
        .bind(Timestamp::now().millis())
        .execute(&self.pool)
        .await
        .context(|| "revoking a key".to_owned())?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("key {id}")));
        }
        Ok(())
    }

    async fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>> {
        let row = sqlx::query("SELECT * FROM pluto_keys WHERE hash = $1 AND revoked_ms IS NULL")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .context(|| "looking up a key".to_owned())?;
        row.as_ref().map(key_from).transpose()
    }

    async fn keys(&self, tenant: &Tenant) -> Result<Vec<KeyRecord>> {
        let rows = sqlx::query("SELECT * FROM pluto_keys WHERE tenant = $1 ORDER BY created_ms")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .context(|| "listing keys".to_owned())?;
        rows.iter().map(key_from).collect()
    }

    async fn put_agent(&self, tenant: &Tenant, name: &str, files: &AgentFiles) -> Result<()> {
        check_id("agent name", name)?;
        if !self.tenant_exists(tenant).await? {
            return Err(StoreError::not_found(format!("tenant {tenant}")));
        }
        sqlx::query(
            "INSERT INTO pluto_agents (tenant, name, files, updated_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (tenant, name) DO UPDATE SET files = $3, updated_ms = $4",
        )
        .bind(tenant.as_str())
        .bind(name)
        .bind(sqlx::types::Json(files))
        .bind(Timestamp::now().millis())
        .execute(&self.pool)
        .await
        .context(|| format!("storing agent `{name}`"))?;
        Ok(())
    }

    async fn get_agent(&self, tenant: &Tenant, name: &str) -> Result<Option<AgentFiles>> {
        let found: Option<sqlx::types::Json<AgentFiles>> =
            sqlx::query_scalar("SELECT files FROM pluto_agents WHERE tenant = $1 AND name = $2")
                .bind(tenant.as_str())
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .context(|| format!("reading agent `{name}`"))?;
        Ok(found.map(|j| j.0))
    }

    async fn list_agents(&self, tenant: &Tenant) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT name FROM pluto_agents WHERE tenant = $1 ORDER BY name")
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .context(|| "listing agents".to_owned())
    }

    async fn delete_agent(&self, tenant: &Tenant, name: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM pluto_agents WHERE tenant = $1 AND name = $2")
            .bind(tenant.as_str())
            .bind(name)
            .execute(&self.pool)
            .await
            .context(|| format!("deleting agent `{name}`"))?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found(format!("agent `{name}`")));
        }
        Ok(())
    }
}
