//! [`RedisAdapter`]: the nodes of a cluster talk through Redis pub/sub (feature `redis`).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use swoft_ws::App;
//! use swoft_ws::cluster::{ClusterSettings, NodeId};
//! use swoft_ws::redis::RedisAdapter;
//!
//! let adapter = RedisAdapter::connect(
//!     "redis://127.0.0.1:6379",
//!     NodeId::random(),
//!     ClusterSettings::default(),
//! )
//! .await?; // fails at once, naming the URL, when Redis cannot be reached
//! let app = App::builder().discover().cluster(adapter).build()?;
//! app.serve("127.0.0.1:8080").await?;
//! # Ok(()) }
//! ```
//!
//! # Channels
//!
//! Two channels per node, both under [`ClusterSettings::channel_prefix`] (`P`):
//!
//! - `P#all`: what every node gets — broadcasts to rooms, modules and all; membership
//!   questions; heartbeats and goodbyes;
//! - `P#node#ID`: what one node gets — pushes to its connections by address, disconnects,
//!   answers to its questions.
//!
//! Nothing else is stored in Redis: no keys, so nothing to clean up after a node dies and
//! nothing to restore after Redis restarts (see [`crate::cluster`] for why).
//!
//! # Connections and failures
//!
//! Each node holds one pub/sub connection (subscribed to its two channels) and one
//! multiplexed connection for `PUBLISH` commands. A background task takes messages from a
//! bounded queue ([`ClusterSettings::publish_queue`]) and publishes them in pipelined batches,
//! so that no handler ever waits for Redis.
//!
//! - Redis unreachable when connecting: [`RedisAdapter::connect`] fails with an error that
//!   names the URL ([`ConnectErrorKind::Unreachable`]).
//! - This node's id already in use — another process is subscribed to `P#node#ID`:
//!   [`RedisAdapter::connect`] refuses ([`ConnectErrorKind::NodeIdInUse`]). A collision it
//!   cannot see (the other process was re-subscribing after an outage) is found from the
//!   heartbeats: both processes log it at `error` and count it
//!   (`swoft_ws_cluster_node_id_collisions_total`, [`ClusterStats`](crate::cluster::ClusterStats)).
//! - Redis lost while running: local delivery goes on untouched; every message that cannot be
//!   published is counted in `swoft_ws_cluster_dropped_total{reason="unavailable"}` (a full
//!   queue: `reason="queue_full"`) and logged (one warning when the outage starts, one with the
//!   count when it ends). A message Redis took but that reached fewer nodes than are live (one
//!   is re-subscribing, or the addressed node is gone) is counted as `reason="no_subscriber"`.
//!   Both connections reconnect with backoff
//!   ([`ClusterSettings::reconnect_min`] doubling up to [`ClusterSettings::reconnect_max`]);
//!   on reconnecting, the node re-subscribes and announces itself at once.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSub};
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::cluster::{
    ClusterAdapter, ClusterSettings, Inbox, MIN_SECRET_LEN, NodeId, count_dropped,
};

/// How long connecting to Redis (and each command) may take.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// The most messages published in one pipeline.
const BATCH: usize = 256;

/// The node could not join the cluster: Redis could not be reached (or the URL is not a Redis
/// URL), its node id is in use, or its settings are refused.
#[derive(Debug, thiserror::Error)]
#[error("cannot connect to Redis at {url}: {reason}")]
#[non_exhaustive]
pub struct ConnectError {
    /// The URL (without its password).
    pub url: String,
    /// What went wrong.
    pub reason: String,
    /// Which kind of failure it is.
    pub kind: ConnectErrorKind,
}

/// The kinds of [`ConnectError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// Redis could not be reached within 2 s, refused a command, or the URL is not a Redis URL:
    /// worth retrying.
    Unreachable,
    /// Another process is subscribed to this node's channel (`P#node#ID`): a node with this id
    /// is running (or one that died without closing its connection, which Redis drops within
    /// its `tcp-keepalive`, 300 s by default). Node ids must be unique: messages for a shared
    /// id reach both processes or neither. Give this node another id.
    NodeIdInUse,
    /// [`ClusterSettings::secret`] is shorter than
    /// [`MIN_SECRET_LEN`] bytes.
    SecretTooShort,
}

/// A cluster adapter over Redis pub/sub. See the [module docs](self).
pub struct RedisAdapter {
    shared: Arc<Shared>,
    tx: mpsc::Sender<Out>,
    start: Mutex<Option<Start>>,
}

/// What `start` hands to the background tasks.
struct Start {
    rx: mpsc::Receiver<Out>,
    conn: MultiplexedConnection,
    pubsub: PubSub,
}

struct Shared {
    id: NodeId,
    settings: ClusterSettings,
    url: String,
    client: Client,
    all: String,
    mine: String,
    /// Cancelled when the adapter is dropped or killed.
    stop: CancellationToken,
    /// Set by [`RedisHandle::kill`]: nothing more is published, not even what is queued.
    killed: AtomicBool,
    /// Whether the publisher's connection is up.
    up: AtomicBool,
    /// Whether this node's subscription is up (its own messages come back to it).
    subscribed: AtomicBool,
    /// Other nodes live now, as the node last said.
    peers: AtomicUsize,
    /// Messages queued so far, and messages the publisher is done with (published or dropped).
    queued: AtomicU64,
    handled: AtomicU64,
    runtime: tokio::runtime::Handle,
}

impl fmt::Debug for RedisAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisAdapter")
            .field("node", &self.shared.id)
            .field("url", &self.shared.url)
            .finish_non_exhaustive()
    }
}

struct Out {
    to: Option<NodeId>,
    msg: Bytes,
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_owned(),
    }
}

impl RedisAdapter {
    /// Connects to Redis at `url` (`redis://HOST:PORT[/DB]`) as node `node`: opens the command
    /// connection (and checks it with `PING`) and the pub/sub connection (subscribed to this
    /// node's channels). Fails, naming the URL, if either cannot be made within 2 s.
    pub async fn connect(
        url: &str,
        node: NodeId,
        settings: ClusterSettings,
    ) -> Result<RedisAdapter, ConnectError> {
        let shown = redact(url);
        let error = |kind, reason: String| ConnectError {
            url: shown.clone(),
            reason,
            kind,
        };
        let fail = |reason: String| error(ConnectErrorKind::Unreachable, reason);
        if let Some(s) = settings
            .secret
            .as_ref()
            .filter(|s| s.len() < MIN_SECRET_LEN)
        {
            let reason = format!(
                "the cluster secret is {} bytes; at least {MIN_SECRET_LEN} are needed",
                s.len()
            );
            return Err(error(ConnectErrorKind::SecretTooShort, reason));
        }
        let client = Client::open(url).map_err(|e| fail(e.to_string()))?;
        let all = format!("{}#all", settings.channel_prefix);
        let mine = format!("{}#node#{}", settings.channel_prefix, node);
        let mut conn = command_connection(&client)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(|e| fail(e.to_string()))?;
        let pubsub = subscribe(&client, &all, &mine)
            .await
            .map_err(|e| fail(e.to_string()))?;
        // Subscribed first, then counted: of two processes starting with one id at the same
        // time, at least one sees the other.
        let (_, subscribers): (String, usize) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(&mine)
            .query_async(&mut conn)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if subscribers > 1 {
            let reason = format!(
                "node id {node} is in use: {} other connection(s) subscribed to {mine}; \
                 give each node its own id",
                subscribers - 1
            );
            tracing::error!(node = %node, url = %shown, "{reason}");
            return Err(error(ConnectErrorKind::NodeIdInUse, reason));
        }
        let (tx, rx) = mpsc::channel(settings.publish_queue);
        tracing::info!(node = %node, url = %shown, "connected to Redis");
        Ok(RedisAdapter {
            shared: Arc::new(Shared {
                id: node,
                settings,
                url: shown,
                client,
                all,
                mine,
                stop: CancellationToken::new(),
                killed: AtomicBool::new(false),
                up: AtomicBool::new(true),
                subscribed: AtomicBool::new(true),
                peers: AtomicUsize::new(0),
                queued: AtomicU64::new(0),
                handled: AtomicU64::new(0),
                runtime: tokio::runtime::Handle::current(),
            }),
            tx,
            start: Mutex::new(Some(Start { rx, conn, pubsub })),
        })
    }

    /// A handle to this adapter that outlives handing it to the app: to check its connection,
    /// or to kill it.
    pub fn handle(&self) -> RedisHandle {
        RedisHandle {
            shared: self.shared.clone(),
        }
    }
}

/// A handle to a [`RedisAdapter`] ([`RedisAdapter::handle`]).
#[derive(Clone)]
pub struct RedisHandle {
    shared: Arc<Shared>,
}

impl fmt::Debug for RedisHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisHandle")
            .field("node", &self.shared.id)
            .finish_non_exhaustive()
    }
}

impl RedisHandle {
    /// Stops the node's cluster side at once, without a goodbye: no more heartbeats,
    /// publishes or subscriptions. To the other nodes this looks like a crash (they drop it
    /// after the node timeout); this node's local connections are untouched. For tests.
    pub fn kill(&self) {
        self.shared.killed.store(true, Ordering::Release);
        self.shared.stop.cancel();
    }

    /// Whether the publishing connection is up (false while Redis is unreachable).
    pub fn is_connected(&self) -> bool {
        self.shared.up.load(Ordering::Acquire) && !self.shared.stop.is_cancelled()
    }
}

impl Drop for RedisAdapter {
    fn drop(&mut self) {
        // The publisher drains what is queued (the goodbye included) and stops when the queue's
        // sender (ours) is gone; the subscriber stops now.
        self.shared.stop.cancel();
    }
}

async fn command_connection(client: &Client) -> redis::RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(IO_TIMEOUT)
        .set_response_timeout(IO_TIMEOUT);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

async fn subscribe(client: &Client, all: &str, mine: &str) -> redis::RedisResult<PubSub> {
    let timed_out = || redis::RedisError::from((redis::ErrorKind::IoError, "timed out"));
    let mut pubsub = tokio::time::timeout(IO_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    tokio::time::timeout(IO_TIMEOUT, async {
        pubsub.subscribe(all).await?;
        pubsub.subscribe(mine).await
    })
    .await
    .map_err(|_| timed_out())??;
    Ok(pubsub)
}

impl ClusterAdapter for RedisAdapter {
    fn node_id(&self) -> &NodeId {
        &self.shared.id
    }

    fn shared_log(&self) -> Option<crate::cluster::history::SharedLog> {
        let s = &self.shared;
        if !s.settings.shared_recovery {
            return None;
        }
        let log = super::redis_log::RedisLog::new(
            s.client.clone(),
            &s.settings.channel_prefix,
            s.settings.publish_queue,
            s.stop.clone(),
        );
        Some(crate::cluster::history::SharedLog(Arc::new(log)))
    }

    fn settings(&self) -> &ClusterSettings {
        &self.shared.settings
    }

    fn start(&self, inbox: Inbox) {
        let Some(start) = self
            .start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        let rt = &self.shared.runtime;
        rt.spawn(publisher(self.shared.clone(), start.rx, start.conn));
        rt.spawn(subscriber(self.shared.clone(), start.pubsub, inbox));
    }

    fn is_connected(&self) -> bool {
        self.shared.up.load(Ordering::Acquire)
    }

    fn unpublished(&self) -> usize {
        let done = self.shared.handled.load(Ordering::Acquire);
        let queued = self.shared.queued.load(Ordering::Acquire);
        queued.saturating_sub(done) as usize
    }

    fn peers_changed(&self, live: usize) {
        self.shared.peers.store(live, Ordering::Release);
    }

    fn publish(&self, to: Option<&NodeId>, msg: Bytes) {
        if self.shared.killed.load(Ordering::Acquire) {
            return;
        }
        let out = Out {
            to: to.cloned(),
            msg,
        };
        // Counted before the send, so that the publisher never counts it done first.
        self.shared.queued.fetch_add(1, Ordering::AcqRel);
        if let Err(e) = self.tx.try_send(out) {
            self.shared.handled.fetch_add(1, Ordering::AcqRel);
            if let mpsc::error::TrySendError::Full(_) = e {
                count_dropped("queue_full", 1);
                tracing::warn!(node = %self.shared.id, "cluster publish queue full: message dropped");
            }
        }
    }
}

/// Sleeps `d`, or less if the adapter stops; whether it stopped.
async fn pause(shared: &Shared, d: Duration) -> bool {
    tokio::select! {
        _ = shared.stop.cancelled() => true,
        _ = tokio::time::sleep(d) => false,
    }
}

/// Publishes what the node queues, in pipelined batches; reconnects with backoff.
async fn publisher(shared: Arc<Shared>, mut rx: mpsc::Receiver<Out>, conn: MultiplexedConnection) {
    let s = &shared.settings;
    let mut conn = Some(conn);
    let mut backoff = s.reconnect_min;
    let mut retry_at = Instant::now();
    let mut dropped: u64 = 0;
    let mut batch: Vec<Out> = Vec::with_capacity(BATCH);
    loop {
        // Queued messages first; when down, also wake at the retry time to reconnect before
        // the next message needs it.
        let first = tokio::select! {
            biased;
            m = rx.recv() => match m {
                Some(m) => Some(m),
                None => break,
            },
            _ = shared.stop.cancelled() => break,
            _ = tokio::time::sleep_until(retry_at.into()), if conn.is_none() => None,
        };
        if shared.killed.load(Ordering::Acquire) {
            break;
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match command_connection(&shared.client).await {
                Ok(c) => {
                    conn = Some(c);
                    shared.up.store(true, Ordering::Release);
                    backoff = s.reconnect_min;
                    tracing::info!(
                        node = %shared.id, url = %shared.url, dropped,
                        "Redis is back: publishing again ({dropped} cross-node messages were dropped meanwhile)"
                    );
                    dropped = 0;
                }
                Err(e) => {
                    retry_at = Instant::now() + backoff;
                    backoff = (backoff * 2).min(s.reconnect_max);
                    tracing::debug!(node = %shared.id, error = %e, "Redis still unreachable");
                }
            }
        }
        let Some(first) = first else { continue };
        batch.push(first);
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        let sent = match &mut conn {
            Some(c) => {
                let mut pipe = redis::pipe();
                for m in &batch {
                    let channel = match &m.to {
                        None => shared.all.clone(),
                        Some(node) => format!("{}#node#{}", s.channel_prefix, node),
                    };
                    pipe.publish(channel, &m.msg[..]);
                }
                match pipe.query_async::<Vec<usize>>(c).await {
                    Ok(received) => {
                        count_unreceived(&shared, &batch, &received);
                        true
                    }
                    Err(e) => {
                        tracing::warn!(
                            node = %shared.id, url = %shared.url, error = %e,
                            "lost Redis: cross-node messages are dropped (and counted) until it is back; local delivery goes on"
                        );
                        conn = None;
                        shared.up.store(false, Ordering::Release);
                        retry_at = Instant::now() + backoff;
                        false
                    }
                }
            }
            None => false,
        };
        if !sent {
            count_dropped("unavailable", n);
            dropped += n;
            tracing::debug!(node = %shared.id, n, "cross-node messages dropped: Redis unavailable");
        }
        batch.clear();
        shared.handled.fetch_add(n, Ordering::AcqRel);
    }
}

/// Counts the messages that reached fewer subscribers than expected: a message for every
/// node should reach every live peer (and this node, while subscribed), one for a node that
/// node. (PUBLISH answers how many subscribers got it.)
fn count_unreceived(shared: &Shared, batch: &[Out], received: &[usize]) {
    let peers = shared.peers.load(Ordering::Acquire);
    let me = usize::from(shared.subscribed.load(Ordering::Acquire));
    let missed = batch
        .iter()
        .zip(received)
        .filter(|(m, got)| {
            let expected = if m.to.is_some() { 1 } else { peers + me };
            **got < expected
        })
        .count();
    if missed > 0 {
        count_dropped("no_subscriber", missed as u64);
        tracing::debug!(node = %shared.id, missed, "cross-node messages reached fewer nodes than are live");
    }
}

/// Delivers what the node's channels carry; re-subscribes with backoff after a loss.
async fn subscriber(shared: Arc<Shared>, pubsub: PubSub, inbox: Inbox) {
    let s = &shared.settings;
    let mut pubsub = Some(pubsub);
    let mut backoff = s.reconnect_min;
    loop {
        if shared.stop.is_cancelled() || inbox.is_closed() {
            break;
        }
        let ps = match pubsub.take() {
            Some(ps) => ps,
            None => match subscribe(&shared.client, &shared.all, &shared.mine).await {
                Ok(ps) => {
                    shared.subscribed.store(true, Ordering::Release);
                    tracing::info!(node = %shared.id, url = %shared.url, "re-subscribed to Redis");
                    backoff = s.reconnect_min;
                    inbox.reconnected();
                    ps
                }
                Err(e) => {
                    tracing::debug!(node = %shared.id, error = %e, "Redis still unreachable (subscribe)");
                    if pause(&shared, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(s.reconnect_max);
                    continue;
                }
            },
        };
        let mut stream = ps.into_on_message();
        loop {
            let m = tokio::select! {
                _ = shared.stop.cancelled() => return,
                m = stream.next() => m,
            };
            match m {
                Some(m) => inbox.deliver(m.get_payload_bytes()),
                None => break,
            }
        }
        shared.subscribed.store(false, Ordering::Release);
        tracing::warn!(node = %shared.id, url = %shared.url, "lost the Redis subscription: reconnecting");
        if pause(&shared, backoff).await {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_show_in_messages() {
        assert_eq!(
            super::redact("redis://user:secret@10.0.0.1:6379/0"),
            "redis://***@10.0.0.1:6379/0"
        );
        assert_eq!(
            super::redact("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
