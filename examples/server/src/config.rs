//! Command-line and environment configuration. Flags win over environment
//! variables; every knob has a default so the server runs with none set.

use std::path::PathBuf;
use std::time::Duration;

use crate::cors::OriginPolicy;
use crate::log::Level;

pub const USAGE: &str = "\
usage: bws-server [--host HOST] [--port PORT] [--static-dir DIR]
                  [--redis-url URL] [--workers N] [--cors-origin LIST]

  --host HOST         address to bind (default 127.0.0.1, loopback only)
  --port PORT         port to bind; 0 picks a free one (default: $PORT, else 8080)
  --static-dir DIR    serve files from DIR at /
  --redis-url URL     fan out through Redis (default: $REDIS_URL, else in memory)
  --workers N         runtime threads (default: $WORKERS, else one per core)
  --cors-origin LIST  allowed origins, comma-separated, or * (default: $CORS_ORIGIN, else *)
  -h, --help          show this help

Other settings come from the environment (see examples/server/README.md):
LOG_LEVEL, MAX_MESSAGE_BYTES, RATE_LIMIT_PER_SECOND, RATE_LIMIT_BURST,
HEARTBEAT_INTERVAL_MS, RESUME_TTL_MS, DEDUP_WINDOW_MS, PERSISTENT_CHANNELS,
HISTORY_SIZE, SEND_QUEUE_LIMIT, SHUTDOWN_GRACE_MS.";

const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub static_dir: Option<PathBuf>,
    pub redis_url: Option<String>,
    /// `None`: tokio's default, one thread per core.
    pub workers: Option<usize>,
    pub cors: OriginPolicy,
    pub log_level: Level,
    pub channels: ChannelLimits,
    /// How long shutdown waits for channel sockets to drain and close.
    pub shutdown_grace: Duration,
}

/// The knobs of the channels service (`/ws`, `POST /broadcast`).
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelLimits {
    /// Largest accepted WebSocket message and frame, and `POST /broadcast` body.
    pub max_message_bytes: usize,
    /// Token bucket per connection: refill rate and capacity, in client frames.
    pub rate_per_second: f64,
    pub rate_burst: f64,
    /// A ping goes out every interval; a peer silent for a whole interval
    /// after a ping is evicted.
    pub heartbeat_interval: Duration,
    /// How long a disconnected client's session waits to be resumed.
    pub resume_ttl: Duration,
    /// How long a `messageId` is remembered for deduplication.
    pub dedup_window: Duration,
    /// Channel names (exact, or `prefix*`) whose messages are kept for replay.
    pub persistent: Vec<String>,
    /// Messages kept per persistent channel.
    pub history_size: usize,
    /// Messages queued for one socket before it counts as a slow consumer.
    pub send_queue_limit: usize,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        Self {
            max_message_bytes: 64 * 1024,
            rate_per_second: 20.0,
            rate_burst: 40.0,
            heartbeat_interval: Duration::from_secs(30),
            resume_ttl: Duration::from_secs(120),
            dedup_window: Duration::from_secs(60),
            persistent: vec!["persistent:*".into()],
            history_size: 1000,
            send_queue_limit: 4096,
        }
    }
}

impl ChannelLimits {
    /// Whether messages on `channel` get an `id` and are kept for replay.
    pub fn is_persistent(&self, channel: &str) -> bool {
        self.persistent
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => channel.starts_with(prefix),
                None => channel == pattern,
            })
    }
}

/// Outcome of reading the command line.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Box<Config>),
    Help,
}

/// Parses `args` (without the program name); `env` looks up an environment
/// variable and is only consulted for settings no flag gave.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Parsed, String> {
    let mut host = String::from("127.0.0.1");
    let mut port = None;
    let mut static_dir = None;
    let mut redis_url = None;
    let mut workers = None;
    let mut cors = None;

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value.into())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--host" => host = value()?,
            "--port" => port = Some(parse_port(&value()?)?),
            "--static-dir" => static_dir = Some(PathBuf::from(value()?)),
            "--redis-url" => redis_url = Some(value()?),
            "--workers" => workers = Some(value()?),
            "--cors-origin" => cors = Some(value()?),
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument: {other}")),
        }
    }

    // Empty variables count as unset, as shells make them easy to leave behind.
    let var = |name: &str| {
        env(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let port = match (port, var("PORT")) {
        (Some(port), _) => port,
        (None, Some(env)) => parse_port(&env).map_err(|e| format!("PORT: {e}"))?,
        (None, None) => DEFAULT_PORT,
    };
    let workers = match workers.or_else(|| var("WORKERS")) {
        Some(text) => Some(positive::<usize>("WORKERS", &text)?),
        None => None,
    };
    let cors = OriginPolicy::parse(&cors.or_else(|| var("CORS_ORIGIN")).unwrap_or("*".into()))
        .map_err(|e| format!("CORS_ORIGIN: {e}"))?;
    let log_level = match var("LOG_LEVEL") {
        Some(text) => Level::parse(&text).map_err(|e| format!("LOG_LEVEL: {e}"))?,
        None => Level::Info,
    };

    let defaults = ChannelLimits::default();
    let millis = |name: &str, default: Duration| -> Result<Duration, String> {
        var(name).map_or(Ok(default), |text| {
            positive::<u64>(name, &text).map(Duration::from_millis)
        })
    };
    let number = |name: &str, default: f64| -> Result<f64, String> {
        var(name).map_or(Ok(default), |text| positive::<f64>(name, &text))
    };
    let count = |name: &str, default: usize| -> Result<usize, String> {
        var(name).map_or(Ok(default), |text| positive::<usize>(name, &text))
    };
    let channels = ChannelLimits {
        max_message_bytes: count("MAX_MESSAGE_BYTES", defaults.max_message_bytes)?,
        rate_per_second: number("RATE_LIMIT_PER_SECOND", defaults.rate_per_second)?,
        rate_burst: number("RATE_LIMIT_BURST", defaults.rate_burst)?,
        heartbeat_interval: millis("HEARTBEAT_INTERVAL_MS", defaults.heartbeat_interval)?,
        resume_ttl: millis("RESUME_TTL_MS", defaults.resume_ttl)?,
        dedup_window: millis("DEDUP_WINDOW_MS", defaults.dedup_window)?,
        persistent: match var("PERSISTENT_CHANNELS") {
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            None => defaults.persistent,
        },
        history_size: count("HISTORY_SIZE", defaults.history_size)?,
        send_queue_limit: count("SEND_QUEUE_LIMIT", defaults.send_queue_limit)?,
    };
    let shutdown_grace = millis("SHUTDOWN_GRACE_MS", Duration::from_secs(5))?;

    Ok(Parsed::Run(Box::new(Config {
        host,
        port,
        static_dir,
        redis_url: redis_url
            .filter(|u| !u.is_empty())
            .or_else(|| var("REDIS_URL")),
        workers,
        cors,
        log_level,
        channels,
        shutdown_grace,
    })))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("invalid port {text:?} (expected 0-65535)"))
}

/// A number greater than zero; zero would disable a limit by accident.
fn positive<T: std::str::FromStr + PartialOrd + Default>(
    name: &str,
    text: &str,
) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err(format!("{name}: expected a number above 0, got {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, String> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse(args.iter().map(|s| s.to_string()), |name| {
            env.get(name).cloned()
        })
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        match run(args, env) {
            Ok(Parsed::Run(config)) => *config,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[], &[]);
        assert_eq!(
            (c.host.as_str(), c.port, c.static_dir),
            ("127.0.0.1", 8080, None)
        );
        assert_eq!((c.redis_url, c.workers), (None, None));
        assert_eq!(c.cors, OriginPolicy::Any);
        assert_eq!(c.channels, ChannelLimits::default());
    }

    #[test]
    fn env_applies_only_without_flag() {
        assert_eq!(config(&[], &[("PORT", "9000")]).port, 9000);
        assert_eq!(config(&["--port", "0"], &[("PORT", "9000")]).port, 0);
        assert!(run(&[], &[("PORT", "nope")]).is_err());
        let env = [
            ("WORKERS", "3"),
            ("REDIS_URL", "redis://a"),
            ("CORS_ORIGIN", "*"),
        ];
        let c = config(&["--workers=2", "--redis-url", "redis://b"], &env);
        assert_eq!(
            (c.workers, c.redis_url.as_deref()),
            (Some(2), Some("redis://b"))
        );
        let c = config(&[], &env);
        assert_eq!(
            (c.workers, c.redis_url.as_deref()),
            (Some(3), Some("redis://a"))
        );
        let c = config(&["--cors-origin", "http://a.test"], &env);
        assert_eq!(c.cors, OriginPolicy::List(vec!["http://a.test".into()]));
    }

    #[test]
    fn all_path_flags_in_both_spellings() {
        let c = config(
            &["--host", "0.0.0.0", "--port=1234", "--static-dir", "www"],
            &[],
        );
        assert_eq!((c.host.as_str(), c.port), ("0.0.0.0", 1234));
        assert_eq!(c.static_dir, Some(PathBuf::from("www")));
        let c = config(&["--static-dir=a=b"], &[]);
        assert_eq!(c.static_dir, Some(PathBuf::from("a=b")));
    }

    #[test]
    fn limits_from_env() {
        let c = config(
            &[],
            &[
                ("MAX_MESSAGE_BYTES", "1024"),
                ("RATE_LIMIT_PER_SECOND", "2.5"),
                ("HEARTBEAT_INTERVAL_MS", "100"),
                ("PERSISTENT_CHANNELS", "chat, log:*,"),
                ("SHUTDOWN_GRACE_MS", "250"),
            ],
        );
        assert_eq!(c.channels.max_message_bytes, 1024);
        assert_eq!(c.channels.rate_per_second, 2.5);
        assert_eq!(c.channels.heartbeat_interval, Duration::from_millis(100));
        assert_eq!(c.channels.persistent, ["chat", "log:*"]);
        assert_eq!(c.shutdown_grace, Duration::from_millis(250));
        assert!(c.channels.is_persistent("chat"));
        assert!(c.channels.is_persistent("log:x"));
        assert!(!c.channels.is_persistent("chat2"));
        for bad in ["0", "-1", "x"] {
            assert!(run(&[], &[("RATE_LIMIT_BURST", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_and_help() {
        assert!(run(&["--port"], &[]).is_err());
        assert!(run(&["--port", "70000"], &[]).is_err());
        assert!(run(&["--bogus"], &[]).is_err());
        assert!(run(&["--workers", "0"], &[]).is_err());
        assert!(run(&[], &[("LOG_LEVEL", "loud")]).is_err());
        assert_eq!(run(&["--help"], &[]), Ok(Parsed::Help));
    }
}
