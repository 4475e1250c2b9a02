//! Several nodes: rooms, pushes and broadcasts across servers.
//!
//! One process needs nothing from here: rooms live in its memory
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
//! [`Connection::addr`](crate::Connection::addr)); its label ([`Connection::set_label`](crate::Connection::set_label), e.g. a user name) is what
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

mod node;
mod packet;
#[cfg(feature = "redis")]
pub mod redis;

use std::fmt;
use std::sync::Weak;
use std::time::Duration;

use bytes::Bytes;
use metrics::counter;

use crate::runtime::metrics::CLUSTER_DROPPED;

pub(crate) use self::node::ClusterNode;
pub use crate::runtime::remote::{ConnAddr, Member, NodeId};

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
    /// (`swoft_ws_cluster_dropped_total`), never silently lost.
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
    pub(super) node: Weak<ClusterNode>,
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

/// Counts messages that could not be delivered (for adapters): `reason` is `unavailable`,
/// `queue_full` or `no_subscriber` (counted in `swoft_ws_cluster_dropped_total`).
pub fn count_dropped(reason: &'static str, n: u64) {
    counter!(CLUSTER_DROPPED, "reason" => reason).increment(n);
}
