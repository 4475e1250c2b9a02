//! The seam between the runtime and a cluster: the addresses of connections on any node, and
//! the [`Remote`] trait through which rooms and broadcasts reach the other nodes. `cluster/`
//! implements it; nothing in the runtime names the cluster.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::runtime::ack::AckError;
use crate::runtime::broadcast::{Broadcast, Payload};
use crate::runtime::connection::{Connection, SendError};
use crate::runtime::fd::Fd;
use crate::runtime::middleware::BoxFuture;
use crate::runtime::server::Server;
use crate::ws::RawMessage;

/// A node's name in the cluster: unique among the nodes that share a store.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(Arc<str>);

impl NodeId {
    /// An id as another node sent it (already sanitized by that node).
    pub(crate) fn from_wire(id: &str) -> Self {
        NodeId(Arc::from(id))
    }

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

    /// The id as text: what the channel names and logs carry (ASCII letters, digits, `-._:`,
    /// at most 64 bytes).
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

/// What this node's side of a cluster counted since it started ([`Server::cluster_stats`]):
/// all 0 without a cluster adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Other nodes considered live now (as [`Server::peers`]).
    pub peers: usize,
    /// Other processes heard using this node's id, each counted once: node ids must be
    /// unique, and messages for a shared id reach both processes or neither. Also
    /// `swoft_ws_cluster_node_id_collisions_total`, and an `error` log line.
    pub node_id_collisions: u64,
    /// Messages from the transport that were not this format or were cut short.
    pub rejected_malformed: u64,
    /// Messages without a signature, dropped because this node has a secret.
    pub rejected_unsigned: u64,
    /// Messages whose signature did not match (another secret, or altered on the way).
    pub rejected_bad_signature: u64,
    /// Signed messages, dropped because this node has no secret.
    pub rejected_no_secret: u64,
    /// Messages from another process using this node's id, dropped.
    pub rejected_node_id_collision: u64,
}

/// What a broadcast published to the other nodes targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireTarget<'a> {
    Room(&'a str),
    All,
    Module(&'a str),
    Fds(&'a [u32]),
}

/// The other nodes, as the runtime sees them: implemented by the cluster's node
/// (`cluster::ClusterNode`). Every method returns at once but the queries, which wait at
/// most the cluster's query timeout.
pub(crate) trait Remote: Send + Sync + fmt::Debug {
    /// This node's id.
    fn id(&self) -> &NodeId;
    /// Ties the node to its server and starts its transport and heartbeat.
    fn attach(self: Arc<Self>, server: &Server);
    /// Tells the other nodes this one is leaving.
    fn goodbye(&self);
    /// Waits until what is queued for the other nodes is published, at most `within`.
    fn flush(&self, within: Duration) -> BoxFuture<'_, ()>;
    /// The other nodes heard from within the node timeout.
    fn live_peers(&self) -> Vec<NodeId>;
    /// Publishes a broadcast for the other nodes (never waits).
    fn broadcast(
        &self,
        to: Option<&NodeId>,
        target: WireTarget<'_>,
        except: &[ConnAddr],
        payload: &Payload<'_>,
    );
    /// Asks the node of `addr` to close that connection.
    fn disconnect(&self, addr: &ConnAddr, code: u16, reason: &str);
    /// The members of `room` on the other nodes.
    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<Member>>;
    /// How many members `room` has on the other nodes.
    fn size<'a>(&'a self, room: &'a str) -> BoxFuture<'a, usize>;
    /// The connections labelled `label` on the other nodes.
    fn find_label<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Vec<ConnAddr>>;
    /// What the node counted.
    fn stats(&self) -> ClusterStats;
    /// Asks the receivers of `target` on the other nodes (or on node `to` only) and gathers
    /// their answers: each node asks its own and answers with all their results.
    #[allow(clippy::too_many_arguments)]
    fn request<'a>(
        &'a self,
        to: Option<&'a NodeId>,
        target: WireTarget<'a>,
        except: &'a [ConnAddr],
        command: &'a str,
        data: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Vec<(ConnAddr, Result<String, AckError>)>>;
    /// Whether pushes to resumable sessions go through the cluster's shared log (a Redis
    /// stream): then every node delivers them in the log's order, with its ids as offsets.
    fn shared_log(&self) -> bool {
        false
    }
    /// Appends a push to the shared log (never waits); every node, this one too, delivers it
    /// from the log.
    fn log_push(&self, push: &LogPush<'_>) {
        let _ = push;
    }
    /// Keeps a dropped session's record in the shared store for `window`.
    fn save_session(
        &self,
        token: &str,
        record: String,
        window: Duration,
    ) -> BoxFuture<'static, bool> {
        let _ = (token, record, window);
        Box::pin(async { false })
    }
    /// Takes a session's record out of the shared store.
    fn take_session(&self, token: &str) -> BoxFuture<'static, Taken> {
        let _ = token;
        Box::pin(async { Taken::Unknown })
    }
    /// Deletes a session's record from the shared store (its node let go of it).
    fn delete_session(&self, token: &str) -> BoxFuture<'static, ()> {
        let _ = token;
        Box::pin(async {})
    }
    /// Asks the other nodes for session `token` of module `module`: the node that holds it
    /// (live on a half-open connection, which it closes with 4000, or dropped) hands its
    /// record over and forgets it, unless `off` (the offset the client says it saw) is not
    /// one it issued to that session: then it answers `Gone` and keeps it.
    fn hand_over_session<'a>(
        &'a self,
        module: &'a str,
        token: &'a str,
        off: Option<u64>,
    ) -> BoxFuture<'a, Taken> {
        let _ = (module, token, off);
        Box::pin(async { Taken::Unknown })
    }
}

/// A push for the shared log.
#[derive(Debug)]
pub(crate) struct LogPush<'a> {
    /// For a push to connections: the node they are on.
    pub(crate) to: Option<&'a NodeId>,
    pub(crate) target: WireTarget<'a>,
    pub(crate) except: &'a [ConnAddr],
    /// The module a push to connections or to a module is for.
    pub(crate) module: Option<&'a str>,
    /// The session a push to one connection is for (0: none).
    pub(crate) session: u64,
    pub(crate) command: &'a str,
    pub(crate) data: &'a str,
    pub(crate) ext: Option<&'a str>,
}

/// What the shared store holds of a session token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Its record (taken out: a token resumes once).
    Found(String),
    /// It was dropped longer than its window ago.
    Expired,
    /// Nothing (never stored, or the store could not be reached).
    Unknown,
    /// A node handed it over to a resume moments ago: another resume of the token is refused.
    Gone,
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
    ///
    /// Whether it was set: a connection that is closing (or closed: a handle kept after the
    /// close) is refused, as [`join`](Self::join) is, so a label never names an fd the
    /// connection no longer holds. Concurrent calls are atomic: the last one wins, and the
    /// connection is found under that label only.
    pub fn set_label(&self, label: &str) -> bool {
        self.server().rooms().set_label(self, label)
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

    /// What this node's side of the cluster counted: live peers, node id collisions, and the
    /// messages from other nodes it dropped, by reason (all 0 without a cluster adapter).
    pub fn cluster_stats(&self) -> ClusterStats {
        self.rooms()
            .cluster()
            .map(|c| c.stats())
            .unwrap_or_default()
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
}
