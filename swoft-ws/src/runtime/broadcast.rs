//! Pushes to many connections: to a room (except some fds), to some fds, to a module's
//! connections, to all. A broadcast encodes its frame once per parser (in practice once) and
//! shares the bytes among its receivers; every broadcast reports what happened. With
//! permessage-deflate (RFC 7692), the receivers that agreed to it without server context
//! takeover share one compressed copy per set of terms (level, window), compressed at the
//! first of them; those with context takeover each compress it with their own compressor.
//!
//! With a cluster adapter ([`crate::cluster`]), a broadcast to a room, a module or all also
//! reaches the other nodes: after queuing the frame on this node's receivers it hands one
//! message (with the frame already encoded) to the adapter, which publishes it in the
//! background.

use std::borrow::Cow;
use std::sync::Arc;

use crate::ws::Message;
use serde::Serialize;

use crate::protocol::{Parser, Recipients, Reply};
use crate::runtime::connection::{Connection, SendError};
use crate::runtime::fd::Fd;
use crate::runtime::remote::{ConnAddr, WireTarget};
use crate::runtime::server::Server;
use crate::ws::RawMessage;
use crate::ws::deflate::Once;

/// What a broadcast did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Receivers whose queue took the frame.
    pub delivered: usize,
    /// Receivers whose outbound queue was full (slow consumers): not delivered.
    pub queue_full: usize,
    /// Receivers that were closing: not delivered.
    pub closed: usize,
}

impl Delivery {
    fn count(&mut self, r: &Result<(), SendError>) {
        match r {
            Ok(()) => self.delivered += 1,
            Err(SendError::QueueFull) => self.queue_full += 1,
            Err(_) => self.closed += 1,
        }
    }
}

enum Target<'a> {
    Room(&'a str),
    Fds(&'a [Fd]),
    Addrs(&'a [ConnAddr]),
    Module(&'a str),
    All,
}

/// What a broadcast carries, as this node sends it and as another node receives it.
pub(crate) enum Payload<'a> {
    /// A push: command and JSON data, and the frame one parser (named) made of them.
    Push {
        command: &'a str,
        data: Cow<'a, str>,
        frame: Option<(&'a str, Message)>,
    },
    /// A frame, as it is.
    Raw(Message),
}

impl Payload<'_> {
    pub(crate) fn len_hint(&self) -> usize {
        match self {
            Payload::Push {
                command,
                data,
                frame,
            } => {
                command.len()
                    + data.len()
                    + frame.as_ref().map_or(0, |(p, m)| {
                        p.len() + crate::ws::outbound::payload_len(m) + 16
                    })
            }
            Payload::Raw(m) => crate::ws::outbound::payload_len(m) + 8,
        }
    }
}

/// A push to many connections, built by [`Server::room`], [`Server::to_fds`], [`Server::module`]
/// or [`Server::all`]: to a room (except some fds), to some fds, to a module's connections, to
/// all. A broadcast encodes its frame once per parser (in practice once) and shares the bytes
/// among its receivers; it reports what happened ([`Delivery`]). With a cluster adapter, a
/// broadcast to a room, a module or all also reaches the other nodes: after queuing the frame
/// on this node's receivers it hands one message (with the frame already encoded) to the
/// adapter, which publishes it in the background — a handler never waits for the network.
#[must_use = "a broadcast does nothing until `push` or `send`"]
pub struct Broadcast<'a> {
    server: &'a Server,
    target: Target<'a>,
    except: Vec<Fd>,
    /// Connections on other nodes to leave out.
    except_remote: Vec<ConnAddr>,
    /// Only this node's connections (no publish to the others).
    local: bool,
}

impl std::fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("except", &self.except)
            .finish_non_exhaustive()
    }
}

/// The frame of a push, encoded once for each parser the receivers use (or not at all, when
/// another node already encoded it with a parser of the same name).
struct Frames<'d> {
    command: &'d str,
    data: &'d str,
    by_parser: Vec<(*const (), &'static str, Message)>,
    preset: Option<&'d (&'d str, Message)>,
}

impl Frames<'_> {
    fn for_conn(&mut self, conn: &Connection) -> Message {
        let parser: &Arc<dyn Parser> = &conn.module().parser;
        let key = Arc::as_ptr(parser) as *const ();
        if let Some((_, _, m)) = self.by_parser.iter().find(|(k, _, _)| *k == key) {
            return m.clone();
        }
        let name = parser.name();
        let m = match self.preset {
            Some((n, m)) if *n == name => m.clone(),
            _ => parser.encode_push(self.command, self.data).into_ws(),
        };
        self.by_parser.push((key, name, m.clone()));
        m
    }
}

impl<'a> Broadcast<'a> {
    pub(crate) fn room(server: &'a Server, room: &'a str) -> Self {
        Self::new(server, Target::Room(room))
    }

    pub(crate) fn fds(server: &'a Server, fds: &'a [Fd]) -> Self {
        Self::new(server, Target::Fds(fds))
    }

    pub(crate) fn module(server: &'a Server, path: &'a str) -> Self {
        Self::new(server, Target::Module(path))
    }

    pub(crate) fn all(server: &'a Server) -> Self {
        Self::new(server, Target::All)
    }

    pub(crate) fn addrs(server: &'a Server, addrs: &'a [ConnAddr]) -> Self {
        Self::new(server, Target::Addrs(addrs))
    }

    fn new(server: &'a Server, target: Target<'a>) -> Self {
        Broadcast {
            server,
            target,
            except: Vec::new(),
            except_remote: Vec::new(),
            local: false,
        }
    }

    /// Leaves `fd` out (typically the sender): a connection of this node.
    pub fn except(mut self, fd: Fd) -> Self {
        self.except.push(fd);
        self
    }

    /// Leaves the connection at `addr` out, whichever node it is on.
    pub fn except_addr(mut self, addr: &ConnAddr) -> Self {
        if self.server.is_local(addr) {
            self.except.push(addr.fd);
        } else {
            self.except_remote.push(addr.clone());
        }
        self
    }

    /// Reaches only this node's connections, even with a cluster adapter.
    pub fn local(mut self) -> Self {
        self.local = true;
        self
    }

    /// Leaves all these fds out.
    pub fn except_all(mut self, fds: impl IntoIterator<Item = Fd>) -> Self {
        self.except.extend(fds);
        self
    }

    /// Pushes `{"cmd": command, "data": data}` (packed by each receiver's module parser,
    /// encoded once per parser) to every receiver. Each frame queued counts in its module's
    /// `swoft_ws_messages_out_total{command="<push>"}`, as [`Connection::push`] does.
    ///
    /// With a cluster adapter, a push to a room, a module, all or to addresses on other nodes
    /// is also published (once, in the background) for the other nodes; the [`Delivery`]
    /// counts this node's receivers.
    pub fn push<T: Serialize + ?Sized>(
        self,
        command: &str,
        data: &T,
    ) -> Result<Delivery, SendError> {
        let data = serde_json::to_string(data).map_err(|e| SendError::Encode(e.to_string()))?;
        Ok(self.deliver(&Payload::Push {
            command,
            data: Cow::Owned(data),
            frame: None,
        }))
    }

    /// Sends this frame, as it is, to every receiver (one copy of the bytes, shared).
    pub fn send(self, msg: RawMessage) -> Delivery {
        self.deliver(&Payload::Raw(msg.into_ws()))
    }

    /// Delivers to this node's receivers, then publishes for the others (unless local).
    pub(crate) fn deliver(self, payload: &Payload<'_>) -> Delivery {
        let (d, frame) = match payload {
            Payload::Push {
                command,
                data,
                frame,
            } => {
                let mut frames = Frames {
                    command,
                    data,
                    by_parser: Vec::with_capacity(1),
                    preset: frame.as_ref(),
                };
                let mut once = Once::default();
                let d = self.each(|c| {
                    let sent = c.send_shared(frames.for_conn(c), &mut once);
                    if sent.is_ok() {
                        // Counted like `Connection::push`: `messages_out{command="<push>"}`.
                        c.module().metrics.pushes_out.increment(1);
                    }
                    sent
                });
                (d, frames.by_parser.into_iter().next())
            }
            Payload::Raw(m) => {
                let mut once = Once::default();
                (self.each(|c| c.send_shared(m.clone(), &mut once)), None)
            }
        };
        if !self.local {
            self.publish(payload, frame);
        }
        d
    }

    /// Hands the broadcast to the cluster adapter, if there is one and the target spans nodes.
    fn publish(&self, payload: &Payload<'_>, frame: Option<(*const (), &'static str, Message)>) {
        let Some(cluster) = self.server.rooms().cluster() else {
            return;
        };
        let encoded;
        let payload = match (payload, frame) {
            (
                Payload::Push {
                    command,
                    data,
                    frame: None,
                },
                Some((_, name, m)),
            ) => {
                encoded = Payload::Push {
                    command,
                    data: Cow::Borrowed(data),
                    frame: Some((name, m)),
                };
                &encoded
            }
            _ => payload,
        };
        let target = match self.target {
            Target::Room(r) => WireTarget::Room(r),
            Target::Module(p) => WireTarget::Module(p),
            Target::All => WireTarget::All,
            Target::Fds(_) => return,
            Target::Addrs(addrs) => {
                let me = cluster.id();
                let mut by_node: Vec<(&crate::runtime::remote::NodeId, Vec<u32>)> = Vec::new();
                for a in addrs.iter().filter(|a| &a.node != me) {
                    if self.except_remote.contains(a) {
                        continue;
                    }
                    match by_node.iter_mut().find(|(n, _)| *n == &a.node) {
                        Some((_, fds)) => fds.push(a.fd.get()),
                        None => by_node.push((&a.node, vec![a.fd.get()])),
                    }
                }
                for (node, fds) in by_node {
                    cluster.broadcast(Some(node), WireTarget::Fds(&fds), &[], payload);
                }
                return;
            }
        };
        cluster.broadcast(None, target, &self.except_remote, payload);
    }

    fn each(&self, mut send: impl FnMut(&Connection) -> Result<(), SendError>) -> Delivery {
        let mut d = Delivery::default();
        let mut gone = 0;
        let except = &self.except;
        let mut one = |c: &Connection| {
            if !except.contains(&c.fd()) {
                d.count(&send(c));
            }
        };
        match self.target {
            Target::Room(room) => self.server.rooms().table().for_each_member(room, &mut one),
            Target::Fds(fds) => {
                for fd in fds.iter().filter(|fd| !except.contains(fd)) {
                    match self.server.connection(*fd) {
                        Some(c) => one(&c),
                        None => gone += 1,
                    }
                }
            }
            Target::Addrs(addrs) => {
                let me = self.server.node_id();
                for a in addrs
                    .iter()
                    .filter(|a| &a.node == me && !except.contains(&a.fd))
                {
                    match self.server.connection(a.fd) {
                        Some(c) => one(&c),
                        None => gone += 1,
                    }
                }
            }
            Target::Module(path) => self.server.sessions().for_each(|c| {
                if c.module_path() == path {
                    one(c)
                }
            }),
            Target::All => self.server.sessions().for_each(one),
        }
        d.closed += gone;
        d
    }
}

/// Re-targeting a reply at connections: here, where fds are known (the rest of the re-targeting
/// API is with [`Reply`]).
impl Reply {
    /// Sends the reply to the connection `fd` instead of the sender (Swoft's `setFd`): the
    /// sender gets nothing.
    #[must_use]
    pub fn to(self, fd: Fd) -> Reply {
        self.routed(|r| r.to = Recipients::Fds(vec![fd.get()]))
    }

    /// Sends the reply to these connections (Swoft's `setFds`), the sender only if listed.
    #[must_use]
    pub fn to_fds(self, fds: impl IntoIterator<Item = Fd>) -> Reply {
        let fds = fds.into_iter().map(Fd::get).collect();
        self.routed(|r| r.to = Recipients::Fds(fds))
    }
}

/// Queues a re-targeted reply's frame on its receivers, as a broadcast of a frame does.
pub(crate) fn deliver_reply(conn: &Connection, to: &Recipients, frame: Message) -> Delivery {
    let server = conn.server();
    if *to == Recipients::Sender {
        let mut d = Delivery::default();
        d.count(&conn.send_ws(frame));
        return d;
    }
    let payload = Payload::Raw(frame);
    match to {
        Recipients::Sender => Delivery::default(),
        Recipients::Fds(fds) => {
            let fds: Vec<Fd> = fds.iter().copied().map(Fd::from).collect();
            Broadcast::fds(server, &fds).deliver(&payload)
        }
        Recipients::All => Broadcast::all(server).deliver(&payload),
        Recipients::AllButSender => Broadcast::all(server).except(conn.fd()).deliver(&payload),
    }
}
