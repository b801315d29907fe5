//! Artifacts: named, versioned blobs of a session, streamed in and out.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as BlobPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::{Deserialize, Serialize};

use crate::error::{Context, Result, StoreError};
use crate::ids::{SessionId, Tenant, check_id, new_id};
use crate::session::SessionStore;
use crate::time::Timestamp;

/// A stream of bytes in or out of the artifact store.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// One version of an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactVersion {
    /// The artifact's name.
    pub name: String,
    /// Its version: 1, 2, … (each save makes a new one).
    pub version: u32,
    /// Its size in bytes.
    pub size: u64,
    /// Its media type.
    pub content_type: String,
    /// When it was saved.
    pub created_at: Timestamp,
    /// Where its bytes are in the blob store.
    pub blob: String,
}

/// The artifact index: versions and sizes, kept in the state backend so that a tenant's usage
/// can be checked in one transaction.
#[async_trait]
pub trait ArtifactIndex: Send + Sync {
    /// Records a saved blob as the next version of `name`, unless the tenant's total would exceed
    /// `limit` (then `TooLarge`, and nothing is recorded).
    async fn record(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        version: ArtifactVersion,
        limit: u64,
    ) -> Result<ArtifactVersion>;

    /// The bytes the tenant's artifacts take.
    async fn usage(&self, tenant: &Tenant) -> Result<u64>;

    /// The versions of `name`, oldest first (empty when there is none).
    async fn versions(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>>;

    /// The latest version of every artifact of the session, by name.
    async fn latest(&self, tenant: &Tenant, session: &SessionId) -> Result<Vec<ArtifactVersion>>;

    /// Forgets every version of `name` and returns them (so their blobs can be deleted).
    async fn remove(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>>;
}

/// Artifacts: bytes in an object store (a folder or S3), versions in an [`ArtifactIndex`].
pub struct ArtifactStore {
    blobs: Arc<dyn ObjectStore>,
    index: Arc<dyn ArtifactIndex>,
    sessions: Arc<dyn SessionStore>,
    limit: u64,
}

impl std::fmt::Debug for ArtifactStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArtifactStore")
            .field("blobs", &self.blobs.to_string())
            .field("limit", &self.limit)
            .finish()
    }
}

/// The default limit on the bytes of one tenant's artifacts: 1 GiB.
pub const DEFAULT_TENANT_LIMIT: u64 = 1 << 30;

/// Bytes sent to the blob store per part.
const PART: usize = 5 * 1024 * 1024;

impl ArtifactStore {
    /// Artifacts of the sessions in `sessions`, bytes in `blobs`, versions in `index`, at most
    /// `limit` bytes per tenant.
    pub fn new(
        blobs: Arc<dyn ObjectStore>,
        index: Arc<dyn ArtifactIndex>,
        sessions: Arc<dyn SessionStore>,
        limit: u64,
    ) -> Self {
        ArtifactStore {
            blobs,
            index,
            sessions,
            limit,
        }
    }

    /// Saves `body` as a new version of `name` and returns it. The body is streamed to the blob
    /// store in parts; it is never held whole in memory. Over the tenant's limit, nothing is kept.
    pub async fn save(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
        content_type: &str,
        mut body: ByteStream,
    ) -> Result<ArtifactVersion> {
        check_id("artifact name", name)?;
        self.sessions.get(tenant, session).await?;
        let room = self.limit.saturating_sub(self.index.usage(tenant).await?);
        let blob = format!("tenants/{tenant}/artifacts/{session}/{name}/{}", new_id());
        let path = BlobPath::from(blob.as_str());
        let upload = self
            .blobs
            .put_multipart(&path)
            .await
            .context(|| format!("starting the upload of artifact `{name}`"))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut size = 0u64;
        let failure = loop {
            match body.next().await {
                None => break None,
                Some(Err(e)) => {
                    break Some(StoreError::backend(
                        format!("reading the body of artifact `{name}`"),
                        e,
                    ));
                }
                Some(Ok(chunk)) => {
                    size += chunk.len() as u64;
                    if size > room {
                        break Some(StoreError::TooLarge { limit: self.limit });
                    }
                    if let Err(e) = writer.wait_for_capacity(4).await {
                        break Some(StoreError::backend(format!("uploading `{name}`"), e));
                    }
                    writer.write(&chunk);
                }
            }
        };
        if let Some(error) = failure {
            let _ = writer.abort().await;
            return Err(error);
        }
        writer
            .finish()
            .await
            .context(|| format!("finishing the upload of artifact `{name}`"))?;
        let version = ArtifactVersion {
            name: name.to_owned(),
            version: 0,
            size,
            content_type: content_type.to_owned(),
            created_at: Timestamp::now(),
            blob: blob.clone(),
        };
        match self
            .index
            .record(tenant, session, version, self.limit)
            .await
        {
            Ok(v) => Ok(v),
            Err(e) => {
                let _ = self.blobs.delete(&path).await;
                Err(e)
            }
        }
    }

    /// The version `version` of `name` (the latest when `None`) and its bytes, streamed.
    pub async fn load(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
        version: Option<u32>,
    ) -> Result<(ArtifactVersion, ByteStream)> {
        check_id("artifact name", name)?;
        let versions = self.index.versions(tenant, session, name).await?;
        let found = match version {
            None => versions.last(),
            Some(v) => versions.iter().find(|x| x.version == v),
        };
        let Some(found) = found.cloned() else {
            return Err(StoreError::not_found(match version {
                None => format!("artifact `{name}`"),
                Some(v) => format!("artifact `{name}` version {v}"),
            }));
        };
        let got = self
            .blobs
            .get(&BlobPath::from(found.blob.as_str()))
            .await
            .context(|| format!("reading artifact `{name}`"))?;
        let stream = got
            .into_stream()
            .map_err(|e| std::io::Error::other(e.to_string()))
            .boxed();
        Ok((found, stream))
    }

    /// The latest version of each of the session's artifacts, by name.
    pub async fn list(&self, tenant: &Tenant, session: &SessionId) -> Result<Vec<ArtifactVersion>> {
        self.sessions.get(tenant, session).await?;
        self.index.latest(tenant, session).await
    }

    /// Every version of `name`, oldest first.
    pub async fn versions(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
    ) -> Result<Vec<ArtifactVersion>> {
        check_id("artifact name", name)?;
        let versions = self.index.versions(tenant, session, name).await?;
        if versions.is_empty() {
            return Err(StoreError::not_found(format!("artifact `{name}`")));
        }
        Ok(versions)
    }

    /// Deletes every version of `name`.
    pub async fn delete(&self, tenant: &Tenant, session: &SessionId, name: &str) -> Result<()> {
        check_id("artifact name", name)?;
        let removed = self.index.remove(tenant, session, name).await?;
        if removed.is_empty() {
            return Err(StoreError::not_found(format!("artifact `{name}`")));
        }
        for v in removed {
            // A blob left behind costs space, not correctness: the index no longer names it.
            if let Err(e) = self.blobs.delete(&BlobPath::from(v.blob.as_str())).await {
                tracing::warn!(blob = %v.blob, error = %e, "could not delete an artifact blob");
            }
        }
        Ok(())
    }

    /// The bytes the tenant's artifacts take.
    pub async fn usage(&self, tenant: &Tenant) -> Result<u64> {
        self.index.usage(tenant).await
    }

    /// Reads a whole artifact into memory (for small artifacts and tests).
    pub async fn read_all(
        &self,
        tenant: &Tenant,
        session: &SessionId,
        name: &str,
        version: Option<u32>,
    ) -> Result<(ArtifactVersion, Vec<u8>)> {
        let (meta, mut stream) = self.load(tenant, session, name, version).await?;
        let mut out = Vec::with_capacity(usize::try_from(meta.size).unwrap_or(0));
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.context(|| format!("reading artifact `{name}`"))?);
        }
        Ok((meta, out))
    }
}

/// A byte stream of one buffer (for small bodies and tests).
pub fn bytes_body(data: impl Into<Bytes>) -> ByteStream {
    futures::stream::once(futures::future::ready(Ok(data.into()))).boxed()
}
