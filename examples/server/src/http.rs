//! HTTP routing: health/stats/broadcast endpoints, the WebSocket routes, and
//! optional static files for browser tests and the demo.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::Message;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::map_response;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use hyper::upgrade::OnUpgrade;
use serde::Deserialize;
use tower_http::services::ServeDir;

use crate::deflate;
use crate::echo::{self, EchoQuery};
use crate::hub::Hub;
use crate::stats::Stats;

/// `POST /broadcast` bodies may be as large as WebSocket messages in tests.
const MAX_BROADCAST_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub stats: Arc<Stats>,
    pub hub: Arc<Hub>,
    pub static_dir: Option<ServeDir>,
}

pub fn router(state: AppState) -> Router {
    // Test pages are often served from another origin (e.g. a wasm test
    // runner), so the JSON endpoints allow any origin.
    let api = Router::new()
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route(
            "/broadcast",
            post(broadcast)
                .options(preflight)
                .layer(DefaultBodyLimit::max(MAX_BROADCAST_BYTES)),
        )
        .layer(map_response(allow_any_origin));

    Router::new()
        .merge(api)
        .route("/echo", any(echo_endpoint))
        .route("/", any(root))
        .fallback(static_files)
        .with_state(state)
}

async fn allow_any_origin(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

async fn stats(State(state): State<AppState>) -> impl IntoResponse {
    Json(state.stats.snapshot())
}

#[derive(Debug, Default, Deserialize)]
struct BroadcastQuery {
    binary: Option<String>,
}

async fn broadcast(
    State(state): State<AppState>,
    Query(query): Query<BroadcastQuery>,
    body: Bytes,
) -> Response {
    let message = if matches!(query.binary.as_deref(), Some("1" | "true")) {
        Message::Binary(body)
    } else {
        match String::from_utf8(body.into()) {
            Ok(text) => Message::text(text),
            Err(_) => {
                return (StatusCode::BAD_REQUEST, "body is not valid UTF-8").into_response();
            }
        }
    };
    let delivered = state.hub.broadcast(&message);
    Json(serde_json::json!({ "delivered": delivered })).into_response()
}

/// Lets browsers POST non-"simple" bodies (e.g. `application/octet-stream`).
async fn preflight(headers: HeaderMap) -> Response {
    let allow_headers = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("content-type"));
    (
        StatusCode::NO_CONTENT,
        [
            (
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            ),
            (header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers),
        ],
    )
        .into_response()
}

async fn echo_endpoint(
    State(state): State<AppState>,
    Query(query): Query<EchoQuery>,
    request: Request,
) -> Response {
    match upgrade(&state, &query, request).await {
        Ok(response) => response,
        Err((rejection, _)) => rejection.into_response(),
    }
}

/// `/` is an alias of `/echo` for WebSocket upgrades and otherwise serves the
/// static directory (e.g. `index.html`).
async fn root(
    State(state): State<AppState>,
    Query(query): Query<EchoQuery>,
    request: Request,
) -> Response {
    match upgrade(&state, &query, request).await {
        Ok(response) => response,
        // A request that asked for a WebSocket deserves the real rejection
        // reason, not an HTML page.
        Err((rejection, request)) if wants_websocket(request.headers()) => {
            rejection.into_response()
        }
        Err((_, request)) => static_files(State(state), request).await,
    }
}

/// Upgrades to the echo socket after axum's own handshake checks: with
/// permessage-deflate (`deflate.rs`) when `?deflate=1` asks for it and the
/// client offers it, else with axum's WebSocket. Requests that are not valid
/// upgrades come back untouched with the reason.
async fn upgrade(
    state: &AppState,
    query: &EchoQuery,
    request: Request,
) -> Result<Response, (WebSocketUpgradeRejection, Request)> {
    let (mut parts, body) = request.into_parts();
    // The extractor takes hyper's upgrade handle; clones share one channel,
    // so keep one for deflate.rs, which drives the upgraded IO itself.
    let on_upgrade = parts.extensions.get::<OnUpgrade>().cloned();
    let ws = match WebSocketUpgrade::from_request_parts(&mut parts, state).await {
        Ok(ws) => ws,
        Err(rejection) => return Err((rejection, Request::from_parts(parts, body))),
    };
    let (stats, hub) = (Arc::clone(&state.stats), Arc::clone(&state.hub));
    let agreement = query
        .deflate_requested()
        .then(|| deflate::negotiate(&parts.headers))
        .flatten();
    Ok(match (agreement, on_upgrade) {
        // `ws` is dropped unused, leaving the upgrade to deflate.rs.
        (Some(agreement), Some(on_upgrade)) => {
            deflate::accept(stats, hub, query, &parts.headers, on_upgrade, agreement)
        }
        _ => echo::accept(stats, hub, query, &parts.headers, ws),
    })
}

fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
}

async fn static_files(State(state): State<AppState>, request: Request) -> Response {
    let Some(mut dir) = state.static_dir else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = match dir.try_call(request).await {
        Ok(response) => response.map(Body::new),
        Err(err) => return (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    };
    // Tests rebuild wasm/js between runs; a cached copy would hide changes.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
