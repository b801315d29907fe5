//! Handler tests: the router driven in process with `oneshot`.

use axum::body::Body;
use axum::http::{Method, Request};
use clap::Parser;
use serde_json::Value;
use tower::ServiceExt;

use super::*;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

async fn test_app(dir: &std::path::Path, extra: &[&str]) -> Router {
    std::fs::create_dir_all(dir.join("agents")).unwrap();
    std::fs::write(
        dir.join("agents/echo.md"),
        "---\npaf: 1\nname: echo\ndescription: Echoes\nmodel: { provider: ollama, name: m }\n---\nEcho.\n",
    )
    .unwrap();
    let state = format!("file://{}", dir.join("state").display());
    let agents = dir.join("agents").display().to_string();
    let workspace = dir.display().to_string();
    let mut argv = vec![
        "serve",
        "--state",
        &state,
        "--agents",
        &agents,
        "--workspace",
        &workspace,
    ];
    argv.extend_from_slice(extra);
    let cli = Cli::try_parse_from(argv).unwrap();
    router(app(&cli.args).await.unwrap())
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn post_json(uri: &str, body: &str) -> Request<Body> {
    Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_every_operation_in_it_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_app(dir.path(), &[]).await;
    let (status, doc) = call(
        &router,
        Request::get("/openapi.json").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            operations += 1;
            let uri = path
                .split('/')
                .map(|part| if part.starts_with('{') { "x" } else { part })
                .collect::<Vec<_>>()
                .join("/");
            let request = Request::builder()
                .method(method.clone())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let (status, body) = call(&router, request).await;
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert_ne!(
                body["error"]["code"], "no_route",
                "{method} {path} is documented but not routed"
            );
        }
    }
    // Every route of the API, the operations' own and the admin API's, is in the document.
    for (method, path) in [
        ("get", "/v1/agents"),
        ("get", "/v1/agents/{agent}"),
        ("post", "/v1/agents/{agent}/runs"),
        ("post", "/v1/agents/{agent}/sessions"),
        ("get", "/v1/agents/{agent}/sessions"),
        ("get", "/v1/sessions/{id}"),
        ("delete", "/v1/sessions/{id}"),
        ("get", "/v1/sessions/{id}/events"),
        ("post", "/v1/runs/{run_id}/cancel"),
        ("get", "/v1/sessions/{id}/artifacts"),
        ("get", "/v1/sessions/{id}/artifacts/{name}"),
        ("put", "/v1/sessions/{id}/artifacts/{name}"),
        ("delete", "/v1/sessions/{id}/artifacts/{name}"),
        ("get", "/v1/memory"),
        ("post", "/v1/memory"),
        ("delete", "/v1/memory/{id}"),
        ("put", "/admin/v1/tenants/{tenant}"),
        ("post", "/admin/v1/tenants/{tenant}/keys"),
        ("delete", "/admin/v1/tenants/{tenant}/keys/{id}"),
        ("put", "/admin/v1/tenants/{tenant}/agents/{agent}"),
        ("get", "/admin/v1/tenants/{tenant}/agents/{agent}"),
        ("delete", "/admin/v1/tenants/{tenant}/agents/{agent}"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/docs"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not documented"
        );
    }
    assert!(operations >= 27, "{operations} operations");
    let (status, body) = call(
        &router,
        Request::get("/v1/nothing").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("no_route"))
    );
}

#[tokio::test]
async fn bad_input_gets_the_right_status_and_names_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_app(dir.path(), &["--max-body", "1000"]).await;
    let (status, body) = call(
        &router,
        post_json("/v1/agents/echo/runs", r#"{"input": 42}"#),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_json");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("field `input`"),
        "{body}"
    );
    let (status, body) = call(
        &router,
        post_json(
            "/v1/agents/echo/runs",
            r#"{"input": "x", "sesion_id": "y"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sesion_id"),
        "{body}"
    );
    let (status, body) = call(&router, post_json("/v1/agents/echo/runs", "{\"input\": ")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
    let (status, body) = call(
        &router,
        post_json("/v1/agents/echo/runs", r#"{"input": "  "}"#),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    let huge = format!(r#"{{"input": "{}"}}"#, "x".repeat(5000));
    let (status, body) = call(&router, post_json("/v1/agents/echo/runs", &huge)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("too_large"))
    );
    let (status, _) = call(
        &router,
        post_json("/v1/agents/nobody/runs", r#"{"input": "x"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = call(
        &router,
        post_json(
            "/v1/agents/echo/runs",
            r#"{"input": "x", "session_id": "../../x"}"#,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = call(
        &router,
        Request::get("/v1/sessions/..%2F..%2Fetc")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) = call(
        &router,
        Request::get("/v1/memory").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid"))
    );
    // Every response names its request.
    let response = router
        .clone()
        .oneshot(
            Request::get("/healthz")
                .header("x-request-id", "abc-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = router
        .clone()
        .oneshot(Request::get("/healthz").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        response.headers()["x-request-id"].len(),
        36,
        "a generated UUID"
    );
}

#[tokio::test]
async fn with_an_admin_key_every_v1_route_needs_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let router = test_app(dir.path(), &["--admin-key", "secret"]).await;
    let (status, body) = call(
        &router,
        Request::get("/v1/agents").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (status, _) = call(
        &router,
        Request::get("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "operations need no key");
    let (status, _) = call(
        &router,
        Request::put("/admin/v1/tenants/t")
            .header("authorization", "Bearer secret")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}
