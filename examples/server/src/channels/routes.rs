//! HTTP side of the channels service: the `/ws` upgrade (origin and client
//! id checks before any socket exists) and `POST /broadcast`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::broker::Broker;
use super::protocol::{self, validate_name, ErrorCode, ProtocolError};
use super::session::{self, Context, Phase};
use crate::cors::{request_origin, OriginPolicy};
use crate::http::{json_error, AppState};
use crate::stats::Stats;

/// Everything the channels endpoints share.
#[derive(Debug, Clone)]
pub struct Channels {
    pub broker: Arc<Broker>,
    /// `/ws` connections (the echo endpoints count theirs apart).
    pub stats: Arc<Stats>,
    pub phase: Arc<watch::Sender<Phase>>,
    pub origins: OriginPolicy,
    pub instance: Arc<str>,
}

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    #[serde(rename = "clientId")]
    client_id: Option<String>,
}

pub async fn websocket(
    State(state): State<AppState>,
    query: Result<Query<WsQuery>, QueryRejection>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let channels = state.channels;
    let origin = request_origin(&headers);
    if !channels.origins.allows(origin) {
        tracing::info!("refused a WebSocket from origin {origin:?}");
        return json_error(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "this origin may not connect",
        );
    }
    let client_id = match query {
        Ok(Query(WsQuery { client_id })) => client_id,
        Err(rejection) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &rejection.body_text(),
            )
        }
    };
    if client_id
        .as_deref()
        .is_some_and(|id| validate_name(id).is_err())
    {
        let message = format!(
            "clientId must be 1-{} bytes without control characters",
            protocol::MAX_NAME_BYTES
        );
        return json_error(StatusCode::BAD_REQUEST, "bad_request", &message);
    }
    if *channels.phase.borrow() != Phase::Running {
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        );
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    let limit = channels.broker.limits.max_message_bytes;
    let context = Context {
        broker: channels.broker,
        stats: channels.stats,
        phase: channels.phase.subscribe(),
        client_id,
    };
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| session::run(socket, context))
}

#[derive(Debug, Serialize)]
struct Published {
    ok: bool,
    channel: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    timestamp: u64,
}

/// `POST /broadcast {"channel", "data"}`: the same path as a WebSocket
/// broadcast. The body limit (MAX_MESSAGE_BYTES) sits on the route.
pub async fn broadcast(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "too_large"
            } else {
                "bad_request"
            };
            return json_error(status, code, &rejection.body_text());
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return json_error(StatusCode::BAD_REQUEST, "bad_json", "body is not UTF-8");
    };
    let (channel, data) = match protocol::parse_post(text) {
        Ok(parsed) => parsed,
        Err(error) => return refusal(&error),
    };
    match state.channels.broker.publish(&channel, data).await {
        Ok(accepted) => Json(Published {
            ok: true,
            channel,
            id: accepted.id.map(|id| id.to_string()),
            timestamp: accepted.timestamp,
        })
        .into_response(),
        Err(error) => refusal(&error),
    }
}

fn refusal(error: &ProtocolError) -> Response {
    let status = match error.code {
        ErrorCode::ShuttingDown | ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let code = serde_json::to_value(error.code)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    json_error(status, &code, &error.message)
}
