//! Several nodes: rooms, pushes and broadcasts across servers.
//!
//! One process needs nothing from here: rooms live in a [`LocalAdapter`](crate::LocalAdapter)
//! and every push is in memory. To spread an app over several processes (behind a load
//! balancer), give each a [`ClusterAdapter`] — `swoft_ws::redis::RedisAdapter` with the `redis`
//! feature — and a distinct [`NodeId`]:
//!
//! ```ignore
//! let adapter =
//!     RedisAdapter::connect("redis://127.0.0.1:6379", NodeId::random(), ClusterSettings::default())
//!         .await?;
//! let app = App::builder().discover().cluster(adapter).build()?;
//! ```
//!
//! The application code does not change. The same calls work on one node or many:
//!
//! | call | one node | several nodes |
//! |---|---|---|
//! | `server.room(r).except(fd).push(..)`, `server.all()`, `server.module(p)` | local members | local members at once, then one publish that every other node delivers to its own members |
//! | `Broadcast::except_addr(addr)` | leaves out a local connection | leaves out a connection wherever it is |
//! | `server.to_addrs(&[addr])`, `server.send_to_addr`, `push_to_addr`, `disconnect_addr` | local | the node named by the address |
//! | `rooms.cluster_members(r).await`, `cluster_size(r).await`, `find_label(l).await` | answers at once | asks the other nodes, waits for all live ones (at most [`ClusterSettings::query_timeout`]) |
//!
//! A connection's cluster-wide address is a [`ConnAddr`] (its node and fd,
//! [`Connection::addr`]); its label ([`Connection::set_label`], e.g. a user name) is what
//! membership queries report with it.
//!
//! # How it works
//!
//! - **Local fast path.** A broadcast encodes its frame once and queues it on the local members
//!   synchronously, as on one node. It then hands *one* message (the target, the exceptions, the
//!   command and data and the frame already encoded) to the adapter, which publishes it from a
//!   background task: a handler never waits for the network.
//! - **Exactly once.** Each node delivers only to its own connections; a node ignores its own
//!   messages when they come back.
//! - **Membership is asked, not stored** (as socket.io's Redis adapter does): rooms stay in each
//!   node's memory, and a query is a request published to every node that each live node
//!   answers from memory. Nothing in the shared store can go stale when a node dies, and nothing
//!   needs re-registering after the store restarts.
//! - **Liveness.** Every node publishes a heartbeat every [`ClusterSettings::heartbeat`]; a node
//!   not heard from for [`ClusterSettings::node_timeout`] is dropped from the live set, so
//!   queries stop waiting for it and its members drop out of every answer. A node that stops
//!   cleanly says goodbye and drops out at once.
//! - **Failures.** A message that cannot be published (the store is down, the queue is full) is
//!   counted in `swoft_ws_cluster_dropped_total{reason}` and logged; local delivery is never
//!   affected. A query whose nodes do not all answer in time returns what it got, counted in
//!   `swoft_ws_cluster_query_timeouts_total`.

#[cfg(feature = "redis")]
pub mod redis;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use metrics::{Counter, Gauge, counter, gauge};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::protocol::RawMessage;
use crate::runtime::broadcast::{Broadcast, Payload};
use crate::runtime::connection::{Connection, SendError};
use crate::runtime::fd::Fd;
use crate::runtime::server::{Server, ServerInner};

/// Messages that could not be delivered to the other nodes, by `reason` (`unavailable`: the
/// store is down; `queue_full`: the publish queue is full; `no_subscriber`: published, but
/// fewer nodes were listening than are live — e.g. one is re-subscribing after an outage, or
/// the addressed node is gone).
pub const CLUSTER_DROPPED: &str = "swoft_ws_cluster_dropped_total";
/// Messages published to the other nodes.
pub const CLUSTER_PUBLISHED: &str = "swoft_ws_cluster_published_total";
/// Messages received from the other nodes.
pub const CLUSTER_RECEIVED: &str = "swoft_ws_cluster_received_total";
/// Membership queries that some live node did not answer in time.
pub const CLUSTER_QUERY_TIMEOUTS: &str = "swoft_ws_cluster_query_timeouts_total";
/// Other nodes this node considers live.
pub const CLUSTER_PEERS: &str = "swoft_ws_cluster_peers";
/// Times the adapter lost its store and connected again.
pub const CLUSTER_RECONNECTS: &str = "swoft_ws_cluster_reconnects_total";

/// A node's name in the cluster: unique among the nodes that share a store.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// A node id of these characters (1–64 of `[A-Za-z0-9_.:-]`; others are replaced by `_`).
    pub fn new(id: &str) -> Self {
        let mut s: String = id
            .chars()
            .take(64)
            .map(|c| {
                if c.is_ascii_alphanumeric() || "_.:-".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if s.is_empty() {
            s.push('_');
        }
        NodeId(Arc::from(s))
    }

    /// A random id (`node-` and 12 hex digits), different in every process.
    pub fn random() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.write_u32(std::process::id());
        NodeId::new(&format!("node-{:012x}", h.finish() & 0xffff_ffff_ffff))
    }

    /// The id of a server without a cluster adapter.
    pub fn local() -> Self {
        NodeId(Arc::from("local"))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for NodeId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for NodeId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A connection's address in the whole cluster: its node and its fd there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ConnAddr {
    /// The node that holds the connection.
    pub node: NodeId,
    /// Its fd on that node.
    pub fd: Fd,
}

impl fmt::Display for ConnAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.node, self.fd.get())
    }
}

/// A member of a room, as a cluster-wide membership query reports it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    /// Where the connection is.
    pub addr: ConnAddr,
    /// Its label ([`Connection::set_label`]), if it has one.
    pub label: Option<Arc<str>>,
}

/// Timings of a cluster: heartbeats, the bound on a dead node, queries, reconnects.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClusterSettings {
    /// How often a node says it is alive. Default 2 s.
    pub heartbeat: Duration,
    /// A node not heard from for this long is dead: it drops out of membership answers.
    /// Default 10 s.
    pub node_timeout: Duration,
    /// How long a membership query waits for the other nodes' answers. Default 1 s.
    pub query_timeout: Duration,
    /// The first wait before reconnecting to a lost store; doubled after each failure.
    /// Default 100 ms.
    pub reconnect_min: Duration,
    /// The longest wait between reconnects. Default 5 s.
    pub reconnect_max: Duration,
    /// Messages waiting to be published, at most (more are dropped and counted). Default 65,536.
    pub publish_queue: usize,
    /// The prefix of the store's channel names, so that several apps can share one store.
    /// Default `swoft-ws`.
    pub channel_prefix: String,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        ClusterSettings {
            heartbeat: Duration::from_secs(2),
            node_timeout: Duration::from_secs(10),
            query_timeout: Duration::from_secs(1),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            publish_queue: 65_536,
            channel_prefix: "swoft-ws".to_owned(),
        }
    }
}

impl ClusterSettings {
    /// Sets the heartbeat period and the time after which a silent node is dead (which must be
    /// longer; it is raised to twice the period if not).
    pub fn heartbeat(mut self, every: Duration, node_timeout: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(10));
        self.node_timeout = node_timeout.max(self.heartbeat * 2);
        self
    }

    /// Sets how long membership queries wait for answers.
    pub fn query_timeout(mut self, timeout: Duration) -> Self {
        self.query_timeout = timeout;
        self
    }

    /// Sets the reconnect backoff: from `min`, doubling, up to `max`.
    pub fn reconnect(mut self, min: Duration, max: Duration) -> Self {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }

    /// Sets the channel prefix.
    pub fn channel_prefix(mut self, prefix: &str) -> Self {
        prefix.clone_into(&mut self.channel_prefix);
        self
    }

    /// Sets the publish queue's capacity.
    pub fn publish_queue(mut self, messages: usize) -> Self {
        self.publish_queue = messages.max(1);
        self
    }
}

/// Where a node's messages for the other nodes go: the transport of a cluster.
///
/// An implementation carries opaque messages between the nodes that share it (the runtime
/// encodes and decodes them); it never blocks the caller. `swoft_ws::redis::RedisAdapter`
/// (feature `redis`) carries them over Redis pub/sub.
pub trait ClusterAdapter: Send + Sync + 'static {
    /// This node's id.
    fn node_id(&self) -> &NodeId;

    /// The cluster's timings.
    fn settings(&self) -> &ClusterSettings;

    /// Starts delivering the messages other nodes publish to `inbox`. Called once, when the app
    /// is built.
    fn start(&self, inbox: Inbox);

    /// Queues `msg` for every node (`to: None`; the sender may get it back) or for one node,
    /// and returns at once. A message that cannot be queued is counted and logged
    /// ([`CLUSTER_DROPPED`]), never silently lost.
    fn publish(&self, to: Option<&NodeId>, msg: Bytes);

    /// Whether the transport is up. While it is not, membership queries answer at once with
    /// this node's members only, instead of waiting for answers that cannot come.
    fn is_connected(&self) -> bool {
        true
    }

    /// How many messages are queued or being published, not yet handed to the transport's
    /// server (what a graceful stop waits for).
    fn unpublished(&self) -> usize {
        0
    }

    /// How many other nodes are live now (called when it changes): how many receivers a
    /// message for every node should reach, for transports that can tell how many it reached.
    fn peers_changed(&self, live: usize) {
        let _ = live;
    }
}

/// Where an adapter hands what it receives: the node's side of the transport.
#[derive(Clone)]
pub struct Inbox {
    node: Weak<ClusterNode>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

impl Inbox {
    /// Handles one message from another node (or one of this node's own, which is ignored).
    pub fn deliver(&self, msg: &[u8]) {
        if let Some(node) = self.node.upgrade() {
            node.receive(msg);
        }
    }

    /// The transport is back after an outage: announce this node now rather than at the next
    /// heartbeat.
    pub fn reconnected(&self) {
        if let Some(node) = self.node.upgrade() {
            node.metrics.reconnects.increment(1);
            node.heartbeat();
        }
    }

    /// Whether the node is gone (the app was dropped): the adapter's tasks may stop.
    pub fn is_closed(&self) -> bool {
        self.node.strong_count() == 0
    }
}

/// Handles for the cluster's metrics, registered once.
struct ClusterMetrics {
    published: Counter,
    received: Counter,
    query_timeouts: Counter,
    peers: Gauge,
    reconnects: Counter,
}

impl ClusterMetrics {
    fn new() -> Self {
        ClusterMetrics {
            published: counter!(CLUSTER_PUBLISHED),
            received: counter!(CLUSTER_RECEIVED),
            query_timeouts: counter!(CLUSTER_QUERY_TIMEOUTS),
            peers: gauge!(CLUSTER_PEERS),
            reconnects: counter!(CLUSTER_RECONNECTS),
        }
    }
}

/// Counts messages that could not be delivered (for adapters): `reason` is `unavailable`,
/// `queue_full` or `no_subscriber` (see [`CLUSTER_DROPPED`]).
pub fn count_dropped(reason: &'static str, n: u64) {
    counter!(CLUSTER_DROPPED, "reason" => reason).increment(n);
}

/// What a broadcast published to the other nodes targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireTarget<'a> {
    Room(&'a str),
    All,
    Module(&'a str),
    Fds(&'a [u32]),
}

/// A membership question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Question {
    Members = 0,
    Size = 1,
    Label = 2,
}

/// One node's answer.
#[derive(Debug)]
enum Answer {
    Members(Vec<(Fd, Option<Arc<str>>)>),
    Size(usize),
}

struct Pending {
    waiting: HashSet<NodeId>,
    answers: Vec<(NodeId, Answer)>,
    done: Option<oneshot::Sender<()>>,
}

/// The runtime's side of a cluster: heartbeats, the live nodes, queries and inbound messages.
pub(crate) struct ClusterNode {
    id: NodeId,
    adapter: Arc<dyn ClusterAdapter>,
    server: OnceLock<Weak<ServerInner>>,
    peers: Mutex<HashMap<NodeId, Instant>>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_query: AtomicU64,
    metrics: ClusterMetrics,
}

impl fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Drop for ClusterNode {
    fn drop(&mut self) {
        // The app is gone: tell the others now rather than let them wait for the timeout.
        self.goodbye();
    }
}

// Message kinds on the wire.
const VERSION: u8 = 1;
const K_HEARTBEAT: u8 = 1;
const K_GOODBYE: u8 = 2;
const K_BROADCAST: u8 = 3;
const K_DISCONNECT: u8 = 4;
const K_QUERY: u8 = 5;
const K_ANSWER: u8 = 6;

const P_PUSH: u8 = 0;
const P_TEXT: u8 = 1;
const P_BINARY: u8 = 2;

fn put_str(b: &mut BytesMut, s: &[u8]) {
    b.put_u32(s.len() as u32);
    b.put_slice(s);
}

/// A reader of the wire format that fails (None) on anything short or malformed.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Option<u8> {
        (self.0.remaining() >= 1).then(|| self.0.get_u8())
    }
    fn u16(&mut self) -> Option<u16> {
        (self.0.remaining() >= 2).then(|| self.0.get_u16())
    }
    fn u32(&mut self) -> Option<u32> {
        (self.0.remaining() >= 4).then(|| self.0.get_u32())
    }
    fn u64(&mut self) -> Option<u64> {
        (self.0.remaining() >= 8).then(|| self.0.get_u64())
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

impl ClusterNode {
    pub(crate) fn new(adapter: Arc<dyn ClusterAdapter>) -> Arc<Self> {
        Arc::new(ClusterNode {
            id: adapter.node_id().clone(),
            adapter,
            server: OnceLock::new(),
            peers: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_query: AtomicU64::new(1),
            metrics: ClusterMetrics::new(),
        })
    }

    pub(crate) fn id(&self) -> &NodeId {
        &self.id
    }

    /// Ties the node to its server and starts the adapter and the heartbeat task.
    pub(crate) fn attach(self: &Arc<Self>, server: &Server) {
        if self.server.set(server.downgrade()).is_err() {
            return;
        }
        self.adapter.start(Inbox {
            node: Arc::downgrade(self),
        });
        let weak = Arc::downgrade(self);
        let every = self.adapter.settings().heartbeat;
        let handle = tokio::runtime::Handle::try_current()
            .expect("an app with a cluster adapter must be built inside a tokio runtime");
        handle.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for _ in 0..u64::MAX {
                tick.tick().await;
                let Some(node) = weak.upgrade() else { break };
                node.heartbeat();
                node.prune();
            }
        });
        tracing::info!(node = %self.id, "cluster node started");
    }

    fn header(&self, kind: u8, cap: usize) -> BytesMut {
        let mut b = BytesMut::with_capacity(8 + self.id.0.len() + cap);
        b.put_u8(VERSION);
        b.put_u8(kind);
        put_str(&mut b, self.id.0.as_bytes());
        b
    }

    fn publish(&self, to: Option<&NodeId>, msg: BytesMut) {
        self.metrics.published.increment(1);
        self.adapter.publish(to, msg.freeze());
    }

    fn heartbeat(&self) {
        self.publish(None, self.header(K_HEARTBEAT, 0));
    }

    /// Waits until the adapter published what is queued, at most `within`.
    pub(crate) async fn flush(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.adapter.unpublished() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Says goodbye: the others drop this node at once.
    pub(crate) fn goodbye(&self) {
        self.publish(None, self.header(K_GOODBYE, 0));
    }

    fn prune(&self) {
        let timeout = self.adapter.settings().node_timeout;
        let mut gone = Vec::new();
        let n = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            peers.retain(|id, seen| {
                let alive = seen.elapsed() < timeout;
                if !alive {
                    gone.push(id.clone());
                }
                alive
            });
            peers.len()
        };
        self.metrics.peers.set(n as f64);
        if !gone.is_empty() {
            self.adapter.peers_changed(n);
        }
        for id in gone {
            tracing::warn!(node = %self.id, peer = %id, ?timeout, "cluster node silent: dropped from the cluster");
            self.forget_in_queries(&id);
        }
    }

    fn peers_changed(&self) {
        let n = self
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        self.metrics.peers.set(n as f64);
        self.adapter.peers_changed(n);
    }

    fn forget_in_queries(&self, id: &NodeId) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        for p in pending.values_mut() {
            if p.waiting.remove(id) && p.waiting.is_empty() {
                if let Some(tx) = p.done.take() {
                    let _ = tx.send(());
                }
            }
        }
    }

    /// The other nodes heard from within the node timeout.
    pub(crate) fn live_peers(&self) -> Vec<NodeId> {
        let timeout = self.adapter.settings().node_timeout;
        let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers
            .iter()
            .filter(|(_, seen)| seen.elapsed() < timeout)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Publishes a broadcast for the other nodes (never waits).
    pub(crate) fn broadcast(
        &self,
        to: Option<&NodeId>,
        target: WireTarget<'_>,
        except: &[ConnAddr],
        payload: &Payload<'_>,
    ) {
        let mut b = self.header(K_BROADCAST, payload.len_hint() + 32);
        match target {
            WireTarget::Room(r) => {
                b.put_u8(0);
                put_str(&mut b, r.as_bytes());
            }
            WireTarget::All => b.put_u8(1),
            WireTarget::Module(p) => {
                b.put_u8(2);
                put_str(&mut b, p.as_bytes());
            }
            WireTarget::Fds(fds) => {
                b.put_u8(3);
                b.put_u32(fds.len() as u32);
                fds.iter().for_each(|fd| b.put_u32(*fd));
            }
        }
        let except: Vec<&ConnAddr> = except.iter().filter(|a| a.node != self.id).collect();
        b.put_u32(except.len() as u32);
        for a in except {
            put_str(&mut b, a.node.0.as_bytes());
            b.put_u32(a.fd.get());
        }
        match payload {
            Payload::Push {
                command,
                data,
                frame,
            } => {
                b.put_u8(P_PUSH);
                put_str(&mut b, command.as_bytes());
                put_str(&mut b, data.as_bytes());
                match frame {
                    Some((parser, m)) => {
                        b.put_u8(1);
                        put_str(&mut b, parser.as_bytes());
                        put_frame(&mut b, m);
                    }
                    None => b.put_u8(0),
                }
            }
            Payload::Raw(m) => put_frame(&mut b, m),
        }
        self.publish(to, b);
    }

    /// Asks a connection on another node to close.
    pub(crate) fn disconnect(&self, addr: &ConnAddr, code: u16, reason: &str) {
        let mut b = self.header(K_DISCONNECT, 8 + reason.len());
        b.put_u32(addr.fd.get());
        b.put_u16(code);
        put_str(&mut b, reason.as_bytes());
        self.publish(Some(&addr.node), b);
    }

    /// Asks every live node `q` about `arg`; waits for all of them or the query timeout.
    async fn ask(&self, q: Question, arg: &str) -> Vec<(NodeId, Answer)> {
        let peers = self.live_peers();
        if peers.is_empty() {
            return Vec::new();
        }
        if !self.adapter.is_connected() {
            self.metrics.query_timeouts.increment(1);
            tracing::debug!(node = %self.id, "cluster query answered locally: the transport is down");
            return Vec::new();
        }
        let id = self.next_query.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                id,
                Pending {
                    waiting: peers.into_iter().collect(),
                    answers: Vec::new(),
                    done: Some(tx),
                },
            );
        let mut b = self.header(K_QUERY, 16 + arg.len());
        b.put_u64(id);
        b.put_u8(q as u8);
        put_str(&mut b, arg.as_bytes());
        self.publish(None, b);
        let timeout = self.adapter.settings().query_timeout;
        let timed_out = tokio::time::timeout(timeout, rx).await.is_err();
        let p = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&id);
        let Some(p) = p else { return Vec::new() };
        if timed_out && !p.waiting.is_empty() {
            self.metrics.query_timeouts.increment(1);
            tracing::warn!(node = %self.id, missing = ?p.waiting, ?timeout, "cluster query: some nodes did not answer in time");
        }
        p.answers
    }

    /// The members of `room` on the other live nodes.
    pub(crate) async fn members(&self, room: &str) -> Vec<Member> {
        let mut v = Vec::new();
        for (node, a) in self.ask(Question::Members, room).await {
            if let Answer::Members(m) = a {
                v.extend(m.into_iter().map(|(fd, label)| Member {
                    addr: ConnAddr {
                        node: node.clone(),
                        fd,
                    },
                    label,
                }));
            }
        }
        v
    }

    /// How many members `room` has on the other live nodes.
    pub(crate) async fn size(&self, room: &str) -> usize {
        self.ask(Question::Size, room)
            .await
            .into_iter()
            .map(|(_, a)| match a {
                Answer::Size(n) => n,
                Answer::Members(m) => m.len(),
            })
            .sum()
    }

    /// The connections labelled `label` on the other live nodes.
    pub(crate) async fn find_label(&self, label: &str) -> Vec<ConnAddr> {
        let mut v = Vec::new();
        for (node, a) in self.ask(Question::Label, label).await {
            if let Answer::Members(m) = a {
                v.extend(m.into_iter().map(|(fd, _)| ConnAddr {
                    node: node.clone(),
                    fd,
                }));
            }
        }
        v
    }

    fn server(&self) -> Option<Server> {
        Server::upgrade(self.server.get()?)
    }

    /// Handles a message from the transport.
    fn receive(&self, msg: &[u8]) {
        let mut r = Reader(msg);
        let (Some(VERSION), Some(kind), Some(origin)) = (r.u8(), r.u8(), r.str()) else {
            tracing::debug!(
                len = msg.len(),
                "cluster: message in an unknown format ignored"
            );
            return;
        };
        if origin == &*self.id.0 {
            return;
        }
        self.metrics.received.increment(1);
        // Any message from a known node is a sign of life; only a heartbeat makes a node known
        // (so a stray message cannot make queries wait for a node that does not exist).
        let known = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            match peers.get_mut(origin) {
                Some(seen) => {
                    *seen = Instant::now();
                    true
                }
                None => false,
            }
        };
        let origin = NodeId(Arc::from(origin));
        let ok = match kind {
            K_HEARTBEAT => {
                if !known {
                    self.peers
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(origin.clone(), Instant::now());
                    self.peers_changed();
                    tracing::info!(node = %self.id, peer = %origin, "cluster node joined");
                    // Let the newcomer know about this node now, not at its next heartbeat.
                    self.heartbeat();
                }
                Some(())
            }
            K_GOODBYE => {
                let removed = self
                    .peers
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&origin)
                    .is_some();
                if removed {
                    self.peers_changed();
                    tracing::info!(node = %self.id, peer = %origin, "cluster node left");
                }
                self.forget_in_queries(&origin);
                Some(())
            }
            K_BROADCAST => self.on_broadcast(r),
            K_DISCONNECT => (|| {
                let fd = Fd::new(r.u32()?);
                let code = r.u16()?;
                let reason = r.str()?;
                if let Some(c) = self.server()?.connection(fd) {
                    c.close(code, reason);
                }
                Some(())
            })(),
            K_QUERY => self.on_query(&origin, r),
            K_ANSWER => self.on_answer(&origin, r),
            _ => None,
        };
        if ok.is_none() {
            tracing::debug!(peer = %origin, kind, "cluster: malformed message ignored");
        }
    }

    fn on_broadcast(&self, mut r: Reader<'_>) -> Option<()> {
        let server = self.server()?;
        let tag = r.u8()?;
        let mut fds = Vec::new();
        let name = match tag {
            0 | 2 => r.str()?,
            1 => "",
            3 => {
                let n = r.u32()? as usize;
                for _ in 0..n.min(r.0.len() / 4) {
                    fds.push(Fd::new(r.u32()?));
                }
                ""
            }
            _ => return None,
        };
        let n = r.u32()? as usize;
        let mut except = Vec::new();
        for _ in 0..n.min(r.0.len() / 8) {
            let node = r.str()?;
            let fd = r.u32()?;
            if node == &*self.id.0 {
                except.push(Fd::new(fd));
            }
        }
        let payload = match r.u8()? {
            P_PUSH => {
                let command = r.str()?;
                let data = r.str()?;
                let frame = match r.u8()? {
                    1 => {
                        let parser = r.str()?;
                        let kind = r.u8()?;
                        Some((parser, get_frame(kind, r.bytes()?)?))
                    }
                    _ => None,
                };
                Payload::Push {
                    command,
                    data: std::borrow::Cow::Borrowed(data),
                    frame,
                }
            }
            kind => Payload::Raw(get_frame(kind, r.bytes()?)?),
        };
        let b = match tag {
            0 => Broadcast::room(&server, name),
            1 => Broadcast::all(&server),
            2 => Broadcast::module(&server, name),
            _ => Broadcast::fds(&server, &fds),
        };
        b.local().except_all(except).deliver(&payload);
        Some(())
    }

    fn on_query(&self, origin: &NodeId, mut r: Reader<'_>) -> Option<()> {
        let id = r.u64()?;
        let q = r.u8()?;
        let arg = r.str()?;
        let server = self.server()?;
        let rooms = server.rooms();
        let mut b = self.header(K_ANSWER, 64);
        b.put_u64(id);
        match q {
            0 => {
                let m = rooms.local_members_labelled(arg);
                b.put_u8(0);
                b.put_u32(m.len() as u32);
                for (fd, label) in m {
                    b.put_u32(fd.get());
                    put_str(&mut b, label.as_deref().unwrap_or("").as_bytes());
                }
            }
            1 => {
                b.put_u8(1);
                b.put_u32(rooms.size(arg) as u32);
            }
            2 => {
                let fds = rooms.labelled(arg);
                b.put_u8(0);
                b.put_u32(fds.len() as u32);
                for fd in fds {
                    b.put_u32(fd.get());
                    put_str(&mut b, arg.as_bytes());
                }
            }
            _ => return None,
        }
        self.publish(Some(origin), b);
        Some(())
    }

    fn on_answer(&self, origin: &NodeId, mut r: Reader<'_>) -> Option<()> {
        let id = r.u64()?;
        let answer = match r.u8()? {
            0 => {
                let n = r.u32()? as usize;
                let mut m = Vec::with_capacity(n.min(r.0.len() / 8));
                for _ in 0..n {
                    let fd = Fd::new(r.u32()?);
                    let label = r.str()?;
                    m.push((fd, (!label.is_empty()).then(|| Arc::from(label))));
                }
                Answer::Members(m)
            }
            1 => Answer::Size(r.u32()? as usize),
            _ => return None,
        };
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = pending.get_mut(&id) {
            if p.waiting.remove(origin) {
                p.answers.push((origin.clone(), answer));
            }
            if p.waiting.is_empty() {
                if let Some(tx) = p.done.take() {
                    let _ = tx.send(());
                }
            }
        }
        Some(())
    }
}

fn put_frame(b: &mut BytesMut, m: &Message) {
    match m {
        Message::Text(t) => {
            b.put_u8(P_TEXT);
            put_str(b, t.as_bytes());
        }
        Message::Binary(x) => {
            b.put_u8(P_BINARY);
            put_str(b, x);
        }
        _ => {
            b.put_u8(P_BINARY);
            put_str(b, &[]);
        }
    }
}

fn get_frame(kind: u8, bytes: &[u8]) -> Option<Message> {
    match kind {
        P_TEXT => Some(Message::Text(Utf8Bytes::from(
            std::str::from_utf8(bytes).ok()?,
        ))),
        P_BINARY => Some(Message::Binary(Bytes::copy_from_slice(bytes))),
        _ => None,
    }
}

impl Connection {
    /// This connection's address in the whole cluster (its node and fd).
    pub fn addr(&self) -> ConnAddr {
        ConnAddr {
            node: self.server().node_id().clone(),
            fd: self.fd(),
        }
    }

    /// Sets this connection's label (e.g. a user name): what cluster-wide membership queries
    /// report with it ([`Rooms::cluster_members`](crate::Rooms::cluster_members)) and what
    /// [`Rooms::find_label`](crate::Rooms::find_label) finds it by. Kept until it closes.
    pub fn set_label(&self, label: &str) {
        self.server().rooms().set_label(self.fd(), label);
    }

    /// This connection's label, if it has one.
    pub fn label(&self) -> Option<Arc<str>> {
        self.server().rooms().label(self.fd())
    }
}

impl Server {
    /// This node's id in the cluster ([`NodeId::local`] without a cluster adapter).
    pub fn node_id(&self) -> &NodeId {
        self.rooms().node_id()
    }

    /// Whether `addr` is on this node.
    pub fn is_local(&self, addr: &ConnAddr) -> bool {
        &addr.node == self.node_id()
    }

    /// Ids of the other nodes this node considers live (empty without a cluster adapter).
    pub fn peers(&self) -> Vec<NodeId> {
        let mut v = self
            .rooms()
            .cluster()
            .map(|c| c.live_peers())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A push to the connections at these addresses, wherever they are.
    pub fn to_addrs<'a>(&'a self, addrs: &'a [ConnAddr]) -> Broadcast<'a> {
        Broadcast::addrs(self, addrs)
    }

    /// Sends a frame, as it is, to the connection at `addr`, wherever it is. For another node,
    /// `Ok` means it was handed to the adapter (a connection that is gone by then is not
    /// reported back).
    pub fn send_to_addr(&self, addr: &ConnAddr, msg: RawMessage) -> Result<(), SendError> {
        if self.is_local(addr) {
            return self.send_to(addr.fd, msg);
        }
        if self.rooms().cluster().is_none() {
            return Err(SendError::NoSuchFd(addr.fd));
        }
        let _ = self.to_addrs(std::slice::from_ref(addr)).send(msg);
        Ok(())
    }

    /// Pushes `{"cmd": command, "data": data}` to the connection at `addr`, wherever it is
    /// (see [`send_to_addr`](Self::send_to_addr)).
    pub fn push_to_addr<T: Serialize + ?Sized>(
        &self,
        addr: &ConnAddr,
        command: &str,
        data: &T,
    ) -> Result<(), SendError> {
        if self.is_local(addr) {
            return self.push_to(addr.fd, command, data);
        }
        if self.rooms().cluster().is_none() {
            return Err(SendError::NoSuchFd(addr.fd));
        }
        self.to_addrs(std::slice::from_ref(addr))
            .push(command, data)
            .map(|_| ())
    }

    /// Closes the connection at `addr`, wherever it is.
    pub fn disconnect_addr(
        &self,
        addr: &ConnAddr,
        code: u16,
        reason: &str,
    ) -> Result<(), SendError> {
        if self.is_local(addr) {
            return self.disconnect(addr.fd, code, reason);
        }
        match self.rooms().cluster() {
            Some(c) => {
                c.disconnect(addr, code, reason);
                Ok(())
            }
            None => Err(SendError::NoSuchFd(addr.fd)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_are_sanitized_and_random_ones_differ() {
        assert_eq!(NodeId::new("a-1.b:c_d").as_str(), "a-1.b:c_d");
        assert_eq!(NodeId::new("a b/#").as_str(), "a_b__");
        assert_eq!(NodeId::new("").as_str(), "_");
        assert_eq!(NodeId::new(&"x".repeat(100)).as_str().len(), 64);
        let (a, b) = (NodeId::random(), NodeId::random());
        assert!(a.as_str().starts_with("node-") && a != b, "{a} {b}");
    }

    #[test]
    fn the_reader_fails_on_anything_short() {
        let mut b = BytesMut::new();
        b.put_u8(7);
        put_str(&mut b, b"abc");
        b.put_u64(9);
        let full = b.freeze();
        let mut r = Reader(&full);
        assert_eq!(
            (r.u8(), r.str(), r.u64(), r.u8()),
            (Some(7), Some("abc"), Some(9), None)
        );
        for cut in 0..full.len() {
            let mut r = Reader(&full[..cut]);
            let parsed = (|| Some((r.u8()?, r.str()?, r.u64()?)))();
            assert!(parsed.is_none(), "cut at {cut}");
        }
        // A length larger than what is left.
        let mut r = Reader(&[0, 0, 1, 0, b'a']);
        assert_eq!(r.bytes(), None);
    }
}
