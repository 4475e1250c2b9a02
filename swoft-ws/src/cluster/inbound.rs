//! What a node receives from the others: heartbeats and goodbyes (the live set), broadcasts
//! (delivered to this node's own members), disconnect requests, membership questions and
//! their answers. Before any of it, a message's head and signature are checked, and one with
//! this node's id from another process is a node id collision. Every message is read with
//! [`Reader`], which fails on anything short or malformed: a bad message is dropped, counted
//! (`swoft_ws_cluster_rejected_total{reason}`) and logged, never a panic.

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use bytes::BufMut;

use crate::cluster::node::{A_SESSION, Answer, ClusterNode, Question, Twin};
use crate::cluster::packet::*;
use crate::cluster::requests::{A_ACKS, read_acks};
use crate::cluster::sign::Rejected;
use crate::runtime::broadcast::Payload;
use crate::runtime::fd::Fd;
use crate::runtime::remote::{LogPush, NodeId, Taken};

/// At most one `warn` line about rejected messages per this long (the others are counted, and
/// the next line says how many).
const REJECT_LOG_EVERY: Duration = Duration::from_secs(10);

impl ClusterNode {
    /// Handles a message from the transport: checks its head and signature, then acts on it.
    pub(super) fn receive(&self, msg: &[u8]) {
        let Some(head) = Head::read(msg) else {
            return self.reject(Rejected::Malformed, None, msg.len());
        };
        let same_id = head.origin == self.id.as_str();
        if same_id && head.instance == self.instance {
            return; // this node's own message, back from the transport
        }
        let body = match self.signer.verify(msg, head.flags) {
            Ok(body) if body.len() >= head.len => &body[head.len..],
            Ok(_) => return self.reject(Rejected::Malformed, Some(head.origin), msg.len()),
            Err(why) => return self.reject(why, Some(head.origin), msg.len()),
        };
        if same_id {
            return self.on_twin(head.instance, msg.len());
        }
        self.metrics.received.increment(1);
        if self
            .dispatch(head.kind, head.origin, Reader(body))
            .is_none()
        {
            self.reject(Rejected::Malformed, Some(head.origin), msg.len());
        }
    }

    /// Acts on a message from another node.
    fn dispatch(&self, kind: u8, origin: &str, mut r: Reader<'_>) -> Option<()> {
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
        match kind {
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
            K_DISCONNECT => {
                let fd = Fd::new(r.u32()?);
                let code = r.u16()?;
                let reason = r.str()?;
                if let Some(c) = self.server()?.connection(fd) {
                    c.close(code, reason);
                }
                Some(())
            }
            K_QUERY => self.on_query(&origin, r),
            K_ANSWER => self.on_answer(&origin, r),
            _ => None,
        }
    }

    /// A message with this node's id from another process (tag `instance`): node ids must be
    /// unique. Logged at `error` when first heard and again every node timeout while it lasts,
    /// counted once per process; answered with a heartbeat so that the other process learns it
    /// too; the message itself is dropped.
    fn on_twin(&self, instance: u64, len: usize) {
        let every = self.settings().node_timeout;
        let now = Instant::now();
        let (new, log) = {
            let mut twins = self.twins.lock().unwrap_or_else(PoisonError::into_inner);
            match twins.get_mut(&instance) {
                Some(t) => {
                    t.seen = now;
                    let log = now.duration_since(t.logged) >= every;
                    if log {
                        t.logged = now;
                    }
                    (false, log)
                }
                None => {
                    twins.insert(
                        instance,
                        Twin {
                            seen: now,
                            logged: now,
                        },
                    );
                    (true, true)
                }
            }
        };
        if new {
            self.rejections.collisions.fetch_add(1, Ordering::Relaxed);
            self.metrics.node_id_collisions.increment(1);
        }
        if log {
            tracing::error!(
                node = %self.id, instance = %format_args!("{:016x}", self.instance),
                other = %format_args!("{instance:016x}"),
                "node id {} is used by another process too: messages for it reach both or \
                 neither, and the other's are dropped here; give each node its own id",
                self.id
            );
        }
        self.reject(Rejected::NodeIdCollision, Some(self.id.as_str()), len);
        if new {
            self.heartbeat();
        }
    }

    /// Counts a message dropped for `why` and logs it: signature problems at `warn`, at most
    /// once per [`REJECT_LOG_EVERY`] (with the number left unlogged since); the others at
    /// `debug` (a node id collision has its own `error` line).
    pub(super) fn reject(&self, why: Rejected, origin: Option<&str>, len: usize) {
        let r = &self.rejections;
        r.counts[why.index()].fetch_add(1, Ordering::Relaxed);
        r.metrics[why.index()].increment(1);
        // The origin is what the message claims, cut short for the log.
        let origin: String = origin.unwrap_or("").chars().take(64).collect();
        let reason = why.label();
        if matches!(why, Rejected::Malformed | Rejected::NodeIdCollision) {
            tracing::debug!(node = %self.id, claimed_origin = ?origin, len, reason, "cluster: message dropped");
            return;
        }
        let unlogged = {
            let mut log = r.log.lock().unwrap_or_else(PoisonError::into_inner);
            if log.0.is_some_and(|t| t.elapsed() < REJECT_LOG_EVERY) {
                log.1 += 1;
                None
            } else {
                log.0 = Some(Instant::now());
                Some(std::mem::take(&mut log.1))
            }
        };
        match unlogged {
            Some(unlogged) => tracing::warn!(
                node = %self.id, claimed_origin = ?origin, len, reason, unlogged,
                signed_here = self.signer.flags() != 0,
                "cluster: message dropped ({reason}): the nodes are not all given the same secret \
                 (ClusterSettings::secret), or something else publishes on the cluster's \
                 channels ({unlogged} more dropped since the last such line)"
            ),
            None => {
                tracing::debug!(node = %self.id, claimed_origin = ?origin, len, reason, "cluster: message dropped")
            }
        }
    }

    fn on_broadcast(&self, mut r: Reader<'_>) -> Option<()> {
        let server = self.server()?;
        let target = self.read_target(&mut r)?;
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
        target.local(&server).deliver(&payload);
        Some(())
    }

    fn on_query(&self, origin: &NodeId, mut r: Reader<'_>) -> Option<()> {
        let id = r.u64()?;
        let q = r.u8()?;
        if q == Question::Request as u8 {
            return self.on_request(origin, id, r);
        }
        if q == Question::Session as u8 {
            let (path, token) = (r.str()?.to_owned(), r.str()?.to_owned());
            let off = match (r.u8()?, r.u64()?) {
                (0, _) => None,
                (_, o) => Some(o),
            };
            let server = self.server()?;
            let node = self.me.upgrade()?;
            let origin = origin.clone();
            // In a task: handing over a saved session waits for its record's deletion.
            tokio::spawn(async move {
                let taken =
                    crate::runtime::recovery::shared::hand_over(server, path, token, off).await;
                let mut b = node.header(K_ANSWER, 64);
                b.put_u64(id);
                b.put_u8(A_SESSION);
                match taken {
                    Taken::Unknown => b.put_u8(0),
                    Taken::Found(rec) => {
                        b.put_u8(1);
                        put_str(&mut b, rec.as_bytes());
                    }
                    Taken::Expired => b.put_u8(2),
                    Taken::Gone => b.put_u8(3),
                }
                node.publish(Some(&origin), b);
            });
            return Some(());
        }
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
            A_ACKS => read_acks(&mut r)?,
            A_SESSION => Answer::Session(match r.u8()? {
                0 => Taken::Unknown,
                1 => Taken::Found(r.str()?.to_owned()),
                2 => Taken::Expired,
                3 => Taken::Gone,
                _ => return None,
            }),
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

impl ClusterNode {
    /// Encodes and appends a push to the log.
    pub(super) fn log_push(&self, log: &super::history::SharedLog, p: &LogPush<'_>) {
        let mut b = self.header(
            super::history::K_LOGGED,
            p.command.len() + p.data.len() + 64,
        );
        super::node::put_target(&mut b, p.target);
        b.put_u32(p.except.len() as u32);
        for a in p.except {
            put_str(&mut b, a.node.as_str().as_bytes());
            b.put_u32(a.fd.get());
        }
        put_str(&mut b, p.to.map_or("", |n| n.as_str()).as_bytes());
        put_str(&mut b, p.module.unwrap_or("").as_bytes());
        b.put_u64(p.session);
        put_str(&mut b, p.command.as_bytes());
        put_str(&mut b, p.data.as_bytes());
        put_str(&mut b, p.ext.unwrap_or("").as_bytes());
        self.signer.sign(&mut b);
        log.0.append(b.freeze());
    }

    /// An entry of the log, at offset `off`: delivered to this node's receivers, and kept in
    /// the history. A malformed or badly signed entry is dropped and counted, as on the
    /// channels.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
    fn on_logged_(&self, off: u64, msg: &[u8]) {
        if self.read_logged(off, msg).is_none() {
            self.reject(Rejected::Malformed, None, msg.len());
        }
    }

    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
    fn read_logged(&self, off: u64, msg: &[u8]) -> Option<()> {
        let head = Head::read(msg)?;
        if head.kind != super::history::K_LOGGED {
            return None;
        }
        let body = match self.signer.verify(msg, head.flags) {
            Ok(body) => body,
            Err(why) => {
                self.reject(why, Some(head.origin), msg.len());
                return Some(());
            }
        };
        let mut r = Reader(&body[head.len..]);
        let mut all = Reader(r.0);
        let target = self.read_target(&mut r)?;
        // Every exception, on any node (the target keeps this node's): the history keeps
        // them, so that a session resumed anywhere is not replayed what left it out.
        let except = super::requests::read_except_all(&mut all);
        let to = r.str()?;
        let module = r.str()?;
        let session = r.u64()?;
        let (command, data, ext) = (r.str()?, r.str()?, r.str()?);
        let server = self.server()?;
        let here = to.is_empty() || to == self.id.as_str();
        let module = (!module.is_empty()).then_some(module);
        let ext = (!ext.is_empty()).then_some(ext);
        target
            .local(&server)
            .deliver_logged(off, here, module, except, session, command, data, ext);
        Some(())
    }

    /// This node's copy of the log starts after offset `off`.
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
    fn log_starts_at_(&self, off: u64) {
        if let Some(server) = self.server() {
            crate::runtime::recovery::shared::log_starts_at(&server, off);
        }
    }
}

impl super::history::LogReader for ClusterNode {
    fn on_logged(&self, off: u64, entry: &[u8]) {
        self.on_logged_(off, entry);
    }
    fn log_starts_at(&self, off: u64) {
        self.log_starts_at_(off);
    }
}
