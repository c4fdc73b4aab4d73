//! Configuration, parsed by clap: a flag wins over its environment variable,
//! which wins over the default, and every knob has a default so the server
//! runs with none set.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, CommandFactory, FromArgMatches, Parser};

use crate::cors::OriginPolicy;
use crate::log::{self, Level};

#[derive(Debug, Clone, PartialEq, Parser)]
#[command(
    name = "bws-server",
    about = "Broadcast service and test server of broadcast-websocket",
    after_help = "Flags win over environment variables; empty variables count as unset. \
                  See examples/server/README.md."
)]
pub struct Config {
    /// Address to bind (loopback only by default; use 0.0.0.0 in a container)
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to bind; 0 picks a free one
    #[arg(long, env = "PORT", default_value_t = 8080, value_parser = trimmed::<u16>)]
    pub port: u16,
    /// Serve files from this directory at /
    #[arg(long)]
    pub static_dir: Option<PathBuf>,
    /// Redis for multi-instance fan-out, history and parked sessions [default: in memory]
    #[arg(long, env = "REDIS_URL", value_parser = trimmed::<String>)]
    pub redis_url: Option<String>,
    /// Runtime threads [default: one per core]
    #[arg(long, env = "WORKERS", value_parser = positive::<usize>)]
    pub workers: Option<usize>,
    /// Allowed origins: * or a comma-separated list of scheme://host[:port]
    #[arg(long = "cors-origin", env = "CORS_ORIGIN", default_value = "*", value_parser = OriginPolicy::parse)]
    pub cors: OriginPolicy,
    /// error, warn, info or debug
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = log::parse_level)]
    pub log_level: Level,
    #[command(flatten)]
    pub channels: ChannelLimits,
    /// How long shutdown waits for broadcasts in flight and for channel sockets to drain, in ms
    #[arg(long = "shutdown-grace-ms", env = "SHUTDOWN_GRACE_MS", default_value = "5000", value_parser = millis)]
    pub shutdown_grace: Duration,
}

/// The knobs of the channels service (`/ws`, `POST /broadcast`).
#[derive(Debug, Clone, PartialEq, Args)]
pub struct ChannelLimits {
    /// Largest WebSocket message/frame on /ws and largest POST /broadcast body, in bytes
    #[arg(long = "max-message-bytes", env = "MAX_MESSAGE_BYTES", default_value_t = 65536, value_parser = positive::<usize>)]
    pub max_message_bytes: usize,
    /// Token bucket per connection: refill rate, in client frames per second
    #[arg(long = "rate-limit-per-second", env = "RATE_LIMIT_PER_SECOND", default_value_t = 20.0, value_parser = positive::<f64>)]
    pub rate_per_second: f64,
    /// Token bucket capacity, in client frames
    #[arg(long = "rate-limit-burst", env = "RATE_LIMIT_BURST", default_value_t = 40.0, value_parser = positive::<f64>)]
    pub rate_burst: f64,
    /// Ping interval in ms; a peer silent for a whole interval after a ping is evicted
    #[arg(long = "heartbeat-interval-ms", env = "HEARTBEAT_INTERVAL_MS", default_value = "30000", value_parser = millis)]
    pub heartbeat_interval: Duration,
    /// How long a disconnected client's session waits to be resumed, in ms
    #[arg(long = "resume-ttl-ms", env = "RESUME_TTL_MS", default_value = "120000", value_parser = millis)]
    pub resume_ttl: Duration,
    /// How long a messageId is remembered per client, in ms
    #[arg(long = "dedup-window-ms", env = "DEDUP_WINDOW_MS", default_value = "60000", value_parser = millis)]
    pub dedup_window: Duration,
    /// Comma-separated channel names or prefix* patterns whose messages are kept
    #[arg(long = "persistent-channels", env = "PERSISTENT_CHANNELS", default_value = "persistent:*", value_parser = patterns)]
    pub persistent: Patterns,
    /// Messages kept per persistent channel
    #[arg(long = "history-size", env = "HISTORY_SIZE", default_value_t = 1000, value_parser = positive::<usize>)]
    pub history_size: usize,
    /// Messages queued for one socket before it is closed as a slow consumer
    #[arg(long = "send-queue-limit", env = "SEND_QUEUE_LIMIT", default_value_t = 4096, value_parser = positive::<usize>)]
    pub send_queue_limit: usize,
}

/// Channel names (exact, or `prefix*`) whose messages are kept for replay.
/// A newtype, so clap takes the whole list as one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Patterns(pub Vec<String>);

impl Default for ChannelLimits {
    /// The defaults declared above, without reading flags or the environment.
    fn default() -> Self {
        let matches = ChannelLimits::augment_args(clap::Command::new("defaults"))
            .mut_args(|arg| arg.env(None))
            .get_matches_from(["defaults"]);
        Self::from_arg_matches(&matches).expect("the defaults parse")
    }
}

impl ChannelLimits {
    /// Whether messages on `channel` get an `id` and are kept for replay.
    pub fn is_persistent(&self, channel: &str) -> bool {
        self.persistent
            .0
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => channel.starts_with(prefix),
                None => channel == pattern,
            })
    }
}

impl Config {
    /// Parses the process's arguments and environment; on `--help` or a bad
    /// value clap prints the message and exits (status 0 and 2).
    pub fn from_env() -> Self {
        Self::parse_args(std::env::args_os())
    }

    /// Parses `args` (program name first) with the process environment.
    pub fn parse_args<I>(args: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString> + Clone,
    {
        Self::try_parse_args(args).unwrap_or_else(|err| err.exit())
    }

    pub fn try_parse_args<I>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator,
        I::Item: Into<std::ffi::OsString> + Clone,
    {
        let matches = without_blank_env(Self::command()).try_get_matches_from(args)?;
        let mut config = Self::from_arg_matches(&matches)?;
        // `--redis-url ''` asks for the in-memory mode.
        config.redis_url = config.redis_url.filter(|url| !url.is_empty());
        Ok(config)
    }
}

/// Empty variables count as unset, as shells make them easy to leave behind;
/// clap would otherwise parse "" (clap reads each variable when the command
/// is built, so dropping the binding here is enough).
fn without_blank_env(command: clap::Command) -> clap::Command {
    command.mut_args(|arg| {
        let blank = arg
            .get_env()
            .and_then(std::env::var_os)
            .is_some_and(|value| value.to_string_lossy().trim().is_empty());
        if blank {
            arg.env(None)
        } else {
            arg
        }
    })
}

/// Any `FromStr` value, ignoring surrounding blanks.
fn trimmed<T: std::str::FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.trim().parse().map_err(|e| format!("{e}"))
}

/// A number greater than zero; zero would disable a limit by accident.
fn positive<T: std::str::FromStr + PartialOrd + Default>(text: &str) -> Result<T, String> {
    match text.trim().parse::<T>() {
        Ok(n) if n > T::default() => Ok(n),
        _ => Err("expected a number above 0".into()),
    }
}

fn millis(text: &str) -> Result<Duration, String> {
    positive::<u64>(text).map(Duration::from_millis)
}

fn patterns(text: &str) -> Result<Patterns, String> {
    Ok(Patterns(
        text.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(String::from)
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Every variable the server reads; tests set them on the process, so
    /// they run one at a time and clear all of them first.
    const VARIABLES: [&str; 15] = [
        "PORT",
        "REDIS_URL",
        "WORKERS",
        "CORS_ORIGIN",
        "LOG_LEVEL",
        "MAX_MESSAGE_BYTES",
        "RATE_LIMIT_PER_SECOND",
        "RATE_LIMIT_BURST",
        "HEARTBEAT_INTERVAL_MS",
        "RESUME_TTL_MS",
        "DEDUP_WINDOW_MS",
        "PERSISTENT_CHANNELS",
        "HISTORY_SIZE",
        "SEND_QUEUE_LIMIT",
        "SHUTDOWN_GRACE_MS",
    ];
    static ENV: Mutex<()> = Mutex::new(());

    fn run(args: &[&str], env: &[(&str, &str)]) -> Result<Config, clap::Error> {
        let _guard = ENV.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for name in VARIABLES {
            std::env::remove_var(name);
        }
        for (name, value) in env {
            std::env::set_var(name, value);
        }
        let parsed =
            Config::try_parse_args(std::iter::once("bws-server").chain(args.iter().copied()));
        for (name, _) in env {
            std::env::remove_var(name);
        }
        parsed
    }

    fn config(args: &[&str], env: &[(&str, &str)]) -> Config {
        run(args, env).unwrap_or_else(|e| panic!("expected a config, got {e}"))
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
    fn empty_and_padded_variables() {
        let c = config(&[], &[("PORT", " "), ("REDIS_URL", ""), ("WORKERS", " 4 ")]);
        assert_eq!((c.port, c.redis_url, c.workers), (8080, None, Some(4)));
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
        assert_eq!(c.channels.persistent.0, ["chat", "log:*"]);
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
        let help = run(&["--help"], &[]).unwrap_err();
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
    }
}
