//! The API's building blocks: its one error shape, JSON bodies that name the bad field, and the
//! caller a request was authenticated as.

use axum::Json;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pluto_services::{StoreError, Tenant};
use serde::de::DeserializeOwned;
use serde_json::json;
use utoipa::ToSchema;

/// An error in the API's one shape: `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable, machine-readable code.
    pub code: &'static str,
    /// What went wrong, for people.
    pub message: String,
}

/// The body of every error response.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The error.
    error: ErrorDetail,
}

/// An error's code and message.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// A stable code: `invalid`, `invalid_json`, `unauthorized`, `not_found`, `conflict`,
    /// `too_large`, `too_many_runs`, `unavailable`, …
    code: String,
    /// What went wrong.
    message: String,
}

impl ApiError {
    /// An error with `status`, `code` and `message`.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid`.
    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let (status, code) = match &e {
            StoreError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::Conflict { .. } => (StatusCode::CONFLICT, "conflict"),
            StoreError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid"),
            StoreError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            StoreError::Backend { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %e, "state store failed");
        }
        ApiError::new(status, code, e.to_string())
    }
}

/// The result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body, read up to the body limit (413 beyond), whose errors name the field.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<super::Shared> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &super::Shared) -> Result<Self, ApiError> {
        let bytes = read_body(req.into_body(), app.limits.max_body).await?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON, naming the field at fault.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = if path == "." || path.is_empty() {
            format!("invalid JSON body: {inner}")
        } else {
            format!("invalid JSON body: field `{path}`: {inner}")
        };
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    })
}

/// Who a request comes from: always the authenticated key's tenant (or the implicit tenant of
/// trusted mode), never something the caller wrote in a path or body.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The tenant.
    pub tenant: Tenant,
}

/// Reads a whole body up to `limit` bytes (413 in the API's shape beyond).
pub async fn read_body(body: axum::body::Body, limit: usize) -> ApiResult<axum::body::Bytes> {
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    })
}

/// Gives every error the one JSON shape: an error answered as plain text — what axum's
/// extractors say of a malformed query, path or header — becomes
/// `{"error": {"code": "invalid", "message": …}}` with the same status.
pub async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let agent_protocol = super::document::is_agent_protocol(req.uri().path());
    let response = next.run(req).await;
    let status = response.status();
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(status.is_client_error() && plain) {
        return response;
    }
    let text = match axum::body::to_bytes(response.into_body(), 64 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    };
    if agent_protocol {
        // The Agent Protocol's own error shape.
        return (status, Json(json!({ "message": text }))).into_response();
    }
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        _ => "invalid",
    };
    ApiError::new(status, code, text).into_response()
}

/// Reads a JSON object for a free-form `metadata` field (left out, it is null); anything else
/// is refused.
pub fn object_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Value, D::Error> {
    let value = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(serde::de::Error::custom("expected a JSON object"))
    }
}
