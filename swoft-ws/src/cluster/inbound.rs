//! What a node receives from the others: heartbeats and goodbyes (the live set), broadcasts
//! (delivered to this node's own members), disconnect requests, membership questions and
//! their answers. Every message is read with [`Reader`], which fails on anything short or
//! malformed: a bad message is dropped and counted, never a panic.

use std::sync::{Arc, PoisonError};
use std::time::Instant;

use bytes::BufMut;

use crate::cluster::node::{Answer, ClusterNode, Question};
use crate::cluster::packet::*;
use crate::cluster::requests::{A_ACKS, read_acks};
use crate::runtime::broadcast::Payload;
use crate::runtime::fd::Fd;
use crate::runtime::remote::NodeId;

impl ClusterNode {
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
