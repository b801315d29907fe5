//! Redis: sessions and their events, for fast shared state and ephemeral sessions.
//!
//! `redis://HOST:PORT/DB?prefix=P&ttl=SECONDS`: keys start with `P` (default `pluto`); with
//! `ttl`, a session and its events expire that long after their last append.
//!
//! ```text
//! P:TENANT:s:ID        hash: agent, created_ms, updated_ms, last_seq, metadata
//! P:TENANT:s:ID:ev     list: the events as JSON, event n at index n-1
//! P:TENANT:idx         sorted set of session ids (by id, i.e. creation time)
//! P:TENANT:idx:AGENT   the same, per agent
//! ```
//! An append is one Lua script: the sequence check and the write are atomic.

use async_trait::async_trait;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde_json::Value;

use crate::error::{Context, Result, StoreError};
use crate::ids::{SessionId, Tenant, check_id};
use crate::session::{Listing, NewSession, Page, Session, SessionStore, StoredEvent};
use crate::time::Timestamp;

/// Sessions in Redis.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    ttl: Option<u64>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// Appends events if `last_seq` is still ARGV[1]. KEYS: session hash, event list.
/// ARGV: expected, now_ms, ttl (0 = none), events… Returns the new last_seq, or
/// `{-1, actual}` on a conflict, or -2 when the session does not exist.
const APPEND: &str = r"
local last = redis.call('HGET', KEYS[1], 'last_seq')
if not last then return -2 end
if last ~= ARGV[1] then return {-1, tonumber(last)} end
local n = #ARGV - 3
if n > 0 then
  redis.call('RPUSH', KEYS[2], unpack(ARGV, 4))
end
local new = tonumber(last) + n
redis.call('HSET', KEYS[1], 'last_seq', new, 'updated_ms', ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return new
";

impl RedisStore {
    /// Connects to `url`.
    pub async fn connect(url: &str) -> Result<RedisStore> {
        let (base, prefix, ttl) = parse(url)?;
        let client =
            redis::Client::open(base.as_str()).context(|| "parsing the Redis URL".to_owned())?;
        let conn = ConnectionManager::new(client)
            .await
            .context(|| format!("connecting to Redis at {base}"))?;
        Ok(RedisStore { conn, prefix, ttl })
    }

    fn key(&self, tenant: &Tenant, id: &SessionId) -> String {
        format!("{}:{tenant}:s:{id}", self.prefix)
    }

    fn index(&self, tenant: &Tenant, agent: Option<&str>) -> String {
        match agent {
            Some(agent) => format!("{}:{tenant}:idx:{agent}", self.prefix),
            None => format!("{}:{tenant}:idx", self.prefix),
        }
    }

    async fn read(&self, key: &str, id: &SessionId) -> Result<Option<Session>> {
        let mut conn = self.conn.clone();
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(key)
            .arg(&["agent", "created_ms", "updated_ms", "last_seq", "metadata"])
            .query_async(&mut conn)
            .await
            .context(|| format!("reading session {id}"))?;
        let [
            Some(agent),
            Some(created),
            Some(updated),
            Some(last),
            metadata,
        ] = <[Option<String>; 5]>::try_from(fields).unwrap_or_default()
        else {
            return Ok(None);
        };
        let ctx = || format!("parsing session {id}");
        Ok(Some(Session {
            id: id.clone(),
            agent,
            created_at: Timestamp(created.parse().context(ctx)?),
            updated_at: Timestamp(updated.parse().context(ctx)?),
            last_seq: last.parse().context(ctx)?,
            metadata: match metadata {
                Some(m) => serde_json::from_str(&m).context(ctx)?,
                None => Value::Null,
            },
        }))
    }
}

/// Splits Pluto's `prefix` and `ttl` parameters off a Redis URL.
fn parse(url: &str) -> Result<(String, String, Option<u64>)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut prefix = "pluto".to_owned();
    let mut ttl = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if let Some(p) = pair.strip_prefix("prefix=") {
            check_id("Redis key prefix", p)?;
            prefix = p.to_owned();
        } else if let Some(t) = pair.strip_prefix("ttl=") {
            let secs: u64 = t.parse().map_err(|_| {
                StoreError::Invalid(format!("Redis ttl `{t}` is not a number of seconds"))
            })?;
            ttl = (secs > 0).then_some(secs);
        } else {
            rest.push(pair);
        }
    }
    let base = if rest.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    Ok((base, prefix, ttl))
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create(&self, tenant: &Tenant, new: NewSession) -> Result<Session> {
        let id = new.id.clone().unwrap_or_else(SessionId::generate);
        check_id("agent name", &new.agent)?;
        let key = self.key(tenant, &id);
        let now = Timestamp::now();
        let mut conn = self.conn.clone();
        let ctx = || format!("creating session {id}");
        let created: bool = conn.hset_nx(&key, "agent", &new.agent).await.context(ctx)?;
        if !created {
            return Err(StoreError::Invalid(format!("session {id} already exists")));
        }
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset(&key, "created_ms", now.millis())
            .hset(&key, "updated_ms", now.millis())
            .hset(&key, "last_seq", 0);
        if !new.metadata.is_null() {
            pipe.hset(&key, "metadata", new.metadata.to_string());
        }
        if let Some(ttl) = self.ttl {
            pipe.expire(&key, i64::try_from(ttl).unwrap_or(i64::MAX));
        }
        pipe.zadd(self.index(tenant, None), id.as_str(), 0).zadd(
            self.index(tenant, Some(&new.agent)),
            id.as_str(),
            0,
        );
        pipe.query_async::<()>(&mut conn).await.context(ctx)?;
        Ok(Session::created(id, new, now))
    }

    async fn get(&self, tenant: &Tenant, id: &SessionId) -> Result<Session> {
        self.read(&self.key(tenant, id), id)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("session {id}")))
    }

    async fn list(
        &self,
        tenant: &Tenant,
        agent: Option<&str>,
        page: &Page,
    ) -> Result<Listing<Session>> {
        if let Some(agent) = agent {
            check_id("agent name", agent)?;
        }
        let index = self.index(tenant, agent);
        let mut conn = self.conn.clone();
        let size = page.size();
        let mut items = Vec::new();
        let mut cursor = page.cursor.clone();
        // Expired sessions leave ids behind in the index: skipped and cleaned up here.
        loop {
            let max = cursor.as_ref().map_or("+".to_owned(), |c| format!("({c}"));
            let ids: Vec<String> = redis::cmd("ZREVRANGEBYLEX")
                .arg(&index)
                .arg(&max)
                .arg("-")
                .arg("LIMIT")
                .arg(0)
                .arg(size + 1 - items.len())
                .query_async(&mut conn)
                .await
                .context(|| "listing sessions".to_owned())?;
            let exhausted = ids.len() < size + 1 - items.len();
            for raw in ids {
                cursor = Some(raw.clone());
                let Ok(id) = SessionId::new(raw.clone()) else {
                    continue;
                };
                match self.read(&self.key(tenant, &id), &id).await? {
                    Some(s) => items.push(s),
                    None => {
                        let _: () = conn
                            .zrem(&index, &raw)
                            .await
                            .context(|| "cleaning the session index".to_owned())?;
                    }
                }
                if items.len() > size {
                    break;
                }
            }
            if items.len() > size || exhausted {
                break;
            }
        }
        Ok(Listing::from_overfetch(items, size, |s| s.id.to_string()))
    }

    async fn delete(&self, tenant: &Tenant, id: &SessionId) -> Result<()> {
        let session = self.get(tenant, id).await?;
        let key = self.key(tenant, id);
        let mut conn = self.conn.clone();
        redis::pipe()
            .atomic()
            .del(&key)
            .del(format!("{key}:ev"))
            .zrem(self.index(tenant, None), id.as_str())
            .zrem(self.index(tenant, Some(&session.agent)), id.as_str())
            .query_async::<()>(&mut conn)
            .await
            .context(|| format!("deleting session {id}"))
    }

    async fn append(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        expected: u64,
        events: &[Value],
    ) -> Result<u64> {
        let key = self.key(tenant, id);
        let now = Timestamp::now().millis();
        let script = redis::Script::new(APPEND);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(&key)
            .key(format!("{key}:ev"))
            .arg(expected)
            .arg(now)
            .arg(self.ttl.unwrap_or(0));
        for event in events {
            // Each element carries its time, so a read returns what was appended when.
            invocation.arg(serde_json::json!({"at": now, "data": event}).to_string());
        }
        let mut conn = self.conn.clone();
        let answer: redis::Value = invocation
            .invoke_async(&mut conn)
            .await
            .context(|| format!("appending to session {id}"))?;
        match answer {
            redis::Value::Int(-2) => Err(StoreError::not_found(format!("session {id}"))),
            redis::Value::Int(n) => Ok(u64::try_from(n).unwrap_or(0)),
            redis::Value::Array(v) => match v.as_slice() {
                [_, redis::Value::Int(actual)] => Err(StoreError::Conflict {
                    expected,
                    actual: u64::try_from(*actual).unwrap_or(0),
                }),
                _ => Err(StoreError::backend("appending", "unexpected script answer")),
            },
            other => Err(StoreError::backend(
                "appending",
                format!("unexpected script answer {other:?}"),
            )),
        }
    }

    async fn events(
        &self,
        tenant: &Tenant,
        id: &SessionId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>> {
        let key = self.key(tenant, id);
        let mut conn = self.conn.clone();
        let ctx = || format!("reading session {id}'s events");
        if limit == 0 {
            return Ok(Vec::new());
        }
        let start = isize::try_from(after).unwrap_or(isize::MAX);
        let stop = start.saturating_add(isize::try_from(limit).unwrap_or(isize::MAX) - 1);
        let (exists, raw): (bool, Vec<String>) = redis::pipe()
            .exists(&key)
            .lrange(format!("{key}:ev"), start, stop)
            .query_async(&mut conn)
            .await
            .context(ctx)?;
        if !exists {
            return Err(StoreError::not_found(format!("session {id}")));
        }
        #[derive(serde::Deserialize)]
        struct Element {
            at: i64,
            data: Value,
        }
        raw.iter()
            .enumerate()
            .map(|(i, text)| {
                let e: Element = serde_json::from_str(text).context(ctx)?;
                Ok(StoredEvent {
                    seq: after + 1 + i as u64,
                    at: Timestamp(e.at),
                    data: e.data,
                })
            })
            .collect()
    }

    async fn ping(&self) -> Result<()> {
        let mut conn = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut conn)
            .await
            .context(|| "pinging Redis".to_owned())?;
        Ok(())
    }
}
