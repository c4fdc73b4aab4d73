//! Cross-origin policy, shared by the HTTP API (tower-http's `CorsLayer`:
//! CORS response headers and preflights) and the channels WebSocket (Origin
//! check at upgrade time: browsers send Origin on WebSocket handshakes but
//! apply no CORS to them, so the server itself must refuse pages it does not
//! trust).

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginPolicy {
    /// `*`: every origin (the default, fit for a local test server).
    Any,
    /// Only these origins, compared exactly (scheme://host[:port]).
    List(Vec<String>),
}

impl OriginPolicy {
    /// `*` or a comma-separated list of origins.
    pub fn parse(text: &str) -> Result<Self, String> {
        let origins: Vec<String> = text
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        if origins.is_empty() || origins.iter().any(|o| o == "*") {
            return if origins.len() <= 1 {
                Ok(Self::Any)
            } else {
                Err("`*` cannot be combined with other origins".into())
            };
        }
        match origins.iter().find(|o| !o.contains("://")) {
            Some(bad) => Err(format!(
                "{bad:?} is not an origin (expected scheme://host[:port])"
            )),
            None => Ok(Self::List(origins)),
        }
    }

    /// Whether a request carrying `origin` (if any) may proceed. Requests
    /// without an Origin header come from non-browser clients, which an
    /// Origin check cannot constrain anyway, so they pass.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        match (self, origin) {
            (Self::Any, _) | (_, None) => true,
            (Self::List(list), Some(origin)) => list.iter().any(|o| o == origin),
        }
    }

    /// The CORS headers for the JSON endpoints. Disallowed origins get none
    /// (the browser then blocks the response). Lets browsers POST
    /// non-"simple" bodies (e.g. `application/json`).
    pub fn cors_layer(&self) -> CorsLayer {
        let layer = CorsLayer::new()
            .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
            .allow_headers(AllowHeaders::mirror_request())
            .max_age(Duration::from_secs(600));
        match self {
            Self::Any => layer.allow_origin(AllowOrigin::any()).vary([]),
            Self::List(origins) => layer
                .allow_origin(AllowOrigin::list(
                    origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()),
                ))
                // The answer depends on the Origin header: caches must key on it.
                .vary([header::ORIGIN]),
        }
    }

    /// Whether CORS grants `origin` access: a list grants only the origins
    /// on it, so a request without an Origin gets nothing from it.
    fn grants(&self, origin: Option<&str>) -> bool {
        match self {
            Self::Any => true,
            Self::List(_) => origin.is_some() && self.allows(origin),
        }
    }
}

pub fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Wraps [`OriginPolicy::cors_layer`], which answers every `OPTIONS` itself
/// with 200: preflights get 204, and 403 with a JSON error when the origin
/// is not granted.
pub async fn preflight(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::OPTIONS {
        return next.run(request).await;
    }
    if !policy.grants(request_origin(request.headers())) {
        return crate::http::json_error(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "origin not allowed",
        );
    }
    let mut response = next.run(request).await;
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_policies() {
        assert_eq!(OriginPolicy::parse("*"), Ok(OriginPolicy::Any));
        assert_eq!(OriginPolicy::parse(" "), Ok(OriginPolicy::Any));
        assert_eq!(
            OriginPolicy::parse("https://a.test, http://b.test:8080/"),
            Ok(OriginPolicy::List(vec![
                "https://a.test".into(),
                "http://b.test:8080".into()
            ]))
        );
        assert!(OriginPolicy::parse("*, https://a.test").is_err());
        assert!(OriginPolicy::parse("a.test").is_err());
    }

    #[test]
    fn origin_checks() {
        let list = OriginPolicy::parse("https://a.test").unwrap();
        assert!(list.allows(Some("https://a.test")));
        assert!(!list.allows(Some("https://evil.test")));
        assert!(list.allows(None));
        assert!(OriginPolicy::Any.allows(Some("https://evil.test")));
        // The header values themselves (the origin, `*`, none) are checked
        // through CorsLayer end to end in tests/channels.rs and tests/server.rs.
        assert!(!list.grants(Some("https://evil.test")));
        assert!(list.grants(Some("https://a.test")));
        assert!(
            !list.grants(None),
            "a list grants CORS to no Origin-less request"
        );
        assert!(OriginPolicy::Any.grants(None));
    }
}
