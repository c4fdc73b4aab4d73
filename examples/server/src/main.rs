//! `bws-server`: the broadcast service (channels over WebSocket, HTTP API,
//! optional Redis fan-out) and the echo endpoints broadcast-websocket's
//! browser tests use. This module reads the configuration, binds, announces
//! the port, and orchestrates a clean shutdown.

mod channels;
mod command;
mod config;
mod cors;
mod deflate;
mod echo;
mod frame;
mod http;
mod hub;
mod log;
mod shutdown;
mod stats;

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::services::ServeDir;

use crate::channels::broker::Broker;
use crate::channels::routes::Channels;
use crate::channels::session::Phase;
use crate::config::Config;
use crate::http::AppState;
use crate::hub::Hub;
use crate::log::redact_url;
use crate::shutdown::Signals;
use crate::stats::Stats;

/// How long sockets get to finish their closing handshake on shutdown before
/// the process exits anyway.
const SOCKET_CLOSE_GRACE: Duration = Duration::from_millis(1200);
/// How long in-flight HTTP requests get after the sockets are done.
const HTTP_DRAIN_GRACE: Duration = Duration::from_millis(300);

fn main() -> ExitCode {
    // Prints help or the error and exits (0 or 2) on `--help` or bad input.
    let config = Config::from_env();

    log::init(config.log_level);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = config.workers {
        builder.worker_threads(workers);
    }
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("bws-server: cannot start runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bws-server: {message}");
            ExitCode::FAILURE
        }
    };
    // A straggling blocking task (e.g. a static file read) must not hold up
    // the exit that test harnesses wait for.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

async fn run(config: Config) -> Result<(), String> {
    let mut signals =
        Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let static_dir = match &config.static_dir {
        Some(dir) if !dir.is_dir() => {
            return Err(format!("--static-dir {} is not a directory", dir.display()));
        }
        Some(dir) => Some(ServeDir::new(dir)),
        None => None,
    };
    let instance = instance_id();
    let broker = Broker::start(
        config.channels.clone(),
        config.redis_url.as_deref(),
        &instance,
    )
    .await?;
    let channels = Channels {
        broker: Arc::new(broker),
        stats: Arc::new(Stats::default()),
        phase: Arc::new(watch::Sender::new(Phase::Running)),
        origins: config.cors.clone(),
        instance: instance.as_str().into(),
    };
    let state = AppState {
        stats: Arc::new(Stats::default()),
        hub: Arc::new(Hub::default()),
        channels: channels.clone(),
        static_dir,
    };

    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot bind {}:{}: {e}", config.host, config.port))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot read bound address: {e}"))?;

    let mut stop_accepting = state.hub.shutdown_flag();
    let server =
        axum::serve(listener, http::router(state.clone())).with_graceful_shutdown(async move {
            let _ = stop_accepting.wait_for(|&down| down).await;
        });
    let mut server = tokio::spawn(async move { server.await });

    // Harnesses parse this exact line to learn the port, so it must be the
    // real bound address and must not sit in a buffer.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{addr}")
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(stdout);
    let mode = match &config.redis_url {
        Some(url) => format!("redis at {}", redact_url(url)),
        None => "memory".into(),
    };
    tracing::info!("instance {instance}, {mode}, cors {:?}", config.cors);

    tokio::select! {
        () = signals.recv() => {}
        result = &mut server => {
            return match result {
                Ok(Ok(())) => Err("server stopped unexpectedly".into()),
                Ok(Err(e)) => Err(format!("server failed: {e}")),
                Err(e) => Err(format!("server task failed: {e}")),
            };
        }
    }

    // One flag stops the accept loop and tells every echo socket to send
    // 1001. Channel sockets stop reading, the broker stops admitting and
    // waits for what it admitted to be queued, then the sockets write their
    // queues and close with 1001.
    tracing::info!("shutting down");
    state.hub.begin_shutdown();
    channels.phase.send_replace(Phase::Stopping);
    channels.broker.close(config.shutdown_grace).await;
    channels.phase.send_replace(Phase::Draining);
    let echo_closed = tokio::time::timeout(SOCKET_CLOSE_GRACE, state.stats.wait_idle());
    let channels_closed = tokio::time::timeout(config.shutdown_grace, channels.stats.wait_idle());
    let (echo_closed, channels_closed) = tokio::join!(echo_closed, channels_closed);
    if echo_closed.is_err() || channels_closed.is_err() {
        eprintln!("bws-server: some WebSockets did not finish closing; exiting anyway");
    }
    // Idle keep-alive connections close at once; only half-sent requests or
    // browser preconnects (TCP without a request) linger, and those are not
    // worth delaying the exit for.
    let _ = tokio::time::timeout(HTTP_DRAIN_GRACE, server).await;
    Ok(())
}

/// A random id naming this process in `/stats` and in Redis fan-out traffic
/// (std's hasher keys are random per process; no extra crate needed).
fn instance_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}
