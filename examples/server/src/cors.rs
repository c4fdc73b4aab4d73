//! Cross-origin policy, shared by the HTTP API (CORS response headers and
//! preflights) and the channels WebSocket (Origin check at upgrade time:
//! browsers send Origin on WebSocket handshakes but apply no CORS to them, so
//! the server itself must refuse pages it does not trust).

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

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

    /// The `Access-Control-Allow-Origin` value for a request from `origin`.
    fn allow_origin(&self, origin: Option<&str>) -> Option<HeaderValue> {
        match (self, origin) {
            (Self::Any, _) => Some(HeaderValue::from_static("*")),
            (Self::List(_), Some(origin)) if self.allows(Some(origin)) => {
                HeaderValue::from_str(origin).ok()
            }
            (Self::List(_), _) => None,
        }
    }
}

pub fn request_origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// Middleware for the JSON endpoints: answers preflights and adds the CORS
/// headers the policy grants. Disallowed origins get no CORS headers (the
/// browser then blocks the response), and a preflight from one gets 403.
pub async fn middleware(
    State(policy): State<OriginPolicy>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request_origin(request.headers()).map(str::to_owned);
    let allow = policy.allow_origin(origin.as_deref());
    let mut response = if request.method() == Method::OPTIONS {
        preflight(request.headers(), allow.is_some())
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    if let Some(allow) = allow {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    }
    if matches!(policy, OriginPolicy::List(_)) {
        // The answer depends on the Origin header: caches must key on it.
        headers.append(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// Lets browsers POST non-"simple" bodies (e.g. `application/json`).
fn preflight(headers: &HeaderMap, allowed: bool) -> Response {
    if !allowed {
        return crate::http::json_error(
            StatusCode::FORBIDDEN,
            "forbidden_origin",
            "origin not allowed",
        );
    }
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
            (
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            ),
        ],
    )
        .into_response()
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
        assert_eq!(list.allow_origin(Some("https://evil.test")), None);
        assert_eq!(
            list.allow_origin(Some("https://a.test")),
            Some(HeaderValue::from_static("https://a.test"))
        );
        assert_eq!(
            OriginPolicy::Any.allow_origin(None),
            Some(HeaderValue::from_static("*"))
        );
    }
}
