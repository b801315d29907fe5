//! The admin API: tenants, their keys and their agents.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use pluto_services::{AgentFiles, Tenant, new_key};
use serde_json::{Value, json};

use super::Shared;
use super::agents::materialize;
use super::api::{ApiError, ApiResult, ErrorBody, parse_json, read_body};

fn tenant_id(raw: &str) -> ApiResult<Tenant> {
    Tenant::new(raw).map_err(|e| ApiError::invalid(e.to_string()))
}

async fn existing(app: &Shared, raw: &str) -> ApiResult<Tenant> {
    let tenant = tenant_id(raw)?;
    if !app.services.tenants.tenant_exists(&tenant).await? {
        return Err(ApiError::not_found(format!("tenant {tenant} not found")));
    }
    Ok(tenant)
}

/// Creates a tenant (idempotent).
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id")),
    responses((status = 201, description = "Created"), (status = 200, description = "It existed"),
              (status = 401, description = "Not the admin key", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn put_tenant(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = tenant_id(&tenant)?;
    let created = app.services.tenants.put_tenant(&tenant).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"tenant": tenant}))))
}

/// Makes an API key for a tenant; the key is in this answer only.
#[utoipa::path(post, path = "/admin/v1/tenants/{tenant}/keys", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id")),
    responses((status = 201, description = "`{\"id\", \"key\"}`: keep the key, it is not shown again"),
              (status = 404, description = "No such tenant", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn create_key(
    State(app): State<Shared>,
    Path(tenant): Path<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = existing(&app, &tenant).await?;
    let key = new_key(&tenant);
    app.services.tenants.add_key(&key.record).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": key.record.id, "tenant": tenant, "key": key.secret})),
    ))
}

/// Revokes a key: it gets 401 from then on.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/keys/{id}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id"),
           ("id" = String, Path, description = "The key's id")),
    responses((status = 204, description = "Revoked"),
              (status = 404, description = "No such live key", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn revoke_key(
    State(app): State<Shared>,
    Path((tenant, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = tenant_id(&tenant)?;
    app.services.tenants.revoke_key(&tenant, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deploys (or replaces) a tenant's agent: the PAF files as JSON `{"agent.yaml": "…", …}` or a
/// `.tar.gz` bundle (`Content-Type: application/gzip`), validated as `pluto validate` does.
#[utoipa::path(put, path = "/admin/v1/tenants/{tenant}/agents/{agent}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id"),
           ("agent" = String, Path, description = "The agent's name (must match the manifest)")),
    request_body(content = Object, description = "Files by relative path, or a bundle"),
    responses((status = 201, description = "Deployed"),
              (status = 404, description = "No such tenant", body = ErrorBody),
              (status = 422, description = "The agent is invalid: every problem with its file, line and column", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn put_agent(
    State(app): State<Shared>,
    Path((tenant, agent)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let tenant = existing(&app, &tenant).await?;
    let body = read_body(body, app.limits.max_body).await?;
    let is_bundle = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip") || v.contains("tar"));
    let files: AgentFiles = if is_bundle {
        let (_, files) = crate::bundle::unpack(&body).map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_bundle",
                format!("{e:#}"),
            )
        })?;
        files
    } else {
        parse_json(&body)?
    };
    let scratch = tempfile::tempdir().map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    })?;
    let loaded = materialize(
        &files,
        &scratch.path().join(&agent),
        &app.args.sandbox.policy_set(),
    )
    .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_agent", e))?;
    let named = loaded.manifest.name.as_str();
    if named != agent {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_agent",
            format!("the manifest names the agent `{named}`, the path `{agent}`"),
        ));
    }
    app.services
        .tenants
        .put_agent(&tenant, &agent, &files)
        .await?;
    app.agents.forget(&tenant, &agent).await;
    Ok((
        StatusCode::CREATED,
        Json(json!({"tenant": tenant, "agent": agent, "files": files.keys().collect::<Vec<_>>()})),
    ))
}

/// A tenant's agent, as its files.
#[utoipa::path(get, path = "/admin/v1/tenants/{tenant}/agents/{agent}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id"),
           ("agent" = String, Path, description = "The agent's name")),
    responses((status = 200, description = "The files by relative path"),
              (status = 404, description = "No such tenant or agent", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn get_agent(
    State(app): State<Shared>,
    Path((tenant, agent)): Path<(String, String)>,
) -> ApiResult<Json<AgentFiles>> {
    let tenant = existing(&app, &tenant).await?;
    app.services
        .tenants
        .get_agent(&tenant, &agent)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("agent `{agent}` not found")))
}

/// Removes a tenant's agent.
#[utoipa::path(delete, path = "/admin/v1/tenants/{tenant}/agents/{agent}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id"),
           ("agent" = String, Path, description = "The agent's name")),
    responses((status = 204, description = "Removed"),
              (status = 404, description = "No such tenant or agent", body = ErrorBody)),
    security(("admin" = [])))]
pub async fn delete_agent(
    State(app): State<Shared>,
    Path((tenant, agent)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = existing(&app, &tenant).await?;
    app.services.tenants.delete_agent(&tenant, &agent).await?;
    app.agents.forget(&tenant, &agent).await;
    Ok(StatusCode::NO_CONTENT)
}
