//! Memory: short texts an agent keeps across sessions, found again by keyword search.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::ids::{Tenant, check_id};
use crate::session::{Listing, Page};
use crate::time::Timestamp;

/// Whose memory an entry is: `user:ID`, `agent:NAME` or `session:ID` (a manifest's
/// `memory.scope` picks the kind; the caller supplies the id).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope {
    kind: ScopeKind,
    key: String,
}

/// The kinds of scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ScopeKind {
    User,
    Agent,
    Session,
}

impl Scope {
    /// The scope of `kind` (`user`, `agent` or `session`) and `key`.
    pub fn new(kind: &str, key: &str) -> Result<Scope> {
        let kind = match kind {
            "user" => ScopeKind::User,
            "agent" => ScopeKind::Agent,
            "session" => ScopeKind::Session,
            other => {
                return Err(StoreError::Invalid(format!(
                    "memory scope `{other}` is not one of user, agent, session"
                )));
            }
        };
        check_id("memory scope key", key)?;
        Ok(Scope {
            kind,
            key: key.to_owned(),
        })
    }

    /// `user`, `agent` or `session`.
    pub fn kind(&self) -> &'static str {
        match self.kind {
            ScopeKind::User => "user",
            ScopeKind::Agent => "agent",
            ScopeKind::Session => "session",
        }
    }

    /// The user, agent or session id.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.key)
    }
}

impl TryFrom<String> for Scope {
    type Error = StoreError;
    fn try_from(text: String) -> Result<Scope> {
        let (kind, key) = text
            .split_once(':')
            .ok_or_else(|| StoreError::Invalid(format!("memory scope `{text}` is not KIND:ID")))?;
        Scope::new(kind, key)
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> String {
        scope.to_string()
    }
}

/// One remembered text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryEntry {
    /// Its id.
    pub id: String,
    /// Whose it is.
    pub scope: Scope,
    /// The text.
    pub text: String,
    /// Free-form data (where it came from, tags, …).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub metadata: Value,
    /// When it was added.
    pub created_at: Timestamp,
}

impl MemoryEntry {
    /// A new entry of `scope` (its text checked), with a fresh id, added now.
    pub fn new(scope: &Scope, text: &str, metadata: Value) -> Result<MemoryEntry> {
        check_text(text)?;
        Ok(MemoryEntry {
            id: crate::ids::new_id(),
            scope: scope.clone(),
            text: text.to_owned(),
            metadata,
            created_at: Timestamp::now(),
        })
    }
}

/// A search result: an entry and how well it matched (higher is better).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    /// The entry.
    pub entry: MemoryEntry,
    /// Its relevance score (BM25 or the database's rank; comparable within one answer only).
    pub score: f64,
}

/// The longest text one entry may hold.
pub const MAX_TEXT: usize = 64 * 1024;

/// Checks an entry's text.
fn check_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(StoreError::Invalid("memory text is empty".into()));
    }
    if text.len() > MAX_TEXT {
        return Err(StoreError::Invalid(format!(
            "memory text is longer than {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

/// Memory entries, per tenant and scope.
#[async_trait]
pub trait MemoryStore: Send + Sync {
    /// Adds an entry.
    async fn add(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        text: &str,
        metadata: Value,
    ) -> Result<MemoryEntry>;

    /// The entries of `scope` that best match `query`, best first, at most `limit`.
    async fn search(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>>;

    /// The entries of `scope`, newest first.
    async fn list(
        &self,
        tenant: &Tenant,
        scope: &Scope,
        page: &Page,
    ) -> Result<Listing<MemoryEntry>>;

    /// Deletes the entry `id`.
    async fn delete(&self, tenant: &Tenant, id: &str) -> Result<()>;
}

/// Ranks `entries` against `query` with Okapi BM25 (k1 = 1.2, b = 0.75); entries that share no
/// term with the query are left out.
pub fn bm25(entries: Vec<MemoryEntry>, query: &str, limit: usize) -> Vec<Hit> {
    const K1: f64 = 1.2;
    const B: f64 = 0.75;
    let terms: Vec<String> = {
        let mut t = tokens(query);
        t.sort();
        t.dedup();
        t
    };
    if terms.is_empty() || entries.is_empty() {
        return Vec::new();
    }
    let docs: Vec<Vec<String>> = entries.iter().map(|e| tokens(&e.text)).collect();
    let n = docs.len() as f64;
    let avg_len = docs.iter().map(Vec::len).sum::<usize>() as f64 / n;
    let mut df: HashMap<&str, f64> = HashMap::new();
    for doc in &docs {
        let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
        seen.sort_unstable();
        seen.dedup();
        for term in seen {
            *df.entry(term).or_default() += 1.0;
        }
    }
    let mut hits: Vec<Hit> = Vec::new();
    for (entry, doc) in entries.into_iter().zip(&docs) {
        let len = doc.len() as f64;
        let mut score = 0.0;
        for term in &terms {
            let tf = doc.iter().filter(|t| *t == term).count() as f64;
            if tf == 0.0 {
                continue;
            }
            let d = df.get(term.as_str()).copied().unwrap_or(0.0);
            let idf = ((n - d + 0.5) / (d + 0.5) + 1.0).ln();
            score += idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * len / avg_len.max(1.0)));
        }
        if score > 0.0 {
            hits.push(Hit { entry, score });
        }
    }
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.entry.id.cmp(&a.entry.id))
    });
    hits.truncate(limit);
    hits
}

/// Lowercased words of two or more letters or digits.
fn tokens(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, text: &str) -> MemoryEntry {
        MemoryEntry {
            id: id.into(),
            scope: Scope::new("user", "u").unwrap(),
            text: text.into(),
            metadata: Value::Null,
            created_at: Timestamp(0),
        }
    }

    #[test]
    fn bm25_prefers_rare_terms_and_drops_non_matches() {
        let entries = vec![
            entry("1", "the user likes tea"),
            entry("2", "the user likes coffee in the morning"),
            entry("3", "deploys go through staging"),
        ];
        let hits = bm25(entries, "Coffee?", 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].entry.id, "2");
        let entries = vec![
            entry("1", "the user likes tea"),
            entry("2", "the user likes coffee"),
            entry("3", "tea tea tea"),
        ];
        let hits = bm25(entries, "user tea", 10);
        assert_eq!(hits.len(), 3);
        assert_eq!(hits[0].entry.id, "1", "both terms beat one term");
    }

    #[test]
    fn scopes_parse_and_refuse_bad_input() {
        let s: Scope = serde_json::from_str("\"agent:coder\"").unwrap();
        assert_eq!(s.to_string(), "agent:coder");
        assert!(Scope::new("team", "x").is_err());
        assert!(Scope::new("user", "../etc").is_err());
        assert!(serde_json::from_str::<Scope>("\"user\"").is_err());
    }
}
