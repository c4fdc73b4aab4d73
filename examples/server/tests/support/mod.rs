//! Test harness: runs the real `bws-server` binary on a free port and offers
//! small WebSocket and raw HTTP/1.1 helpers to talk to it.

#![allow(dead_code)] // Each test binary uses a different subset.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for any single expected event, so a bug fails the test
/// instead of hanging it.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// The `Sec-WebSocket-Key` raw upgrades send: RFC 6455's example, whose
/// `Sec-WebSocket-Accept` is [`RAW_UPGRADE_ACCEPT`].
pub const RAW_UPGRADE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const RAW_UPGRADE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A running server; killed and reaped on drop, including when a test panics.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    // Kept open so late writes to stdout never hit a closed pipe.
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    pub async fn start_with(extra_args: &[&str]) -> Self {
        Self::start_env(extra_args, &[]).await
    }

    /// Starts with extra flags and environment variables. Logging is kept to
    /// warnings unless `env` says otherwise, so test output stays readable.
    pub async fn start_env(extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::spawn(extra_args, env, Stdio::inherit()).await
    }

    /// Starts with `env` and collects what the server logs on stderr, which
    /// [`Logs::text`] returns once the process has exited.
    pub async fn start_logged(env: &[(&str, &str)]) -> (Self, Logs) {
        let mut server = Self::spawn(&[], env, Stdio::piped()).await;
        let stderr = server.child.as_mut().and_then(|c| c.stderr.take());
        let mut stderr = stderr.expect("piped stderr");
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut stderr, &mut text).expect("read stderr");
            text
        });
        (server, Logs(reader))
    }

    async fn spawn(extra_args: &[&str], env: &[(&str, &str)], stderr: Stdio) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bws-server"))
            .args(["--port", "0"])
            .args(extra_args)
            .env("LOG_LEVEL", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn bws-server");
        let stdout = child.stdout.take().expect("piped stdout");
        // Reading the line blocks; do it off the async runtime with a deadline.
        let read = tokio::task::spawn_blocking(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            reader.read_line(&mut line).expect("read stdout");
            (reader, line)
        });
        let (reader, line) = match timeout(DEADLINE, read).await {
            Ok(joined) => joined.expect("stdout reader"),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("server did not announce its port");
            }
        };
        let port = line
            .trim_end()
            .strip_prefix("listening on http://127.0.0.1:")
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));
        Server {
            child: Some(child),
            port,
            _stdout: reader,
        }
    }

    /// Sends SIGTERM, as a process manager does to stop the server.
    pub fn terminate(&self) {
        let pid = self
            .child
            .as_ref()
            .expect("server running")
            .id()
            .to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits for the process to exit on its own (e.g. after SIGTERM).
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("server running");
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "server did not exit");
            // std's Child has no async wait; poll its state at a short interval.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("ws://127.0.0.1:{}{path}", self.port)
    }

    pub async fn connect(&self, path: &str) -> Ws {
        self.connect_with_protocols(path, &[]).await.0
    }

    /// Connects offering `protocols`; returns the socket and the protocol the
    /// server selected.
    pub async fn connect_with_protocols(
        &self,
        path: &str,
        protocols: &[&str],
    ) -> (Ws, Option<String>) {
        let mut request = self.url(path).into_client_request().expect("request");
        if !protocols.is_empty() {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_str(&protocols.join(", ")).expect("header"),
            );
        }
        let (ws, response) = timeout(DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
            .expect("connect");
        let selected = response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().expect("ascii").to_owned());
        (ws, selected)
    }

    /// Sends one HTTP/1.1 request and reads the whole response.
    pub async fn http(&self, method: &str, path: &str, body: &[u8]) -> HttpResponse {
        self.http_with(method, path, &[], body).await
    }

    /// Like [`Server::http`], with extra request headers.
    pub async fn http_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Content-Length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = self.tcp().await;
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.write_all(body).await.expect("write body");
        let mut raw = Vec::new();
        timeout(DEADLINE, stream.read_to_end(&mut raw))
            .await
            .expect("response timed out")
            .expect("read");
        HttpResponse::parse(&raw, true)
    }

    /// Performs a raw WebSocket upgrade handshake and returns only the
    /// response head, to inspect headers a compliant client would reject.
    pub async fn raw_upgrade(&self, path: &str, protocols: Option<&str>) -> HttpResponse {
        let protocols = protocols.map(|p| ("Sec-WebSocket-Protocol", p));
        let headers: Vec<_> = protocols.into_iter().collect();
        self.raw_upgrade_with(path, &headers).await.1
    }

    /// Raw upgrade handshake with extra request headers; returns the open
    /// stream (positioned right after the response head) and the head.
    pub async fn raw_upgrade_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (TcpStream, HttpResponse) {
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: {RAW_UPGRADE_KEY}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let mut stream = self.tcp().await;
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        // The connection stays open after a 101, so read up to the blank line.
        while !raw.ends_with(b"\r\n\r\n") {
            let n = timeout(DEADLINE, stream.read(&mut byte))
                .await
                .expect("handshake timed out")
                .expect("read");
            assert!(n == 1, "connection closed during handshake");
            raw.push(byte[0]);
        }
        (stream, HttpResponse::parse(&raw, false))
    }

    async fn tcp(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("tcp connect")
    }

    pub async fn stats(&self) -> serde_json::Value {
        let response = self.http("GET", "/stats", b"").await;
        assert_eq!(response.status, 200);
        response.json()
    }

    /// Polls /stats until `check` holds, failing after DEADLINE.
    pub async fn wait_stats(&self, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let stats = self.stats().await;
            if check(&stats) {
                return;
            }
            assert!(Instant::now() < deadline, "{what} never held: {stats}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Polls /stats until `field` equals `expected`, failing after DEADLINE.
    pub async fn wait_stat(&self, field: &str, expected: u64) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let stats = self.stats().await;
            if stats[field] == expected {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{field} never became {expected}: {stats}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn parse(raw: &[u8], with_body: bool) -> Self {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("complete response head");
        let head = std::str::from_utf8(&raw[..split]).expect("ascii head");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .and_then(|code| code.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|line| line.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let body = if with_body {
            raw[split + 4..].to_vec()
        } else {
            Vec::new()
        };
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("json body")
    }
}

/// Next message, skipping nothing; `None` when the stream ended.
pub async fn next(ws: &mut Ws) -> Option<Result<Message, tungstenite::Error>> {
    timeout(DEADLINE, ws.next())
        .await
        .expect("timed out waiting for a message")
}

/// Next message, which must exist and be well-formed.
pub async fn recv(ws: &mut Ws) -> Message {
    next(ws)
        .await
        .expect("stream ended")
        .expect("websocket error")
}

/// Reads until the stream ends cleanly; only a (late) Close frame may come
/// first, as the tail of a closing handshake.
pub async fn expect_end(ws: &mut Ws) {
    loop {
        match next(ws).await {
            None | Some(Err(tungstenite::Error::ConnectionClosed)) => return,
            Some(Ok(Message::Close(_))) => continue,
            Some(Ok(other)) => panic!("unexpected message before end: {other:?}"),
            Some(Err(err)) => panic!("unexpected error before end: {err}"),
        }
    }
}

/// A unique scratch directory, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("bws-server-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn write(&self, file: &str, contents: &[u8]) {
        std::fs::write(self.0.join(file), contents).expect("write temp file");
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub mod json;

/// A server's stderr, read to its end on a thread of its own.
pub struct Logs(std::thread::JoinHandle<String>);

impl Logs {
    /// Everything logged; blocks until the server has closed stderr (exited).
    pub fn text(self) -> String {
        self.0.join().expect("stderr reader")
    }
}
