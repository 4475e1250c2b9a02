//! The runtime's side of a cluster: heartbeats, the live nodes, membership queries and inbound
//! messages. Plugged into the runtime as its [`Remote`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use metrics::Counter;
use tokio::sync::oneshot;

use crate::cluster::adapter::{ClusterAdapter, Inbox, Receiver};
use crate::cluster::packet::*;
use crate::cluster::sign::{Rejected, Signer};
use crate::runtime::broadcast::Payload;
use crate::runtime::fd::Fd;
use crate::runtime::metrics::{ClusterMetrics, cluster_rejected};
use crate::runtime::middleware::BoxFuture;
use crate::runtime::remote::{
    ClusterStats, ConnAddr, LogPush, Member, NodeId, Remote, Taken, WireTarget,
};
use crate::runtime::server::{Server, WeakServer};

/// A membership question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Question {
    Members = 0,
    Size = 1,
    Label = 2,
    /// Ask your receivers of a target and answer with their answers (`cluster/requests.rs`).
    Request = 3,
    /// Hand over a resumable session the store does not hold (`recovery::shared::hand_over`).
    Session = 4,
}

/// The tag of an [`Answer::Session`] (0 members and 1 size come before it, 2 is `A_ACKS`).
pub(super) const A_SESSION: u8 = 3;

/// One node's answer.
#[derive(Debug)]
pub(super) enum Answer {
    Members(Vec<(Fd, Option<Arc<str>>)>),
    Size(usize),
    /// The answers of a node's receivers to a request.
    Acks(Vec<(Fd, Result<String, crate::runtime::ack::AckError>)>),
    /// What a node holds of a resumable session.
    Session(Taken),
}

/// Writes a broadcast's target: a tag, then the room, the path or the fds.
pub(super) fn put_target(b: &mut BytesMut, target: WireTarget<'_>) {
    match target {
        WireTarget::Room(r) => {
            b.put_u8(0);
            put_str(b, r.as_bytes());
        }
        WireTarget::All => b.put_u8(1),
        WireTarget::Module(p) => {
            b.put_u8(2);
            put_str(b, p.as_bytes());
        }
        WireTarget::Fds(fds) => {
            b.put_u8(3);
            b.put_u32(fds.len() as u32);
            fds.iter().for_each(|fd| b.put_u32(*fd));
        }
    }
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

pub(super) struct Pending {
    pub(super) waiting: HashSet<NodeId>,
    pub(super) answers: Vec<(NodeId, Answer)>,
    pub(super) done: Option<oneshot::Sender<()>>,
}

/// Another process heard using this node's id.
pub(super) struct Twin {
    /// When a message of it last came.
    pub(super) seen: Instant,
    /// When the collision was last logged (again every node timeout while it lasts).
    pub(super) logged: Instant,
}

/// What the node drops and why: counters for [`ClusterStats`] and the metrics, and the
/// state of the rate-limited warning.
pub(super) struct Rejections {
    pub(super) counts: [AtomicU64; Rejected::ALL.len()],
    pub(super) metrics: [Counter; Rejected::ALL.len()],
    pub(super) collisions: AtomicU64,
    /// When a rejection was last logged at `warn`, and how many were not logged since.
    pub(super) log: Mutex<(Option<Instant>, u64)>,
}

/// The runtime's side of a cluster: heartbeats, the live nodes, queries and inbound messages.
pub(crate) struct ClusterNode {
    pub(super) id: NodeId,
    /// This process's random tag, in every message it publishes: a message with this node's
    /// id and another tag comes from another process using the same id.
    pub(super) instance: u64,
    pub(super) signer: Signer,
    /// Itself, for the tasks it spawns (the answers to requests).
    pub(super) me: Weak<ClusterNode>,
    adapter: Arc<dyn ClusterAdapter>,
    server: OnceLock<WeakServer>,
    pub(super) peers: Mutex<HashMap<NodeId, Instant>>,
    /// Other processes using this node's id, by tag (forgotten after the node timeout).
    pub(super) twins: Mutex<HashMap<u64, Twin>>,
    pub(super) pending: Mutex<HashMap<u64, Pending>>,
    next_query: AtomicU64,
    pub(super) metrics: ClusterMetrics,
    pub(super) rejections: Rejections,
    /// The shared log of pushes to resumable sessions, if the adapter has one.
    log: Option<super::history::SharedLog>,
}

/// A random tag for this process's node: different in every process (and every app).
fn instance_tag() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    h.finish()
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
        Arc::new_cyclic(|me| ClusterNode {
            me: me.clone(),
            id: adapter.node_id().clone(),
            instance: instance_tag(),
            signer: Signer::new(adapter.settings().secret.clone()),
            log: adapter.shared_log(),
            adapter,
            server: OnceLock::new(),
            peers: Mutex::new(HashMap::new()),
            twins: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            next_query: AtomicU64::new(1),
            metrics: ClusterMetrics::new(),
            rejections: Rejections {
                counts: Default::default(),
                metrics: Rejected::ALL.map(|r| cluster_rejected(r.label())),
                collisions: AtomicU64::new(0),
                log: Mutex::new((None, 0)),
            },
        })
    }

    fn id(&self) -> &NodeId {
        &self.id
    }

    pub(super) fn settings(&self) -> &crate::cluster::ClusterSettings {
        self.adapter.settings()
    }

    /// Ties the node to its server and starts the adapter and the heartbeat task.
    fn attach(self: &Arc<Self>, server: &Server) {
        if self.server.set(server.downgrade()).is_err() {
            return;
        }
        let receiver: Weak<dyn Receiver> = Arc::downgrade(self) as Weak<ClusterNode>;
        self.adapter.start(Inbox::new(receiver));
        let maxlen = server
            .modules()
            .iter()
            .filter_map(|m| m.limits.recovery)
            .map(|r| r.max_messages)
            .max();
        if let (Some(log), Some(maxlen)) = (&self.log, maxlen) {
            let reader: Weak<dyn super::history::LogReader> =
                Arc::downgrade(self) as Weak<ClusterNode>;
            log.0.start(reader, maxlen);
        }
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
        tracing::info!(
            node = %self.id, instance = %format_args!("{:016x}", self.instance),
            signed = self.adapter.settings().has_secret(), "cluster node started"
        );
    }

    pub(super) fn query_timeout(&self) -> Duration {
        self.adapter.settings().query_timeout
    }

    /// A message's head, with room for `cap` bytes of fields and the signature.
    pub(super) fn header(&self, kind: u8, cap: usize) -> BytesMut {
        let mut b = BytesMut::with_capacity(16 + self.id.as_str().len() + cap + MAC_LEN);
        Head::put(
            &mut b,
            self.signer.flags(),
            kind,
            self.id.as_str(),
            self.instance,
        );
        b
    }

    /// Signs `msg` (once, whatever the number of its receivers) and hands it to the adapter.
    pub(super) fn publish(&self, to: Option<&NodeId>, mut msg: BytesMut) {
        self.signer.sign(&mut msg);
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
        self.twins
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|_, t| t.seen.elapsed() < timeout);
        if !gone.is_empty() {
            self.adapter.peers_changed(n);
        }
        for id in gone {
            tracing::warn!(node = %self.id, peer = %id, ?timeout, "cluster node silent: dropped from the cluster");
            self.forget_in_queries(&id);
        }
    }

    pub(super) fn peers_changed(&self) {
        let n = self
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        self.metrics.peers.set(n as f64);
        self.adapter.peers_changed(n);
    }

    pub(super) fn forget_in_queries(&self, id: &NodeId) {
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
        put_target(&mut b, target);
        self.put_except(&mut b, except);
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
        let timeout = self.adapter.settings().query_timeout;
        self.ask_with(None, timeout, |b| {
            b.put_u8(q as u8);
            put_str(b, arg.as_bytes());
        })
        .await
    }

    /// Publishes a question (`write` adds what follows its id) to every live node, or to node
    /// `to` only; waits for all their answers, at most `timeout`.
    pub(super) async fn ask_with(
        &self,
        to: Option<&NodeId>,
        timeout: Duration,
        write: impl FnOnce(&mut BytesMut),
    ) -> Vec<(NodeId, Answer)> {
        let mut peers = self.live_peers();
        if let Some(to) = to {
            peers.retain(|p| p == to);
        }
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
        let mut b = self.header(K_QUERY, 64);
        b.put_u64(id);
        write(&mut b);
        self.publish(to, b);
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
                Answer::Acks(a) => a.len(),
                Answer::Session(_) => 0,
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

    pub(super) fn server(&self) -> Option<Server> {
        Server::upgrade(self.server.get()?)
    }

    /// What the node counted.
    fn stats(&self) -> ClusterStats {
        let r = &self.rejections;
        let n = |why: Rejected| r.counts[why.index()].load(Ordering::Relaxed);
        ClusterStats {
            peers: self.live_peers().len(),
            node_id_collisions: r.collisions.load(Ordering::Relaxed),
            rejected_malformed: n(Rejected::Malformed),
            rejected_unsigned: n(Rejected::Unsigned),
            rejected_bad_signature: n(Rejected::BadSignature),
            rejected_no_secret: n(Rejected::NoSecret),
            rejected_node_id_collision: n(Rejected::NodeIdCollision),
        }
    }
}

impl Remote for ClusterNode {
    fn shared_log(&self) -> bool {
        self.log.is_some() && self.server().is_some_and(|s| s.recovery().is_some())
    }

    fn log_push(&self, push: &LogPush<'_>) {
        if let Some(log) = &self.log {
            ClusterNode::log_push(self, log, push);
        }
    }

    fn save_session(
        &self,
        token: &str,
        record: String,
        window: Duration,
    ) -> BoxFuture<'static, bool> {
        match &self.log {
            Some(log) => log.0.save(token, record, window),
            None => Box::pin(async { false }),
        }
    }

    fn take_session(&self, token: &str) -> BoxFuture<'static, Taken> {
        match &self.log {
            Some(log) => log.0.take(token),
            None => Box::pin(async { Taken::Unknown }),
        }
    }

    fn delete_session(&self, token: &str) -> BoxFuture<'static, ()> {
        match &self.log {
            Some(log) => log.0.delete(token),
            None => Box::pin(async {}),
        }
    }

    fn hand_over_session<'a>(
        &'a self,
        module: &'a str,
        token: &'a str,
        off: Option<u64>,
    ) -> BoxFuture<'a, Taken> {
        Box::pin(async move {
            let timeout = self.adapter.settings().query_timeout;
            let answers = self
                .ask_with(None, timeout, |b| {
                    b.put_u8(Question::Session as u8);
                    put_str(b, module.as_bytes());
                    put_str(b, token.as_bytes());
                    b.put_u8(u8::from(off.is_some()));
                    b.put_u64(off.unwrap_or(0));
                })
                .await;
            let mut out = Taken::Unknown;
            for (_, a) in answers {
                match a {
                    Answer::Session(t @ Taken::Found(_)) => return t,
                    Answer::Session(Taken::Gone) => out = Taken::Gone,
                    Answer::Session(Taken::Expired) if out == Taken::Unknown => {
                        out = Taken::Expired;
                    }
                    _ => {}
                }
            }
            out
        })
    }

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

    fn stats(&self) -> ClusterStats {
        ClusterNode::stats(self)
    }

    fn request<'a>(
        &'a self,
        to: Option<&'a NodeId>,
        target: WireTarget<'a>,
        except: &'a [ConnAddr],
        command: &'a str,
        data: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Vec<(ConnAddr, Result<String, crate::runtime::ack::AckError>)>> {
        Box::pin(ClusterNode::request(
            self, to, target, except, command, data, timeout,
        ))
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
