//! The runtime's side of a cluster: heartbeats, the live nodes, membership queries and inbound
//! messages. Plugged into the runtime as its [`Remote`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tokio::sync::oneshot;

use crate::cluster::adapter::{ClusterAdapter, Inbox, Receiver};
use crate::cluster::packet::*;
use crate::runtime::broadcast::{Broadcast, Payload};
use crate::runtime::fd::Fd;
use crate::runtime::metrics::ClusterMetrics;
use crate::runtime::middleware::BoxFuture;
use crate::runtime::remote::{ConnAddr, Member, NodeId, Remote, WireTarget};
use crate::runtime::server::{Server, WeakServer};

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

/// A pending query's entry, removed when this is dropped.
struct PendingEntry<'a> {
    pending: &'a Mutex<HashMap<u64, Pending>>,
    id: u64,
}

impl PendingEntry<'_> {
    fn take(&self) -> Option<Pending> {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id)
    }
}

impl Drop for PendingEntry<'_> {
    fn drop(&mut self) {
        self.take();
    }
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
    server: OnceLock<WeakServer>,
    peers: Mutex<HashMap<NodeId, Instant>>,
    pending: Mutex<HashMap<u64, Pending>>,
    next_query: AtomicU64,
    pub(super) metrics: ClusterMetrics,
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

    fn id(&self) -> &NodeId {
        &self.id
    }

    /// Ties the node to its server and starts the adapter and the heartbeat task.
    fn attach(self: &Arc<Self>, server: &Server) {
        if self.server.set(server.downgrade()).is_err() {
            return;
        }
        let receiver: Weak<dyn Receiver> = Arc::downgrade(self) as Weak<ClusterNode>;
        self.adapter.start(Inbox::new(receiver));
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
        let mut b = BytesMut::with_capacity(8 + self.id.as_str().len() + cap);
        b.put_u8(VERSION);
        b.put_u8(kind);
        put_str(&mut b, self.id.as_str().as_bytes());
        b
    }

    fn publish(&self, to: Option<&NodeId>, msg: BytesMut) {
        self.metrics.published.increment(1);
        self.adapter.publish(to, msg.freeze());
    }

    pub(super) fn heartbeat(&self) {
        self.publish(None, self.header(K_HEARTBEAT, 0));
    }

    /// Waits until the adapter published what is queued, at most `within`.
    async fn flush(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.adapter.unpublished() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Says goodbye: the others drop this node at once.
    fn goodbye(&self) {
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
    fn live_peers(&self) -> Vec<NodeId> {
        let timeout = self.adapter.settings().node_timeout;
        let peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
        peers
            .iter()
            .filter(|(_, seen)| seen.elapsed() < timeout)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Publishes a broadcast for the other nodes (never waits).
    fn broadcast(
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
            put_str(&mut b, a.node.as_str().as_bytes());
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
    fn disconnect(&self, addr: &ConnAddr, code: u16, reason: &str) {
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
        // Removed however `ask` ends: also when its future is dropped while it waits (a
        // handler timeout shorter than the query timeout), so no entry is left behind.
        let entry = PendingEntry {
            pending: &self.pending,
            id,
        };
        let mut b = self.header(K_QUERY, 16 + arg.len());
        b.put_u64(id);
        b.put_u8(q as u8);
        put_str(&mut b, arg.as_bytes());
        self.publish(None, b);
        let timeout = self.adapter.settings().query_timeout;
        let timed_out = tokio::time::timeout(timeout, rx).await.is_err();
        let Some(p) = entry.take() else {
            return Vec::new();
        };
        if timed_out && !p.waiting.is_empty() {
            self.metrics.query_timeouts.increment(1);
            tracing::warn!(node = %self.id, missing = ?p.waiting, ?timeout, "cluster query: some nodes did not answer in time");
        }
        p.answers
    }

    /// The members of `room` on the other live nodes.
    async fn members(&self, room: &str) -> Vec<Member> {
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
    async fn size(&self, room: &str) -> usize {
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
    async fn find_label(&self, label: &str) -> Vec<ConnAddr> {
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
    pub(super) fn receive(&self, msg: &[u8]) {
        let mut r = Reader(msg);
        let (Some(VERSION), Some(kind), Some(origin)) = (r.u8(), r.u8(), r.str()) else {
            tracing::debug!(
                len = msg.len(),
                "cluster: message in an unknown format ignored"
            );
            return;
        };
        if origin == self.id.as_str() {
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
        let origin = NodeId::from_wire(origin);
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
            if node == self.id.as_str() {
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

impl Remote for ClusterNode {
    fn id(&self) -> &NodeId {
        ClusterNode::id(self)
    }

    fn attach(self: Arc<Self>, server: &Server) {
        ClusterNode::attach(&self, server);
    }

    fn goodbye(&self) {
        ClusterNode::goodbye(self);
    }

    fn flush(&self, within: Duration) -> BoxFuture<'_, ()> {
        Box::pin(ClusterNode::flush(self, within))
    }

    fn live_peers(&self) -> Vec<NodeId> {
        ClusterNode::live_peers(self)
    }

    fn broadcast(
        &self,
        to: Option<&NodeId>,
        target: WireTarget<'_>,
        except: &[ConnAddr],
        payload: &Payload<'_>,
    ) {
        ClusterNode::broadcast(self, to, target, except, payload);
    }

    fn disconnect(&self, addr: &ConnAddr, code: u16, reason: &str) {
        ClusterNode::disconnect(self, addr, code, reason);
    }

    fn members<'a>(&'a self, room: &'a str) -> BoxFuture<'a, Vec<Member>> {
        Box::pin(ClusterNode::members(self, room))
    }

    fn size<'a>(&'a self, room: &'a str) -> BoxFuture<'a, usize> {
        Box::pin(ClusterNode::size(self, room))
    }

    fn find_label<'a>(&'a self, label: &'a str) -> BoxFuture<'a, Vec<ConnAddr>> {
        Box::pin(ClusterNode::find_label(self, label))
    }
}

impl Receiver for ClusterNode {
    fn receive(&self, msg: &[u8]) {
        ClusterNode::receive(self, msg);
    }

    fn reconnected(&self) {
        self.metrics.reconnects.increment(1);
        self.heartbeat();
    }
}
