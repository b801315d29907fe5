//! Who a request comes from. With no admin key configured (trusted mode, loopback only unless
//! `--insecure-no-auth`), everything belongs to the implicit tenant `default`. Otherwise every
//! `/v1` request needs `Authorization: Bearer KEY` of a live key, which names its tenant, and
//! the admin API needs the admin key.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use pluto_services::{Tenant, key_hash};

use super::Shared;
use super::api::{ApiError, Caller};

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The SHA-256 of the admin key; `None` is trusted mode.
    pub admin_hash: Option<String>,
    /// The SHA-256 of the metrics key, if one is set.
    pub metrics_hash: Option<String>,
}

impl Auth {
    /// Whether there is no authentication at all.
    pub fn trusted(&self) -> bool {
        self.admin_hash.is_none()
    }
}

fn bearer(req: &Request) -> Option<&str> {
    req.headers()
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Compares two hex digests in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Resolves the caller's tenant from the key (never from the path or body).
pub async fn tenant(State(app): State<Shared>, mut req: Request, next: Next) -> Response {
    let caller = match (bearer(&req), &app.auth.admin_hash) {
        (_, None) => Caller {
            tenant: Tenant::default_tenant(),
        },
        (None, Some(_)) => {
            return ApiError::unauthorized("send `Authorization: Bearer KEY`").into_response();
        }
        (Some(key), Some(admin)) => {
            let hash = key_hash(key);
            match app.services.tenants.find_key(&hash).await {
                Ok(Some(record)) => Caller {
                    tenant: record.tenant,
                },
                Ok(None) if same(&hash, admin) => {
                    return ApiError::unauthorized(
                        "the admin key is for /admin/v1; use a tenant's key here",
                    )
                    .into_response();
                }
                Ok(None) => {
                    return ApiError::unauthorized("unknown or revoked key").into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Lets only the admin key through (anything in trusted mode).
pub async fn admin(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(admin) = &app.auth.admin_hash {
        match bearer(&req) {
            Some(key) if same(&key_hash(key), admin) => {}
            Some(_) => return ApiError::unauthorized("not the admin key").into_response(),
            None => {
                return ApiError::unauthorized("send `Authorization: Bearer ADMIN_KEY`")
                    .into_response();
            }
        }
    }
    next.run(req).await
}

/// Lets the metrics key or the admin key through to `/metrics` (anything in trusted mode): the
/// series say what every tenant's runs are doing, so no tenant key reads them.
pub async fn metrics(State(app): State<Shared>, req: Request, next: Next) -> Response {
    if let Some(admin) = &app.auth.admin_hash {
        let Some(key) = bearer(&req) else {
            return ApiError::unauthorized("send `Authorization: Bearer METRICS_KEY`")
                .into_response();
        };
        let hash = key_hash(key);
        let metrics = app.auth.metrics_hash.as_deref();
        if !same(&hash, admin) && !metrics.is_some_and(|m| same(&hash, m)) {
            return ApiError::unauthorized("not the metrics key (--metrics-key) or the admin key")
                .into_response();
        }
    }
    next.run(req).await
}
