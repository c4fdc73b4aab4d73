//! The `/echo` WebSocket endpoint: subprotocol selection, echoing, and the
//! in-band `__bws:` commands tests use to script server behaviour.
//!
//! The session logic is generic over [`Transport`] so that connections which
//! negotiated permessage-deflate (served by `deflate.rs`, because tungstenite
//! cannot compress) behave exactly like plain ones.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use futures_util::SinkExt;
use serde::Deserialize;
use tokio::sync::watch;

use crate::command::{self, Command};
use crate::hub::Hub;
use crate::stats::Stats;

/// Tests send 1 MiB messages; leave ample headroom above the required 16 MiB.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// How long to wait for the peer's Close reply after the server sends Close.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// "Going away": what browsers report when the server shuts down.
const CLOSE_GOING_AWAY: u16 = 1001;

/// Query parameters understood by `/echo` (and its `/` alias).
#[derive(Debug, Default, Deserialize)]
pub struct EchoQuery {
    /// Absent: pick the first offered subprotocol. Empty or `none`: pick none.
    protocol: Option<String>,
    /// `0` (or `false`/`off`/`no`) disables echoing; commands still work.
    echo: Option<String>,
    /// `1` (or `true`): accept permessage-deflate if the client offers it.
    /// Opt-in, so tests expecting `extensions === ''` are unaffected.
    deflate: Option<String>,
}

impl EchoQuery {
    pub fn echo_enabled(&self) -> bool {
        !matches!(self.echo.as_deref(), Some("0" | "false" | "off" | "no"))
    }

    pub fn deflate_requested(&self) -> bool {
        matches!(self.deflate.as_deref(), Some("1" | "true"))
    }

    /// The subprotocol to answer `headers` with, per the rules below.
    pub fn selected_protocol<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        select_protocol(&offered_protocols(headers), self.protocol.as_deref())
    }
}

/// Offered subprotocols in the client's order. (axum keeps them in a sorted
/// set, which loses "first offered", so the header is parsed here.)
fn offered_protocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Chooses the subprotocol to answer with. Selecting one the client did not
/// offer would make browsers fail the handshake, so that never happens here.
fn select_protocol<'a>(offered: &[&'a str], requested: Option<&str>) -> Option<&'a str> {
    match requested {
        None => offered.first().copied(),
        Some("" | "none") => None,
        Some(name) => offered.iter().copied().find(|p| *p == name),
    }
}

/// Completes the upgrade and hands the socket to its connection task.
pub fn accept(
    stats: Arc<Stats>,
    hub: Arc<Hub>,
    query: &EchoQuery,
    headers: &HeaderMap,
    mut ws: WebSocketUpgrade,
) -> Response {
    if let Some(protocol) = query.selected_protocol(headers) {
        if let Ok(value) = HeaderValue::from_str(protocol) {
            ws.set_selected_protocol(value);
        }
    }
    let echo = query.echo_enabled();
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| run(socket, stats, hub, echo))
}

/// The socket operations a session needs, implemented by axum's `WebSocket`
/// and by the permessage-deflate socket in `deflate.rs`. Like tungstenite,
/// implementations answer Ping and Close frames themselves and still report
/// them, and `recv` must be cancel-safe: it is raced in `select!`.
pub trait Transport: Send {
    fn recv(&mut self) -> impl Future<Output = Option<Result<Message, axum::Error>>> + Send;
    /// Queues a message; it may sit in a buffer until `flush`.
    fn feed(&mut self, message: Message) -> impl Future<Output = Result<(), axum::Error>> + Send;
    fn flush(&mut self) -> impl Future<Output = Result<(), axum::Error>> + Send;

    fn send(&mut self, message: Message) -> impl Future<Output = Result<(), axum::Error>> + Send {
        async move {
            self.feed(message).await?;
            self.flush().await
        }
    }
}

impl Transport for WebSocket {
    async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        WebSocket::recv(self).await
    }

    async fn feed(&mut self, message: Message) -> Result<(), axum::Error> {
        SinkExt::feed(self, message).await
    }

    async fn flush(&mut self) -> Result<(), axum::Error> {
        SinkExt::flush(self).await
    }
}

/// What the connection loop decided to do next.
enum Flow {
    Continue,
    /// Send this Close frame (None = no status code) and finish the handshake.
    Close(Option<CloseFrame>),
    /// Drop the TCP connection without any Close frame.
    Drop,
    /// The peer is gone or the socket failed; nothing left to do.
    Gone,
}

struct Session<S> {
    socket: S,
    stats: Arc<Stats>,
    hub: Arc<Hub>,
    echo: bool,
}

/// Serves one upgraded connection until it closes; both transports use this.
pub async fn run<S: Transport>(socket: S, stats: Arc<Stats>, hub: Arc<Hub>, echo: bool) {
    // Join the hub before counting the connection: once /stats shows a
    // socket, it is guaranteed to receive broadcasts.
    let mut membership = hub.join();
    // Held for the whole task so /stats counts this socket until it is gone.
    let _open = stats.open_connection();
    let mut shutdown = hub.shutdown_flag();
    let mut session = Session {
        socket,
        stats,
        hub,
        echo,
    };

    let flow = loop {
        tokio::select! {
            // Shutdown first, so a chatty client cannot delay it.
            biased;
            () = shutting_down(&mut shutdown) => {
                break Flow::Close(Some(CloseFrame {
                    code: CLOSE_GOING_AWAY,
                    reason: Utf8Bytes::from_static("server shutting down"),
                }));
            }
            Some(message) = membership.inbox.recv() => {
                if session.send(message).await.is_err() {
                    break Flow::Gone;
                }
            }
            incoming = session.socket.recv() => match incoming {
                Some(Ok(message)) => match session.handle(message).await {
                    Flow::Continue => {}
                    other => break other,
                },
                None | Some(Err(_)) => break Flow::Gone,
            },
        }
    };

    // Stop receiving broadcasts before the (possibly slow) closing handshake.
    drop(membership);
    match flow {
        Flow::Close(frame) => session.close(frame).await,
        // Returning drops the socket and with it the TCP stream: no Close frame.
        Flow::Drop | Flow::Gone | Flow::Continue => {}
    }
}

/// Broadcasts `count` stamped frames to every echo client, paced at `rate`
/// per second in 1 ms ticks, so latency is measured under a steady load
/// rather than after a burst's queueing.
async fn stream(hub: Arc<Hub>, rate: u32, count: usize, size: usize) {
    let start = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut sent = 0;
    while sent < count {
        ticks.tick().await;
        // Catch up to where the schedule says we should be.
        let due = (start.elapsed().as_micros() as usize * rate as usize / 1_000_000 + 1).min(count);
        for index in sent..due {
            hub.broadcast(&Message::text(command::stream_frame(index, size)));
        }
        sent = sent.max(due);
    }
}

async fn shutting_down(flag: &mut watch::Receiver<bool>) {
    // The sender lives in the Hub we hold, so an error cannot occur; if it
    // did, treating it as "shut down" is the safe reading.
    let _ = flag.wait_for(|&down| down).await;
}

impl<S: Transport> Session<S> {
    async fn send(&mut self, message: Message) -> Result<(), axum::Error> {
        self.socket.send(message).await?;
        self.stats.message_out();
        Ok(())
    }

    async fn handle(&mut self, message: Message) -> Flow {
        match message {
            Message::Text(text) => {
                self.stats.message_in();
                match command::parse(text.as_str()) {
                    Some(cmd) => self.run_command(cmd).await,
                    None => self.echo(Message::Text(text)).await,
                }
            }
            Message::Binary(data) => {
                self.stats.message_in();
                self.echo(Message::Binary(data)).await
            }
            // tungstenite queues the Close reply (same code and reason) itself
            // and flushes it on the next read, which then ends the stream.
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) => Flow::Continue,
        }
    }

    async fn echo(&mut self, message: Message) -> Flow {
        if !self.echo {
            return Flow::Continue;
        }
        match self.send(message).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Gone,
        }
    }

    async fn run_command(&mut self, cmd: Command<'_>) -> Flow {
        let reply = match cmd {
            Command::Close { code, reason } => {
                return Flow::Close(Some(CloseFrame {
                    code,
                    reason: command::clamp_reason(reason).into(),
                }));
            }
            Command::CloseNoStatus => return Flow::Close(None),
            Command::Drop => return Flow::Drop,
            Command::Broadcast(text) => {
                // The sender is a hub member too, so it receives its own copy
                // through its inbox, ordered with other broadcasts.
                self.hub.broadcast(&Message::text(text));
                return Flow::Continue;
            }
            Command::Burst { count, size } => return self.burst(count, size).await,
            Command::Stamp(text) => {
                format!(
                    "{}stamp {} {text}",
                    command::PREFIX,
                    command::epoch_micros()
                )
            }
            Command::Stream { rate, count, size } => {
                tokio::spawn(stream(Arc::clone(&self.hub), rate, count, size));
                return Flow::Continue;
            }
            Command::Invalid(why) => format!("{}error {why}", command::PREFIX),
            Command::Unknown => format!("{}error unknown command", command::PREFIX),
        };
        match self.send(Message::text(reply)).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Gone,
        }
    }

    async fn burst(&mut self, count: usize, size: usize) -> Flow {
        for index in 0..count {
            // `feed` batches frames into the write buffer instead of flushing
            // one syscall per frame; tungstenite still flushes when it fills.
            let frame = Message::text(command::burst_frame(index, size));
            if self.socket.feed(frame).await.is_err() {
                return Flow::Gone;
            }
            self.stats.message_out();
        }
        match self.socket.flush().await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Gone,
        }
    }

    /// Sends Close and waits (bounded) for the peer's reply, so browsers see a
    /// clean close rather than an abrupt one.
    async fn close(mut self, frame: Option<CloseFrame>) {
        if self.socket.send(Message::Close(frame)).await.is_err() {
            return;
        }
        let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
        let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, drain).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_protocols_keep_client_order() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("zeta, alpha"),
        );
        headers.append(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("mid"),
        );
        assert_eq!(offered_protocols(&headers), ["zeta", "alpha", "mid"]);
    }

    #[test]
    fn protocol_selection_rules() {
        let offered = ["zeta", "alpha"];
        assert_eq!(select_protocol(&offered, None), Some("zeta"));
        assert_eq!(select_protocol(&offered, Some("alpha")), Some("alpha"));
        assert_eq!(select_protocol(&offered, Some("other")), None);
        assert_eq!(select_protocol(&offered, Some("")), None);
        assert_eq!(select_protocol(&offered, Some("none")), None);
        assert_eq!(select_protocol(&[], None), None);
    }

    #[test]
    fn echo_flag() {
        let off = EchoQuery {
            echo: Some("0".into()),
            ..EchoQuery::default()
        };
        assert!(!off.echo_enabled());
        assert!(EchoQuery::default().echo_enabled());
    }
}
