//! Command-line and environment configuration.

use std::path::PathBuf;

pub const USAGE: &str = "\
usage: bws-server [--host HOST] [--port PORT] [--static-dir DIR]

  --host HOST        address to bind (default 127.0.0.1, loopback only)
  --port PORT        port to bind; 0 picks a free one (default: $PORT, else 8080)
  --static-dir DIR   serve files from DIR at /
  -h, --help         show this help";

const DEFAULT_PORT: u16 = 8080;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub static_dir: Option<PathBuf>,
}

/// Outcome of reading the command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Config),
    Help,
}

/// Parses `args` (without the program name); `env_port` is `$PORT`, which only
/// applies when `--port` is absent.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_port: Option<String>,
) -> Result<Parsed, String> {
    let mut host = String::from("127.0.0.1");
    let mut port = None;
    let mut static_dir = None;

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
            "-h" | "--help" => return Ok(Parsed::Help),
            other => return Err(format!("unknown argument: {other}")),
        }
    }

    let port = match (port, env_port) {
        (Some(port), _) => port,
        (None, Some(env)) if !env.trim().is_empty() => {
            parse_port(env.trim()).map_err(|e| format!("PORT: {e}"))?
        }
        (None, _) => DEFAULT_PORT,
    };
    Ok(Parsed::Run(Config {
        host,
        port,
        static_dir,
    }))
}

fn parse_port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("invalid port {text:?} (expected 0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str], env: Option<&str>) -> Result<Parsed, String> {
        parse(args.iter().map(|s| s.to_string()), env.map(String::from))
    }

    fn config(host: &str, port: u16, dir: Option<&str>) -> Parsed {
        Parsed::Run(Config {
            host: host.into(),
            port,
            static_dir: dir.map(PathBuf::from),
        })
    }

    #[test]
    fn defaults() {
        assert_eq!(run(&[], None), Ok(config("127.0.0.1", 8080, None)));
    }

    #[test]
    fn env_port_applies_only_without_flag() {
        assert_eq!(run(&[], Some("9000")), Ok(config("127.0.0.1", 9000, None)));
        assert_eq!(
            run(&["--port", "0"], Some("9000")),
            Ok(config("127.0.0.1", 0, None))
        );
        assert!(run(&[], Some("nope")).is_err());
    }

    #[test]
    fn all_flags_in_both_spellings() {
        assert_eq!(
            run(
                &["--host", "0.0.0.0", "--port=1234", "--static-dir", "www"],
                None
            ),
            Ok(config("0.0.0.0", 1234, Some("www")))
        );
        assert_eq!(
            run(&["--static-dir=a=b"], None),
            Ok(config("127.0.0.1", 8080, Some("a=b")))
        );
    }

    #[test]
    fn errors_and_help() {
        assert!(run(&["--port"], None).is_err());
        assert!(run(&["--port", "70000"], None).is_err());
        assert!(run(&["--bogus"], None).is_err());
        assert_eq!(run(&["--help"], None), Ok(Parsed::Help));
    }
}
