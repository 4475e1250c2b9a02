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
//! - **Node ids are unique.** Every process tags what it publishes with a random instance tag.
//!   A node that hears its own id with another tag logs an error
//!   (`node id … is used by another process`), counts it in
//!   `swoft_ws_cluster_node_id_collisions_total` and [`ClusterStats::node_id_collisions`], and
//!   answers with a heartbeat so that the other process learns it too; messages from that
//!   process are dropped (`swoft_ws_cluster_rejected_total{reason="node_id_collision"}`).
//!   `RedisAdapter::connect` refuses to start a node whose id is already subscribed.
//! - **Trust.** Without a secret, whoever can publish on the store's channels can act as any
//!   node: push to or close any connection, answer membership queries. With
//!   [`ClusterSettings::secret`] (feature `redis`) every message is signed with HMAC-SHA256 and
//!   a node drops (and counts, in `swoft_ws_cluster_rejected_total{reason}` and
//!   [`ClusterStats`]) what is unsigned or signed with another secret. The secret
//!   authenticates; it does not encrypt, and it does not stop the replay of a message recorded
//!   off the channels (see `ARCHITECTURE.md`, "Several nodes").

mod adapter;
mod inbound;
mod node;
mod packet;
#[cfg(feature = "redis")]
pub mod redis;
mod requests;
mod sign;

use std::time::Duration;

pub use self::adapter::{ClusterAdapter, Inbox, count_dropped};
pub(crate) use self::node::ClusterNode;
pub use crate::runtime::remote::{ClusterStats, ConnAddr, Member, NodeId};

/// The shortest secret [`ClusterSettings::secret`] takes, in bytes (128 bits).
pub const MIN_SECRET_LEN: usize = 16;

/// Timings of a cluster (heartbeats, the bound on a dead node, queries, reconnects), its
/// channels, and the secret that signs what the nodes send each other.
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
    /// The shared secret that signs every message between nodes (`secret(..)`, feature
    /// `redis`; always `None` without it).
    pub(crate) secret: Option<sign::Secret>,
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
            secret: None,
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

    /// Signs every message this node sends to the others with HMAC-SHA256 under `secret`, and
    /// makes it drop every message that is not signed under the same secret (counted in
    /// `swoft_ws_cluster_rejected_total{reason}` — `unsigned`, `bad_signature` — and in
    /// [`ClusterStats`], logged at `warn` at most once per 10 s). Every node of the cluster
    /// needs the same secret: a node without one drops signed messages (`reason="no_secret"`).
    ///
    /// At least [`MIN_SECRET_LEN`] (16) bytes, else `RedisAdapter::connect` fails; 32 random
    /// bytes are best. It authenticates the messages (no one without the secret can forge or
    /// alter one); it does not encrypt them, and a message recorded off the channels can be
    /// published again (no replay protection). Feature `redis`.
    #[cfg(feature = "redis")]
    pub fn secret(mut self, secret: impl AsRef<[u8]>) -> Self {
        self.secret = Some(sign::Secret::new(secret.as_ref()));
        self
    }

    /// Whether messages between nodes are signed (`secret(..)`; never without the feature
    /// `redis`).
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }
}
