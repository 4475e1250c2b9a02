//! The extension point of a cluster: [`ClusterAdapter`], a transport that carries opaque
//! messages between nodes, and the [`Inbox`] it hands what arrives to.

use std::fmt;
use std::sync::Weak;

use bytes::Bytes;
use metrics::counter;

use crate::cluster::ClusterSettings;
use crate::runtime::metrics::CLUSTER_DROPPED;
use crate::runtime::remote::NodeId;

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

    /// Where pushes to resumable sessions and the records of dropped sessions are shared
    /// between the nodes, so that a session resumes on any node (`RedisAdapter`: a Redis
    /// stream and keys). `None` (the default): sessions resume only on their own node.
    #[doc(hidden)]
    fn shared_log(&self) -> Option<crate::cluster::history::SharedLog> {
        None
    }
}

/// Where an adapter hands what it receives: the node's side of the transport.
#[derive(Clone)]
pub struct Inbox {
    node: Weak<dyn Receiver>,
}

impl fmt::Debug for Inbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inbox").finish_non_exhaustive()
    }
}

/// What an [`Inbox`] hands messages to: the cluster's node (implemented in `node.rs`, which
/// this file does not name, so that the transport's contract stands on its own).
pub(crate) trait Receiver: Send + Sync {
    /// Handles one message from the transport.
    fn receive(&self, msg: &[u8]);
    /// The transport is back after an outage.
    fn reconnected(&self);
}

impl Inbox {
    pub(crate) fn new(node: Weak<dyn Receiver>) -> Self {
        Inbox { node }
    }

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
            node.reconnected();
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
