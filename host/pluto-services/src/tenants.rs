//! Tenants, their API keys and their agents: what the server's auth and admin API keep.
//!
//! A key is shown once, when it is made; only its SHA-256 is stored. Keys look like
//! `pk_ID_SECRET`: the id names the key (to revoke it), the secret is 128 random bits.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::ids::Tenant;
use crate::time::Timestamp;

/// The files of an agent deployed through the admin API, by relative path.
pub type AgentFiles = BTreeMap<String, String>;

/// A key as stored (never the key itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key's id (the part after `pk_`).
    pub id: String,
    /// The tenant it belongs to.
    pub tenant: Tenant,
    /// The SHA-256 of the whole key, in hex.
    pub hash: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<Timestamp>,
}

/// A freshly made key: the secret (shown once) and its record.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The whole key, to give to the client.
    pub secret: String,
    /// What is stored.
    pub record: KeyRecord,
}

/// The SHA-256 of a key, in hex.
pub fn key_hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Makes a new key for `tenant`.
pub fn new_key(tenant: &Tenant) -> NewKey {
    let id = uuid::Uuid::new_v4().simple().to_string()[..12].to_owned();
    let secret = format!("pk_{id}_{}", uuid::Uuid::new_v4().simple());
    NewKey {
        record: KeyRecord {
            id,
            tenant: tenant.clone(),
            hash: key_hash(&secret),
            created_at: Timestamp::now(),
            revoked_at: None,
        },
        secret,
    }
}

/// Tenants, keys and deployed agents.
#[async_trait]
pub trait TenantStore: Send + Sync {
    /// Creates the tenant; `false` when it already existed.
    async fn put_tenant(&self, tenant: &Tenant) -> Result<bool>;

    /// Whether the tenant exists.
    async fn tenant_exists(&self, tenant: &Tenant) -> Result<bool>;

    /// Stores a key record (its tenant must exist).
    async fn add_key(&self, key: &KeyRecord) -> Result<()>;

    /// Revokes the key `id` of `tenant`.
    async fn revoke_key(&self, tenant: &Tenant, id: &str) -> Result<()>;

    /// The live (not revoked) key with this hash.
    async fn find_key(&self, hash: &str) -> Result<Option<KeyRecord>>;

    /// The tenant's keys, revoked ones included.
    async fn keys(&self, tenant: &Tenant) -> Result<Vec<KeyRecord>>;

    /// Stores (or replaces) an agent of the tenant.
    async fn put_agent(&self, tenant: &Tenant, name: &str, files: &AgentFiles) -> Result<()>;

    /// An agent of the tenant.
    async fn get_agent(&self, tenant: &Tenant, name: &str) -> Result<Option<AgentFiles>>;

    /// The names of the tenant's agents.
    async fn list_agents(&self, tenant: &Tenant) -> Result<Vec<String>>;

    /// Deletes an agent of the tenant.
    async fn delete_agent(&self, tenant: &Tenant, name: &str) -> Result<()>;
}
