//! Logging through `tracing` on stderr (stdout carries only the "listening
//! on" line harnesses parse). Log lines name events and counts, never message
//! bodies or credentials: Redis URLs are shown through [`redact_url`], and
//! `tests/server.rs` checks both on a running server.

pub use tracing::Level;

/// `LOG_LEVEL`: `error`, `warn` (or `warning`), `info`, `debug` (or `trace`).
pub fn parse_level(text: &str) -> Result<Level, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "error" => Ok(Level::ERROR),
        "warn" | "warning" => Ok(Level::WARN),
        "info" => Ok(Level::INFO),
        // The server logs nothing finer than debug; `trace` must not turn on
        // the dependencies' tracing.
        "debug" | "trace" => Ok(Level::DEBUG),
        other => Err(format!(
            "unknown level {other:?} (error, warn, info, debug)"
        )),
    }
}

/// Installs the stderr subscriber for the whole process.
pub fn init(level: Level) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .init();
}

/// `redis://user:secret@host:6379/0` → `redis://user:***@host:6379/0`, so a
/// URL can be logged without its password.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable url>".into();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            // A lone `secret@host` is a password too (redis://:pw@ or redis://pw@).
            let user = if userinfo.contains(':') { user } else { "" };
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => format!("{scheme}://{authority}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_passwords() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(redact_url("redis://u:p%40ss@h:1/2"), "redis://u:***@h:1/2");
        assert_eq!(redact_url("rediss://:pw@h"), "rediss://:***@h");
        assert_eq!(redact_url("redis://pw@h/0"), "redis://:***@h/0");
        assert_eq!(redact_url("garbage"), "<unparsable url>");
    }

    #[test]
    fn levels_parse_and_order() {
        assert_eq!(parse_level("WARN"), Ok(Level::WARN));
        assert!(parse_level("loud").is_err());
        // tracing orders by verbosity: ERROR is the least verbose.
        assert!(Level::ERROR < Level::DEBUG);
    }
}
