//! Sessions: one append-only, numbered event log per conversation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::Result;
use crate::ids::{SessionId, Tenant};
use crate::time::Timestamp;

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The agent it talks to.
    pub agent: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its last event was appended (or it was created).
    pub updated_at: Timestamp,
    /// The sequence number of its last event; 0 when it has none.
    pub last_seq: u64,
    /// Free-form data the caller attached at creation.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
}

impl Session {
    /// The session `new` describes, just created with `id` at `now`.
    pub(crate) fn created(id: SessionId, new: NewSession, now: Timestamp) -> Session {
        Session {
            id,
            agent: new.agent,
            created_at: now,
            updated_at: now,
            last_seq: 0,
            metadata: new.metadata,
        }
    }
}

/// What a new session starts with.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// The agent it talks to.
    pub agent: String,
    /// Its id; a new UUID v7 when `None`.
    pub id: Option<SessionId>,
    /// Free-form data.
    pub metadata: Value,
}

/// One event of a session's log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Its number: 1 for the first event, then consecutive.
    pub seq: u64,
    /// When it was appended.
    pub at: Timestamp,
    /// The event itself (a run event: `{"type": "run.started", …}`).
    pub data: Value,
}

/// Where a listing starts and how long it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The most items to return (at least 1; capped at [`Page::MAX`]; 0 means the default, 50).
    pub limit: usize,
    /// The `next` cursor of the previous page.
    pub cursor: Option<String>,
}

impl Page {
    /// The most items one page holds.
    pub const MAX: usize = 1000;

    /// The first page of up to `limit` items.
    pub fn first(limit: usize) -> Page {
        Page {
            limit,
            cursor: None,
        }
    }

    /// The effective limit.
    pub fn size(&self) -> usize {
        match self.limit {
            0 => 50,
            n => n.min(Page::MAX),
        }
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Listing<T> {
    /// The items.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

impl<T> Listing<T> {
    /// A page from `items` fetched with one extra beyond `size`: the extra one, if it came,
    /// says there is a next page, which starts after the last item kept.
    pub(crate) fn from_overfetch(
        mut items: Vec<T>,
        size: usize,
        key: impl Fn(&T) -> String,
    ) -> Self {
        let next = if items.len() > size {
            items.truncate(size);
            items.last().map(key)
        } else {
            None
        };
        Listing { items, next }
    }
}

/// Sessions and their event logs, per tenant.
///
/// Every method takes the tenant: a session of another tenant is `NotFound`, never visible.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates a session. An id that already exists is an `Invalid` error.
    async fn create(&self, tenant: &Tenant, new: NewSession) -> Result<Session>;

    /// The session `id`.
    async fn get(&self, tenant: &Tenant, id: &SessionId) -> Result<Session>;

    /// The tenant's sessions, newest first, of one agent or of all.
    async fn list(
        &self,
        tenant: &Tenant,
        agent: Option<&str>,
        page: &Page,
    ) -> Result<Listing<Session>>;

    /// Deletes the session and its events.
    async fn delete(&self, tenant: &Tenant, id: &SessionId) -> Result<()>;

    /// Appends `events` after event number `expected` (the caller's idea of `last_seq`) and
    /// returns the new `last_seq`. When another writer appended first, nothing is written and
    /// the answer is [`StoreError::Conflict`](crate::StoreError::Conflict). Once this returns
    /// `Ok`, the events are durable.
    async fn append(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        expected: u64,
        events: &[Value],
    ) -> Result<u64>;

    /// Up to `limit` events numbered after `after`, in order (`after = 0` reads from the start).
    async fn events(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>>;

    /// Checks that the backend is reachable.
    async fn ping(&self) -> Result<()>;
}

/// Reads every event of a session after `after`, page by page.
pub async fn all_events(
    store: &dyn SessionStore,
    tenant: &Tenant,
    id: &SessionId,
    after: u64,
) -> Result<Vec<StoredEvent>> {
    const CHUNK: usize = 1000;
    let mut out: Vec<StoredEvent> = Vec::new();
    loop {
        let from = out.last().map_or(after, |e| e.seq);
        let chunk = store.events(tenant, id, from, CHUNK).await?;
        let done = chunk.len() < CHUNK;
        out.extend(chunk);
        if done {
            return Ok(out);
        }
    }
}
