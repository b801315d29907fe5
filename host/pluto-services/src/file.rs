//! The default backend: readable JSON and JSONL files under one folder (`./.pluto`).
//!
//! ```text
//! ROOT/tenants/TENANT/sessions/ID/session.json   the session (written once, atomically)
//! ROOT/tenants/TENANT/sessions/ID/events.jsonl   its events, one JSON object per line
//! ROOT/tenants/TENANT/memory/KIND-KEY.jsonl      memory entries and deletions, per scope
//! ROOT/tenants/TENANT/artifacts.json             the artifact index (versions, sizes)
//! ROOT/tenants/TENANT/artifacts/…                artifact bytes
//! ```
//!
//! Appends take an exclusive lock on the file (so several processes may share the folder), write
//! whole lines and `fsync` before they return. A writer killed mid-append leaves at most a torn
//! last line without its newline: readers ignore it and the next append cuts it off, so earlier
//! events are never damaged. Whole-file writes go to a temporary file that is synced, then renamed.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::artifact::{ArtifactIndex, ArtifactVersion};
use crate::error::{Context, Result, StoreError};
use crate::ids::{SessionId, Tenant, check_id, new_id};
use crate::memory::{Hit, MemoryEntry, MemoryStore, Scope, bm25};
use crate::session::{Listing, NewSession, Page, Session, SessionStore, StoredEvent};
use crate::tenants::{AgentFiles, KeyRecord, TenantStore};
use crate::time::Timestamp;

/// State in a folder.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: Arc<PathBuf>,
}

/// What `session.json` holds (the last event's number and time come from `events.jsonl`).
#[derive(Serialize, Deserialize)]
struct SessionFile {
    id: SessionId,
    agent: String,
    created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    metadata: Value,
}

/// One line of `events.jsonl`.
#[derive(Serialize)]
struct EventLine<'a> {
    seq: u64,
    at: Timestamp,
    data: &'a Value,
}

/// One line of a memory file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
enum MemoryLine {
    Add(MemoryEntry),
    Delete { id: String },
}

impl FileStore {
    /// State under `root` (created when first written to).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        FileStore {
            root: Arc::new(root.into()),
        }
    }

    /// The folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn tenant_dir(&self, tenant: &Tenant) -> PathBuf {
        self.root.join("tenants").join(tenant.as_str())
    }

    fn session_dir(&self, tenant: &Tenant, id: &SessionId) -> PathBuf {
        self.tenant_dir(tenant).join("sessions").join(id.as_str())
    }

    fn memory_file(&self, tenant: &Tenant, scope: &Scope) -> PathBuf {
        self.tenant_dir(tenant).join("memory").join(format!(
            "{}-{}.jsonl",
            scope.kind(),
            scope.key()
        ))
    }

    /// Runs blocking file work off the async threads.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let root = Arc::clone(&self.root);
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .context(|| "a file store task".to_owned())?
    }
}

fn session_not_found(id: &SessionId) -> StoreError {
    StoreError::not_found(format!("session {id}"))
}

/// Writes `bytes` to `path` atomically: a synced temporary file renamed over it.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename itself is durable once the folder is synced.
    File::open(dir)?.sync_all()
}

/// The byte offset just past the file's last newline (0 when it has none), and that last
/// complete line.
fn last_line(file: &mut File) -> io::Result<(u64, Option<Vec<u8>>)> {
    let len = file.metadata()?.len();
    let mut window = 4096u64;
    loop {
        let start = len.saturating_sub(window);
        file.seek(SeekFrom::Start(start))?;
        let mut buf = Vec::with_capacity((len - start) as usize);
        file.take(len - start).read_to_end(&mut buf)?;
        let Some(end) = buf.iter().rposition(|&b| b == b'\n') else {
            if start == 0 {
                return Ok((0, None));
            }
            window *= 4;
            continue;
        };
        match buf[..end].iter().rposition(|&b| b == b'\n') {
            Some(prev) => {
                return Ok((start + end as u64 + 1, Some(buf[prev + 1..end].to_vec())));
            }
            None if start == 0 => return Ok((end as u64 + 1, Some(buf[..end].to_vec()))),
            None => window *= 4,
        }
    }
}

#[derive(Deserialize)]
struct SeqAt {
    seq: u64,
    at: Timestamp,
}

fn read_session(dir: &Path, id: &SessionId) -> Result<Session> {
    let text = match fs::read(dir.join("session.json")) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(session_not_found(id)),
        Err(e) => return Err(StoreError::backend(format!("reading session {id}"), e)),
    };
    let file: SessionFile =
        serde_json::from_slice(&text).context(|| format!("parsing session {id}'s session.json"))?;
    let (last_seq, updated_at) = match File::open(dir.join("events.jsonl")) {
        Ok(mut events) => {
            match last_line(&mut events).context(|| format!("reading session {id}'s events"))? {
                (_, Some(line)) => {
                    let last: SeqAt = serde_json::from_slice(&line)
                        .context(|| format!("parsing session {id}'s last event"))?;
                    (last.seq, last.at)
                }
                (_, None) => (0, file.created_at),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => (0, file.created_at),
        Err(e) => return Err(StoreError::backend(format!("reading session {id}"), e)),
    };
    Ok(Session {
        id: file.id,
        agent: file.agent,
        created_at: file.created_at,
        updated_at,
        last_seq,
        metadata: file.metadata,
    })
}

/// Decodes a cursor (the last id of the previous page).
fn after_cursor(page: &Page) -> Option<&str> {
    page.cursor.as_deref()
}

#[async_trait]
impl SessionStore for FileStore {
    async fn create(&self, tenant: &Tenant, new: NewSession) -> Result<Session> {
        check_id("agent name", &new.agent)?;
        let dir_of = {
            let id = new.id.clone().unwrap_or_else(SessionId::generate);
            (self.session_dir(tenant, &id), id)
        };
        self.blocking(move |_| {
            let (dir, id) = dir_of;
            fs::create_dir_all(dir.parent().expect("sessions folder"))
                .context(|| "creating the sessions folder".to_owned())?;
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(StoreError::Invalid(format!("session {id} already exists")));
                }
                Err(e) => return Err(StoreError::backend(format!("creating session {id}"), e)),
            }
            let session = Session::created(id.clone(), new, Timestamp::now());
            let file = SessionFile {
                id: id.clone(),
                agent: session.agent.clone(),
                created_at: session.created_at,
                metadata: session.metadata.clone(),
            };
            let mut json = serde_json::to_vec_pretty(&file).expect("a session serializes");
            json.push(b'\n');
            write_atomic(&dir.join("session.json"), &json)
                .context(|| format!("writing session {id}"))?;
            Ok(session)
        })
        .await
    }

    async fn get(&self, tenant: &Tenant, id: &SessionId) -> Result<Session> {
        let dir = self.session_dir(tenant, id);
        let id = id.clone();
        self.blocking(move |_| read_session(&dir, &id)).await
    }

    async fn list(
        &self,
        tenant: &Tenant,
        agent: Option<&str>,
        page: &Page,
    ) -> Result<Listing<Session>> {
        let dir = self.tenant_dir(tenant).join("sessions");
        let agent = agent.map(str::to_owned);
        let page = page.clone();
        self.blocking(move |_| {
            let mut ids: Vec<SessionId> = match fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().to_str().and_then(|n| SessionId::new(n).ok()))
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(StoreError::backend("listing sessions", e)),
            };
            ids.sort_unstable_by(|a, b| b.cmp(a));
            let mut items = Vec::new();
            let mut next = None;
            for id in ids {
                if after_cursor(&page).is_some_and(|c| id.as_str() >= c) {
                    continue;
                }
                let session = match read_session(&dir.join(id.as_str()), &id) {
                    Ok(s) => s,
                    // Deleted meanwhile, or still being created.
                    Err(StoreError::NotFound { .. }) => continue,
                    Err(e) => return Err(e),
                };
                if agent.as_deref().is_some_and(|a| a != session.agent) {
                    continue;
                }
                if items.len() == page.size() {
                    next = items.last().map(|s: &Session| s.id.to_string());
                    break;
                }
                items.push(session);
            }
            Ok(Listing { items, next })
        })
        .await
    }

    async fn delete(&self, tenant: &Tenant, id: &SessionId) -> Result<()> {
        let dir = self.session_dir(tenant, id);
        let id = id.clone();
        self.blocking(move |_| {
            if !dir.join("session.json").exists() {
                return Err(session_not_found(&id));
            }
            // Renamed first, so that the session disappears at once even if removal is slow.
            let doomed = dir.with_file_name(format!("~deleted-{id}-{}", new_id()));
            fs::rename(&dir, &doomed).context(|| format!("deleting session {id}"))?;
            fs::remove_dir_all(&doomed).context(|| format!("deleting session {id}"))
        })
        .await
    }

    async fn append(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        expected: u64,
        events: &[Value],
    ) -> Result<u64> {
        let dir = self.session_dir(tenant, id);
        let id = id.clone();
        let events = events.to_vec();
        self.blocking(move |_| {
            if !dir.join("session.json").exists() {
                return Err(session_not_found(&id));
            }
            let ctx = || format!("appending to session {id}");
            let mut file = match OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join("events.jsonl"))
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(session_not_found(&id));
                }
                Err(e) => return Err(StoreError::backend(ctx(), e)),
            };
            file.lock().context(ctx)?;
            let (end, last) = last_line(&mut file).context(ctx)?;
            let actual = match last {
                Some(line) => serde_json::from_slice::<SeqAt>(&line).context(ctx)?.seq,
                None => 0,
            };
            if actual != expected {
                return Err(StoreError::Conflict { expected, actual });
            }
            if events.is_empty() {
                return Ok(actual);
            }
            // A torn line left by a writer that died mid-append goes first.
            if file.metadata().context(ctx)?.len() != end {
                file.set_len(end).context(ctx)?;
            }
            let at = Timestamp::now();
            let mut buf = Vec::with_capacity(events.len() * 128);
            for (i, data) in events.iter().enumerate() {
                let line = EventLine {
                    seq: actual + 1 + i as u64,
                    at,
                    data,
                };
                serde_json::to_writer(&mut buf, &line).context(ctx)?;
                buf.push(b'\n');
            }
            file.seek(SeekFrom::Start(end)).context(ctx)?;
            file.write_all(&buf).context(ctx)?;
            file.sync_data().context(ctx)?;
            Ok(actual + events.len() as u64)
        })
        .await
    }

    async fn events(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let dir = self.session_dir(tenant, id);
        let id = id.clone();
        self.blocking(move |_| {
            if !dir.join("session.json").exists() {
                return Err(session_not_found(&id));
            }
            let ctx = || format!("reading session {id}'s events");
            let file = match File::open(dir.join("events.jsonl")) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(StoreError::backend(ctx(), e)),
            };
            let mut reader = BufReader::with_capacity(64 * 1024, file);
            // Line n holds event n, so the first `after` lines are skipped without parsing
            // (each line's number is still checked below).
            for _ in 0..after {
                if reader.skip_until(b'\n').context(ctx)? == 0 {
                    break;
                }
            }
            let mut out = Vec::new();
            let mut line = Vec::new();
            while out.len() < limit {
                line.clear();
                if reader.read_until(b'\n', &mut line).context(ctx)? == 0 {
                    break;
                }
                if line.last() != Some(&b'\n') {
                    break; // a torn last line: not an event
                }
                // Cheap check of the number before parsing the whole event.
                let head: SeqAt = serde_json::from_slice(&line).context(ctx)?;
                if head.seq <= after {
                    continue;
                }
                out.push(serde_json::from_slice::<StoredEvent>(&line).context(ctx)?);
            }
            Ok(out)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.blocking(|root| {
            fs::create_dir_all(root).context(|| format!("creating {}", root.display()))
        })
        .await
    }
}

/// Appends one line to `path` under an exclusive lock, creating it.
fn append_line(path: &Path, line: &impl Serialize) -> io::Result<()> {
    fs::create_dir_all(path.parent().unwrap_or(Path::new(".")))?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.lock()?;
    let (end, _) = last_line(&mut file)?;
    if file.metadata()?.len() != end {
        file.set_len(end)?;
    }
    let mut buf = serde_json::to_vec(line)?;
    buf.push(b'\n');
    file.seek(SeekFrom::Start(end))?;
    file.write_all(&buf)?;
    file.sync_data()
}

/// The live entries of a memory file, oldest first.
fn read_memory(path: &Path) -> io::Result<Vec<MemoryEntry>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut entries: Vec<MemoryEntry> = Vec::new();
    for line in BufReader::new(file).split(b'\n') {
        let line = line?;
        // A torn last line does not parse: skipped like any line that is not a record.
        match serde_json::from_slice::<MemoryLine>(&line) {
            Ok(MemoryLine::Add(entry)) => entries.push(entry),
            Ok(MemoryLine::Delete { id }) => entries.retain(|e| e.id != id),
            Err(_) => {}
        }
    }
    Ok(entries)
}

#[async_trait]
impl MemoryStore for FileStore {
    async fn add(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        text: &str,
        metadata: Value,
    ) -> Result<MemoryEntry> {
        let path = self.memory_file(tenant, scope);
        let entry = MemoryEntry::new(scope, text, metadata)?;
        self.blocking(move |_| {
            let line = MemoryLine::Add(entry);
            append_line(&path, &line).context(|| "adding a memory entry".to_owned())?;
            let MemoryLine::Add(entry) = line else {
                unreachable!("built above")
            };
            Ok(entry)
        })
        .await
    }

    async fn search(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>> {
        let path = self.memory_file(tenant, scope);
        let query = query.to_owned();
        self.blocking(move |_| {
            let entries = read_memory(&path).context(|| "reading memory".to_owned())?;
            Ok(bm25(entries, &query, limit))
        })
        .await
    }

    async fn list(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        page: &Page,
    ) -> Result<Listing<MemoryEntry>> {
        let path = self.memory_file(tenant, scope);
        let page = page.clone();
        self.blocking(move |_| {
            let mut entries = read_memory(&path).context(|| "reading memory".to_owned())?;
            entries.reverse();
            Ok(paginate(entries, &page, |e| e.id.as_str()))
        })
        .await
    }

    async fn delete(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let dir = self.tenant_dir(tenant).join("memory");
        let id = id.to_owned();
        self.blocking(move |_| {
            let ctx = || "deleting a memory entry".to_owned();
            let files = match fs::read_dir(&dir) {
                Ok(files) => files,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    return Err(StoreError::not_found(format!("memory entry {id}")));
                }
                Err(e) => return Err(StoreError::backend(ctx(), e)),
            };
            for file in files {
                let path = file.context(ctx)?.path();
                if read_memory(&path).context(ctx)?.iter().any(|e| e.id == id) {
                    return append_line(&path, &MemoryLine::Delete { id }).context(ctx);
                }
            }
            Err(StoreError::not_found(format!("memory entry {id}")))
        })
        .await
    }
}

/// One page of `items` (already in listing order) after the cursor `key`.
pub(crate) fn paginate<T>(items: Vec<T>, page: &Page, key: impl Fn(&T) -> &str) -> Listing<T> {
    let start = match page.cursor.as_deref() {
        Some(c) => items.iter().position(|i| key(i) == c).map_or(0, |p| p + 1),
        None => 0,
    };
    let mut items: Vec<T> = items.into_iter().skip(start).collect();
    let next = if items.len() > page.size() {
        items.truncate(page.size());
        items.last().map(|i| key(i).to_owned())
    } else {
        None
    };
    Listing { items, next }
}

/// `artifacts.json`: every artifact version of a tenant, by session and name.
#[derive(Default, Serialize, Deserialize)]
struct ArtifactFile {
    sessions: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, Vec<ArtifactVersion>>,
    >,
}

impl FileStore {
    /// Reads the JSON file `dir/name.json` (default when missing) and, when `change` says so,
    /// rewrites it atomically, all under the lock `dir/name.lock`.
    async fn locked_json<D, T>(
        &self,
        dir: PathBuf,
        name: &'static str,
        change: impl FnOnce(&mut D) -> Result<(T, bool)> + Send + 'static,
    ) -> Result<T>
    where
        D: Default + Serialize + serde::de::DeserializeOwned,
        T: Send + 'static,
    {
        self.blocking(move |_| {
            let ctx = || format!("updating {name}.json");
            fs::create_dir_all(&dir).context(ctx)?;
            let lock = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(dir.join(format!("{name}.lock")))
                .context(ctx)?;
            lock.lock().context(ctx)?;
            let path = dir.join(format!("{name}.json"));
            let mut data: D = match fs::read(&path) {
                Ok(bytes) => serde_json::from_slice(&bytes).context(ctx)?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => D::default(),
                Err(e) => return Err(StoreError::backend(ctx(), e)),
            };
            let (out, changed) = change(&mut data)?;
            if changed {
                let mut json = serde_json::to_vec_pretty(&data).context(ctx)?;
                json.push(b'\n');
                write_atomic(&path, &json).context(ctx)?;
            }
            Ok(out)
        })
        .await
    }

    /// Reads (and with `change`, rewrites) the tenant's artifact index under its lock.
    async fn with_artifacts<T: Send + 'static>(
        &self,
        tenant: &Tenant,
        change: impl FnOnce(&mut ArtifactFile) -> Result<(T, bool)> + Send + 'static,
    ) -> Result<T> {
        self.locked_json(self.tenant_dir(tenant), "artifacts", change)
            .await
    }
}

#[async_trait]
impl ArtifactIndex for FileStore {
    async fn record(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        mut version: ArtifactVersion,
        limit: u64,
    ) -> Result<ArtifactVersion> {
        let session = session.to_string();
        self.with_artifacts(tenant, move |index| {
            let used: u64 = all_versions(index).map(|v| v.size).sum();
            if used + version.size > limit {
                return Err(StoreError::TooLarge { limit });
            }
            let versions = index
                .sessions
                .entry(session)
                .or_default()
                .entry(version.name.clone())
                .or_default();
            version.version = versions.last().map_or(1, |v| v.version + 1);
            versions.push(version.clone());
            Ok((version, true))
        })
        .await
    }

    async fn usage(&self, tenant: &Tenant) -> Result<u64> {
        self.with_artifacts(tenant, |index| {
            Ok((all_versions(index).map(|v| v.size).sum(), false))
        })
        .await
    }

    async fn versions(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>> {
        let (session, name) = (session.to_string(), name.to_owned());
        self.with_artifacts(tenant, move |index| {
            let found = index
                .sessions
                .get(&session)
                .and_then(|s| s.get(&name))
                .cloned()
                .unwrap_or_default();
            Ok((found, false))
        })
        .await
    }

    async fn latest(&self, tenant: &Tenant, session: &SessionId) -> Result<Vec<ArtifactVersion>> {
        let session = session.to_string();
        self.with_artifacts(tenant, move |index| {
            let found = index
                .sessions
                .get(&session)
                .map(|s| s.values().filter_map(|v| v.last().cloned()).collect())
                .unwrap_or_default();
            Ok((found, false))
        })
        .await
    }

    async fn remove(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>> {
        let (session, name) = (session.to_string(), name.to_owned());
        self.with_artifacts(tenant, move |index| {
            let removed = index
                .sessions
                .get_mut(&session)
                .and_then(|s| s.remove(&name))
                .unwrap_or_default();
            let changed = !removed.is_empty();
            Ok((removed, changed))
        })
        .await
    }
}

fn all_versions(index: &ArtifactFile) -> impl Iterator<Item = &ArtifactVersion> {
    index.sessions.values().flat_map(|s| s.values().flatten())
}

/// `tenants.json`: every tenant and key (keys hashed).
#[derive(Default, Serialize, Deserialize)]
struct TenantsFile {
    tenants: std::collections::BTreeMap<Tenant, Timestamp>,
    keys: Vec<KeyRecord>,
}

impl FileStore {
    async fn with_tenants<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut TenantsFile) -> Result<(T, bool)> + Send + 'static,
    ) -> Result<T> {
        self.locked_json(self.root.to_path_buf(), "tenants", change)
            .await
    }

    fn agent_file(&self, tenant: &Tenant, name: &str) -> Result<PathBuf> {
        check_id("agent name", name)?;
        Ok(self
            .tenant_dir(tenant)
            .join("agents")
            .join(format!("{name}.json")))
    }
}

fn no_tenant(tenant: &Tenant) -> StoreError {
    StoreError::not_found(format!("tenant {tenant}"))
}

#[async_trait]
impl TenantStore for FileStore {
    async fn put_tenant(&self, tenant: &Tenant) -> Result<bool> {
        let tenant = tenant.clone();
        self.with_tenants(move |file| {
            let created = !file.tenants.contains_key(&tenant);
            if created {
                file.tenants.insert(tenant, Timestamp::now());
            }
            Ok((created, created))
        })
        .await
    }

    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool> {
        let tenant = tenant.clone();
        self.with_tenants(move |file| Ok((file.tenants.contains_key(&tenant), false)))
            .await
    }

    async fn add_key(&self, key: &KeyRecord) -> Result<()> {
        let key = key.clone();
        self.with_tenants(move |file| {
            if !file.tenants.contains_key(&key.tenant) {
                return Err(no_tenant(&key.tenant));
            }
            file.keys.push(key);
            Ok(((), true))
        })
        .await
    }

    async fn revoke_key(&self, tenant: &Tenant, id: &str) -> Result<()> {
        let (tenant, id) = (tenant.clone(), id.to_owned());
        self.with_tenants(move |file| {
            let key = file
                .keys
                .iter_mut()
                .find(|k| k.tenant == tenant && k.id == id && k.revoked_at.is_none())
                .ok_or_else(|| StoreError::not_found(format!("key {id}")))?;
            key.revoked_at = Some(Timestamp::now());
            Ok(((), true))
        })
        .await
    }

    async fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>> {
        let hash = hash.to_owned();
        self.with_tenants(move |file| {
            let found = file
                .keys
                .iter()
                .find(|k| k.hash == hash && k.revoked_at.is_none())
                .cloned();
            Ok((found, false))
        })
        .await
    }

    async fn keys(&self, tenant: &Tenant) -> Result<Vec<KeyRecord>> {
        let tenant = tenant.clone();
        self.with_tenants(move |file| {
            let keys = file.keys.iter().filter(|k| k.tenant == tenant).cloned();
            Ok((keys.collect(), false))
        })
        .await
    }

    async fn put_agent(&self, tenant: &Tenant, name: &str, files: &AgentFiles) -> Result<()> {
        if !self.tenant_exists(tenant).await? {
            return Err(no_tenant(tenant));
        }
        let path = self.agent_file(tenant, name)?;
        let json = serde_json::to_vec_pretty(files).context(|| "encoding an agent".to_owned())?;
        self.blocking(move |_| {
            write_atomic(&path, &json).context(|| format!("writing {}", path.display()))
        })
        .await
    }

    async fn get_agent(&self, tenant: &Tenant, name: &str) -> Result<Option<AgentFiles>> {
        let path = self.agent_file(tenant, name)?;
        self.blocking(move |_| match fs::read(&path) {
            Ok(bytes) => Ok(Some(
                serde_json::from_slice(&bytes).context(|| format!("reading {}", path.display()))?,
            )),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::backend(
                format!("reading {}", path.display()),
                e,
            )),
        })
        .await
    }

    async fn list_agents(&self, tenant: &Tenant) -> Result<Vec<String>> {
        let dir = self.tenant_dir(tenant).join("agents");
        self.blocking(move |_| {
            let mut names: Vec<String> = match fs::read_dir(&dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter_map(|e| {
                        let name = e.file_name().to_str()?.strip_suffix(".json")?.to_owned();
                        check_id("agent name", &name).ok().map(|()| name)
                    })
                    .collect(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(StoreError::backend("listing agents", e)),
            };
            names.sort();
            Ok(names)
        })
        .await
    }

    async fn delete_agent(&self, tenant: &Tenant, name: &str) -> Result<()> {
        let path = self.agent_file(tenant, name)?;
        let name = name.to_owned();
        self.blocking(move |_| match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::not_found(format!("agent `{name}`")))
            }
            Err(e) => Err(StoreError::backend(format!("deleting agent `{name}`"), e)),
        })
        .await
    }
}
