//! HTTP routing: health/stats/broadcast endpoints, the channels WebSocket
//! (`/ws`), the test echo WebSocket (`/echo`, `/`) with its raw broadcast,
//! and optional static files for browser tests and the demo.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::Message;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use axum::{Json, Router};
use hyper::upgrade::OnUpgrade;
use serde::{Deserialize, Serialize};
use tower_http::services::ServeDir;

use crate::channels::routes::{self as channel_routes, Channels};
use crate::cors;
use crate::deflate;
use crate::echo::{self, EchoQuery};
use crate::hub::Hub;
use crate::stats::{Snapshot, Stats};

/// `POST /echo/broadcast` bodies may be as large as echo messages in tests.
const MAX_ECHO_BROADCAST_BYTES: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    /// The echo endpoints' counters (the top-level `/stats` fields).
    pub stats: Arc<Stats>,
    pub hub: Arc<Hub>,
    pub channels: Channels,
    pub static_dir: Option<ServeDir>,
}

pub fn router(state: AppState) -> Router {
    // CORS_ORIGIN decides which pages may read these (`*` by default: test
    // pages are often served from another origin, e.g. a wasm test runner).
    let post_limit = state.channels.broker.limits.max_message_bytes;
    let api = Router::new()
        .route("/health", get(health))
        .route("/stats", get(stats))
        .route(
            "/broadcast",
            post(channel_routes::broadcast).layer(DefaultBodyLimit::max(post_limit)),
        )
        .route(
            "/echo/broadcast",
            post(echo_broadcast).layer(DefaultBodyLimit::max(MAX_ECHO_BROADCAST_BYTES)),
        )
        .layer(state.channels.origins.cors_layer())
        .layer(from_fn_with_state(
            state.channels.origins.clone(),
            cors::preflight,
        ));

    Router::new()
        .merge(api)
        .route("/ws", get(channel_routes::websocket))
        .route("/echo", any(echo_endpoint))
        .route("/", any(root))
        .fallback(static_files)
        .with_state(state)
}

/// The body of every 4xx/5xx the API answers itself.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": code, "message": message })),
    )
        .into_response()
}

async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// `GET /stats`: this instance's figures. The top-level counters are the
/// echo endpoints' (browser tests poll `connections`); `channels` is the
/// broadcast service's.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StatsBody {
    #[serde(flatten)]
    echo: Snapshot,
    instance_id: String,
    mode: &'static str,
    channels: ChannelStats,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ChannelStats {
    connections: u64,
    total_connections: u64,
    /// Frames received from `/ws` clients.
    messages_in: u64,
    /// Frames sent to `/ws` clients (messages, acks, errors, pings).
    messages_out: u64,
    /// Broadcasts this instance accepted, from WebSockets and HTTP.
    broadcasts: u64,
    /// `message` frames written to this instance's sockets.
    delivered: u64,
    subscriptions: std::collections::BTreeMap<String, usize>,
}

async fn stats(State(state): State<AppState>) -> impl IntoResponse {
    let channels = &state.channels;
    let sockets = channels.stats.snapshot();
    let broker = &channels.broker;
    let relaxed = std::sync::atomic::Ordering::Relaxed;
    Json(StatsBody {
        echo: state.stats.snapshot(),
        instance_id: channels.instance.to_string(),
        mode: broker.mode(),
        channels: ChannelStats {
            connections: sockets.connections,
            total_connections: sockets.total_connections,
            messages_in: sockets.messages_in,
            messages_out: sockets.messages_out,
            broadcasts: broker.broadcasts.load(relaxed),
            delivered: broker.delivered.load(relaxed),
            subscriptions: broker.hub.subscriptions(),
        },
    })
}

#[derive(Debug, Default, Deserialize)]
struct BroadcastQuery {
    binary: Option<String>,
}

/// `POST /echo/broadcast`: the raw body to every echo socket (test helper).
async fn echo_broadcast(
    State(state): State<AppState>,
    Query(query): Query<BroadcastQuery>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            return json_error(rejection.status(), "bad_request", &rejection.body_text())
        }
    };
    let message = if matches!(query.binary.as_deref(), Some("1" | "true")) {
        Message::Binary(body)
    } else {
        match String::from_utf8(body.into()) {
            Ok(text) => Message::text(text),
            Err(_) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "body is not valid UTF-8",
                );
            }
        }
    };
    let delivered = state.hub.broadcast(&message);
    Json(serde_json::json!({ "delivered": delivered })).into_response()
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
