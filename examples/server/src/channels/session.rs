//! One `/ws` connection: reads requests, writes deliveries and replies,
//! keeps the heartbeat, and on its way out hands its state (subscriptions,
//! replay marks, dedup window) to whoever resumes the client id.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite;

use super::broker::Broker;
use super::hub::{ConnId, Delivery, Member};
use super::id::MsgId;
use super::limits::{Dedup, TokenBucket};
use super::protocol::{self, now_ms, ErrorCode, ProtocolError, Request};
use super::resume::{Handover, Prior, Release, SessionState};
use crate::stats::Stats;

/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// How long a new connection waits for the state of the one it replaces.
const HANDOVER_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for the peer's Close reply after sending ours.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// Queued deliveries written per flush: batching saves syscalls under load.
const WRITE_BATCH: usize = 64;

/// Server lifecycle as sessions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    /// Shutdown began: read no more requests, keep delivering.
    Stopping,
    /// Everything admitted has been queued: write the queue, close with 1001.
    Draining,
}

/// Why the loop ended, and so how the socket is closed.
enum End {
    /// The peer is gone or the socket failed: nothing to send.
    Gone,
    Shutdown,
    TakenOver(Handover),
    HeartbeatTimeout,
    SlowConsumer,
    TooBig,
}

/// The socket failed; the session ends without a closing handshake.
struct Gone;

pub struct Context {
    pub broker: Arc<Broker>,
    pub stats: Arc<Stats>,
    pub phase: watch::Receiver<Phase>,
    pub client_id: Option<String>,
}

struct Session {
    socket: WebSocket,
    broker: Arc<Broker>,
    stats: Arc<Stats>,
    member: Member,
    subscriptions: HashSet<String>,
    marks: HashMap<String, MsgId>,
    dedup: Dedup,
    bucket: TokenBucket,
    /// Any frame from the peer since the last heartbeat.
    heard: bool,
}

pub async fn run(socket: WebSocket, context: Context) {
    let Context {
        broker,
        stats,
        mut phase,
        client_id,
    } = context;
    let limits = &broker.limits;
    let (member, mut inbox) = broker.hub.join(limits.send_queue_limit);
    let _open = stats.open_connection();
    let mut session = Session {
        socket,
        bucket: TokenBucket::new(
            limits.rate_per_second,
            limits.rate_burst,
            Instant::now().into_std(),
        ),
        broker: Arc::clone(&broker),
        stats,
        member,
        subscriptions: HashSet::new(),
        marks: HashMap::new(),
        dedup: Dedup::default(),
        heard: true,
    };

    let mut kicks = None;
    let mut end = Ok(());
    if let Some(client) = &client_id {
        let claim = broker.registry.claim(client, session.member.id());
        kicks = Some(claim.kicks);
        if let Some(state) = prior_state(&broker, client, claim.prior).await {
            end = session.restore(state).await;
        }
    }

    let end = match end {
        Err(Gone) => End::Gone,
        Ok(()) => session.serve(&mut inbox, &mut phase, kicks.as_mut()).await,
    };
    let state = match end {
        End::Shutdown => {
            // Deliveries admitted before shutdown are all queued by now.
            let _ = session.flush_queue(&mut inbox).await;
            session.close(1001, "server shutting down").await;
            Some(session.state())
        }
        End::TakenOver(handover) => {
            let _ = handover.send(session.state());
            session.close(4000, "replaced by a newer connection").await;
            None
        }
        End::HeartbeatTimeout => {
            // The peer stopped answering: do not wait for a Close reply.
            let _ = tokio::time::timeout(
                CLOSE_REPLY_TIMEOUT,
                session.socket.send(close_frame(4001, "heartbeat timeout")),
            )
            .await;
            Some(session.state())
        }
        End::SlowConsumer => {
            session.close(1008, "slow consumer: send queue full").await;
            Some(session.state())
        }
        End::TooBig => {
            session.close(1009, "message too big").await;
            Some(session.state())
        }
        End::Gone => Some(session.state()),
    };
    let conn = session.member.id();
    // Leaves the hub before the state moves on, so nothing more is queued.
    drop(session);
    if let (Some(client), Some(state)) = (client_id, state) {
        leave(&broker, &client, conn, state, kicks).await;
    }
}

/// The state of this client's previous connection, if any is to be had.
async fn prior_state(broker: &Broker, client: &str, prior: Prior) -> Option<SessionState> {
    match prior {
        Prior::Fresh => broker.take(client).await,
        Prior::Live(state) => tokio::time::timeout(HANDOVER_TIMEOUT, state)
            .await
            .ok()?
            .ok(),
        Prior::Parking(mut done) => {
            let _ = tokio::time::timeout(HANDOVER_TIMEOUT, done.wait_for(|&d| d)).await;
            broker.take(client).await
        }
    }
}

/// Parks the state for a later resume, or hands it to the connection that
/// took the client id over in the meantime.
async fn leave(
    broker: &Broker,
    client: &str,
    conn: ConnId,
    state: SessionState,
    kicks: Option<mpsc::UnboundedReceiver<Handover>>,
) {
    match broker.registry.release(client, conn) {
        Release::Park(done) => {
            broker.park(client, state).await;
            broker.registry.parked(client, done);
        }
        Release::TakenOver => {
            // The claimant's kick was queued before the registry said so;
            // the newest claimant is the one that holds the id now.
            let newest =
                kicks.and_then(|mut kicks| std::iter::from_fn(|| kicks.try_recv().ok()).last());
            if let Some(handover) = newest {
                let _ = handover.send(state);
            }
        }
    }
}

fn close_frame(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason),
    }))
}

impl Session {
    async fn serve(
        &mut self,
        inbox: &mut mpsc::Receiver<Delivery>,
        phase: &mut watch::Receiver<Phase>,
        mut kicks: Option<&mut mpsc::UnboundedReceiver<Handover>>,
    ) -> End {
        let every = self.broker.limits.heartbeat_interval;
        let mut heartbeat = tokio::time::interval_at(Instant::now() + every, every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let current = *phase.borrow_and_update();
            if current == Phase::Draining {
                return End::Shutdown;
            }
            let reading = current == Phase::Running;
            tokio::select! {
                // Lifecycle first, so a chatty peer cannot delay shutdown.
                biased;
                changed = phase.changed() => {
                    if changed.is_err() {
                        return End::Shutdown;
                    }
                }
                Some(handover) = recv_kick(&mut kicks) => return End::TakenOver(handover),
                delivery = inbox.recv() => match delivery {
                    Some(delivery) => {
                        if self.deliver_batch(delivery, inbox).await.is_err() {
                            return End::Gone;
                        }
                    }
                    // The hub cut this connection off: its queue overflowed.
                    None => return End::SlowConsumer,
                },
                _ = heartbeat.tick(), if reading => {
                    if !self.heard {
                        return End::HeartbeatTimeout;
                    }
                    self.heard = false;
                    if self.heartbeat().await.is_err() {
                        return End::Gone;
                    }
                }
                incoming = self.socket.recv(), if reading => match incoming {
                    Some(Ok(message)) => {
                        self.heard = true;
                        if self.handle(message).await.is_err() {
                            return End::Gone;
                        }
                    }
                    Some(Err(error)) if is_too_big(&error) => return End::TooBig,
                    Some(Err(_)) | None => return End::Gone,
                },
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<(), Gone> {
        // A WebSocket ping for the peer's stack to answer (browsers do so on
        // their own), and a JSON ping pages can see.
        futures_util::SinkExt::feed(&mut self.socket, Message::Ping(Default::default()))
            .await
            .map_err(|_| Gone)?;
        self.send_text(protocol::ping_frame(now_ms())).await
    }

    async fn handle(&mut self, message: Message) -> Result<(), Gone> {
        match message {
            Message::Text(text) => {
                self.stats.message_in();
                self.handle_text(text.as_str()).await
            }
            Message::Binary(_) => {
                self.stats.message_in();
                let error = ProtocolError::new(
                    ErrorCode::UnsupportedFrame,
                    "binary frames are not supported; send JSON text",
                );
                if !self.bucket.try_take(Instant::now().into_std()) {
                    return Ok(());
                }
                self.send_error(error).await
            }
            // tungstenite answers pings and closes itself; a Close ends the
            // stream on the next read.
            Message::Ping(_) | Message::Pong(_) | Message::Close(_) => Ok(()),
        }
    }

    async fn handle_text(&mut self, text: &str) -> Result<(), Gone> {
        let parsed = protocol::parse(text);
        if !self.bucket.try_take(Instant::now().into_std()) {
            let limits = &self.broker.limits;
            let message_id = parsed.as_ref().ok().and_then(Request::message_id);
            let error = ProtocolError::new(
                ErrorCode::RateLimited,
                format!(
                    "rate limit exceeded ({}/s, burst {}); request dropped",
                    limits.rate_per_second, limits.rate_burst
                ),
            )
            .about(message_id, None);
            return self.send_error(error).await;
        }
        match parsed {
            Err(error) => self.send_error(error).await,
            Ok(request) => self.request(request).await,
        }
    }

    async fn request(&mut self, request: Request<'_>) -> Result<(), Gone> {
        match request {
            Request::Subscribe {
                channel,
                last_id,
                message_id,
            } => {
                let result = self.subscribe(&channel, last_id).await?;
                self.reply(result, message_id.as_deref(), &channel, None)
                    .await
            }
            Request::Unsubscribe {
                channel,
                message_id,
            } => {
                if self.subscriptions.remove(&channel) {
                    self.member.unsubscribe(&channel);
                    self.marks.remove(&channel);
                }
                self.reply(Ok(()), message_id.as_deref(), &channel, None)
                    .await
            }
            Request::Broadcast {
                channel,
                data,
                message_id,
            } => {
                let window = self.broker.limits.dedup_window;
                if let Some(mid) = &message_id {
                    if !self.dedup.first_sighting(mid, now_ms(), window) {
                        let ack = protocol::ack_frame(mid, Some(&channel), None, true, now_ms());
                        return self.send_text(ack).await;
                    }
                }
                match self.broker.publish(&channel, data).await {
                    Ok(accepted) => {
                        self.reply(Ok(()), message_id.as_deref(), &channel, accepted.id)
                            .await
                    }
                    Err(error) => {
                        // Not accepted, so a retry with the same id must go through.
                        if let Some(mid) = &message_id {
                            self.dedup.forget(mid);
                        }
                        self.reply(Err(error), message_id.as_deref(), &channel, None)
                            .await
                    }
                }
            }
        }
    }

    /// Subscribes; on persistent channels first fixes where a later resume
    /// replays from, then replays after `last_id` when given.
    async fn subscribe(
        &mut self,
        channel: &str,
        last_id: Option<MsgId>,
    ) -> Result<Result<(), ProtocolError>, Gone> {
        let known = self.subscriptions.contains(channel);
        if !known && self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Ok(Err(ProtocolError::new(
                ErrorCode::TooManySubscriptions,
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            )));
        }
        let persistent = self.broker.limits.is_persistent(channel);
        if persistent && !self.marks.contains_key(channel) {
            // Read before subscribing: anything newer then arrives live, so
            // nothing falls between this mark and the live stream.
            match self.broker.tail(channel).await {
                Ok(tail) => {
                    let start = tail.unwrap_or(MsgId { ms: 0, seq: 0 });
                    self.marks.insert(channel.to_owned(), start);
                }
                Err(error) => return Ok(Err(error)),
            }
        }
        if !known {
            self.member.subscribe(channel);
            self.subscriptions.insert(channel.to_owned());
        }
        match last_id {
            Some(after) if persistent => self.replay(channel, after).await,
            _ => Ok(Ok(())),
        }
    }

    /// Writes the kept messages after `after`, then moves the mark so the
    /// same messages arriving live are not written twice.
    async fn replay(
        &mut self,
        channel: &str,
        after: MsgId,
    ) -> Result<Result<(), ProtocolError>, Gone> {
        let backlog = match self.broker.replay(channel, after).await {
            Ok(backlog) => backlog,
            Err(error) => return Ok(Err(error)),
        };
        for delivery in backlog {
            let id = delivery.id;
            self.write(delivery.frame, false).await?;
            if let (Some(id), Some(mark)) = (id, self.marks.get_mut(channel)) {
                *mark = (*mark).max(id);
            }
        }
        self.flush().await?;
        Ok(Ok(()))
    }

    /// Takes back the subscriptions of a resumed client and replays what
    /// its persistent channels kept since its marks.
    async fn restore(&mut self, state: SessionState) -> Result<(), Gone> {
        self.dedup = state.dedup;
        self.marks = state.marks;
        for channel in state.subscriptions {
            if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                break;
            }
            self.member.subscribe(&channel);
            self.subscriptions.insert(channel);
        }
        let marks: Vec<(String, MsgId)> = self
            .marks
            .iter()
            .filter(|(channel, _)| self.subscriptions.contains(*channel))
            .map(|(channel, mark)| (channel.clone(), *mark))
            .collect();
        for (channel, mark) in marks {
            if let Err(error) = self.replay(&channel, mark).await? {
                self.send_error(error.about(None, Some(&channel))).await?;
            }
        }
        Ok(())
    }

    /// Writes a delivery and whatever else is queued, up to a batch, then
    /// flushes once.
    async fn deliver_batch(
        &mut self,
        first: Delivery,
        inbox: &mut mpsc::Receiver<Delivery>,
    ) -> Result<(), Gone> {
        self.deliver(first).await?;
        for _ in 1..WRITE_BATCH {
            match inbox.try_recv() {
                Ok(next) => self.deliver(next).await?,
                Err(_) => break,
            }
        }
        self.flush().await
    }

    async fn flush_queue(&mut self, inbox: &mut mpsc::Receiver<Delivery>) -> Result<(), Gone> {
        while let Ok(delivery) = inbox.try_recv() {
            self.deliver(delivery).await?;
        }
        self.flush().await
    }

    /// Feeds one live delivery unless it is stale: for a channel left since
    /// it was queued, or already written by a replay.
    async fn deliver(&mut self, delivery: Delivery) -> Result<(), Gone> {
        if !self.subscriptions.contains(&*delivery.channel) {
            return Ok(());
        }
        if let (Some(id), Some(mark)) = (delivery.id, self.marks.get_mut(&*delivery.channel)) {
            if id <= *mark {
                return Ok(());
            }
            *mark = id;
        }
        self.write(delivery.frame, false).await
    }

    async fn write(&mut self, frame: Utf8Bytes, flush: bool) -> Result<(), Gone> {
        let message = Message::Text(frame);
        let sent = if flush {
            self.socket.send(message).await
        } else {
            futures_util::SinkExt::feed(&mut self.socket, message).await
        };
        sent.map_err(|_| Gone)?;
        self.stats.message_out();
        self.broker.delivered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        futures_util::SinkExt::flush(&mut self.socket)
            .await
            .map_err(|_| Gone)
    }

    /// An ack for requests that carried a `messageId`, or the error.
    async fn reply(
        &mut self,
        result: Result<(), ProtocolError>,
        message_id: Option<&str>,
        channel: &str,
        id: Option<MsgId>,
    ) -> Result<(), Gone> {
        match (result, message_id) {
            (Ok(()), None) => Ok(()),
            (Ok(()), Some(mid)) => {
                let ack = protocol::ack_frame(mid, Some(channel), id, false, now_ms());
                self.send_text(ack).await
            }
            (Err(error), mid) => self.send_error(error.about(mid, Some(channel))).await,
        }
    }

    async fn send_error(&mut self, error: ProtocolError) -> Result<(), Gone> {
        tracing::debug!("request refused: {:?}", error.code);
        self.send_text(protocol::error_frame(&error, now_ms()))
            .await
    }

    async fn send_text(&mut self, text: String) -> Result<(), Gone> {
        self.socket
            .send(Message::text(text))
            .await
            .map_err(|_| Gone)?;
        self.stats.message_out();
        Ok(())
    }

    /// Sends Close and waits (bounded) for the peer's reply.
    async fn close(&mut self, code: u16, reason: &'static str) {
        if self.socket.send(close_frame(code, reason)).await.is_err() {
            return;
        }
        let drain = async { while let Some(Ok(_)) = self.socket.recv().await {} };
        let _ = tokio::time::timeout(CLOSE_REPLY_TIMEOUT, drain).await;
    }

    fn state(&self) -> SessionState {
        let mut subscriptions: Vec<String> = self.subscriptions.iter().cloned().collect();
        subscriptions.sort();
        SessionState {
            subscriptions,
            marks: self.marks.clone(),
            dedup: self.dedup.clone(),
        }
    }
}

async fn recv_kick(kicks: &mut Option<&mut mpsc::UnboundedReceiver<Handover>>) -> Option<Handover> {
    match kicks {
        Some(kicks) => kicks.recv().await,
        None => std::future::pending().await,
    }
}

/// tungstenite reports an oversized message or frame as a capacity error.
fn is_too_big(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(tungstenite::Error::Capacity(_)) = current.downcast_ref::<tungstenite::Error>()
        {
            return true;
        }
        source = current.source();
    }
    false
}
