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
use crate::runtime::recovery::{Pushing, Target as RecTarget};
use crate::runtime::remote::{ConnAddr, NodeId, WireTarget};
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

/// One message for the other nodes of a request to many
/// ([`Broadcast::request`]): to every node (`to` `None`) or one.
pub(crate) struct RemotePart<'a> {
    pub(crate) to: Option<NodeId>,
    /// A room, a module or all; `None`: `fds`, on node `to`.
    pub(crate) target: Option<WireTarget<'a>>,
    pub(crate) fds: Vec<u32>,
    pub(crate) except: &'a [ConnAddr],
}

impl RemotePart<'_> {
    pub(crate) fn target(&self) -> WireTarget<'_> {
        self.target.unwrap_or(WireTarget::Fds(&self.fds))
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
/// another node already encoded it with a parser of the same name); for a module with
/// resumable sessions, once per module, with the push's offset (`recovery`).
struct Frames<'d, 'g> {
    command: &'d str,
    data: &'d str,
    ext: Option<&'d str>,
    by_parser: Vec<(*const (), &'static str, Message)>,
    preset: Option<&'d (&'d str, Message)>,
    recovery: Option<&'d mut Pushing<'g>>,
}

impl Frames<'_, '_> {
    fn for_conn(&mut self, conn: &Connection) -> Message {
        if let Some(p) = self.recovery.as_deref_mut() {
            if let Some(m) = p.frame(conn, self.command, self.data, self.ext) {
                return m;
            }
        }
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
        if let Payload::Push { command, data, .. } = payload {
            if let Some(cluster) = crate::runtime::recovery::shared::shared(self.server) {
                if !self.local {
                    return self.log(cluster, payload, command, data);
                }
            }
        }
        let (d, frame) = match payload {
            Payload::Push {
                command,
                data,
                frame,
            } => {
                // With recovery modules: the push's offset, its record and its delivery under
                // one lock, so a resume sees it either in its replay or live.
                let mut recovery = self.server.recovery().map(|s| {
                    let (target, module) = self.recorded_target();
                    Pushing::new(s, target, module, self.except_addrs())
                });
                let mut frames = Frames {
                    command,
                    data,
                    ext: None,
                    by_parser: Vec::with_capacity(1),
                    preset: frame.as_ref(),
                    recovery: recovery.as_mut(),
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
                let first = frames.by_parser.into_iter().next();
                if let Some(p) = recovery {
                    p.finish(command, data);
                }
                (d, first)
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

    /// With the cluster's shared log: appends the push to it (every node delivers it from
    /// there, with the log's offset); a push to connections goes to the log once per
    /// connection of a recovery module, as [`Connection::push`] does.
    fn log(
        &self,
        cluster: &Arc<dyn crate::runtime::remote::Remote>,
        payload: &Payload<'_>,
        command: &str,
        data: &str,
    ) -> Delivery {
        let target = match self.target {
            Target::Room(r) => WireTarget::Room(r),
            Target::Module(p) => WireTarget::Module(p),
            Target::All => WireTarget::All,
            Target::Fds(_) | Target::Addrs(_) => {
                let d = self.each(|c| c.push_encoded(command, data));
                self.publish(payload, None);
                return d;
            }
        };
        let me = cluster.id();
        let mut except = self.except_remote.clone();
        except.extend(self.except.iter().map(|fd| ConnAddr {
            node: me.clone(),
            fd: *fd,
        }));
        cluster.log_push(&crate::runtime::remote::LogPush {
            to: None,
            target,
            except: &except,
            module: None,
            session: 0,
            command,
            data,
            ext: None,
        });
        self.each(|_| Ok(()))
    }

    /// An entry of the cluster's shared log at offset `off`: delivered to this node's
    /// receivers (when `here`) and kept in the recovery modules' history.
    /// `except`: every connection the push leaves out, on any node (the history keeps them).
    #[allow(clippy::too_many_arguments)]
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
    pub(crate) fn deliver_logged(
        self,
        off: u64,
        here: bool,
        module: Option<&str>,
        except: Option<Arc<[ConnAddr]>>,
        session: u64,
        command: &str,
        data: &str,
        ext: Option<&str>,
    ) {
        let Some(store) = self.server.recovery() else {
            return;
        };
        let (target, module) = match self.target {
            Target::Fds(_) => (Some(RecTarget::Session(session)), module),
            _ => {
                let (t, m) = self.recorded_target();
                (t, m.or(module))
            }
        };
        let mut p = Pushing::at(store, target, module, except, off);
        if here {
            let mut frames = Frames {
                command,
                data,
                ext,
                by_parser: Vec::with_capacity(1),
                preset: None,
                recovery: Some(&mut p),
            };
            self.each(|c| {
                let sent = c.send_ws(frames.for_conn(c));
                if sent.is_ok() {
                    c.module().metrics.pushes_out.increment(1);
                }
                sent
            });
        }
        p.finish(command, data);
    }

    /// The connections this broadcast leaves out, as the history records them (`None` for
    /// none: nothing allocated for a broadcast without exceptions).
    fn except_addrs(&self) -> Option<Arc<[ConnAddr]>> {
        if self.except.is_empty() && self.except_remote.is_empty() {
            return None;
        }
        let me = self.server.node_id();
        let here = self.except.iter().map(|fd| ConnAddr {
            node: me.clone(),
            fd: *fd,
        });
        Some(here.chain(self.except_remote.iter().cloned()).collect())
    }

    /// What a recovery module's history records of this broadcast, and the module it is
    /// limited to.
    fn recorded_target(&self) -> (Option<RecTarget>, Option<&'a str>) {
        match self.target {
            Target::Room(r) => (Some(RecTarget::Room(Arc::from(r))), None),
            Target::Module(p) => (Some(RecTarget::Everyone), Some(p)),
            Target::All => (Some(RecTarget::Everyone), None),
            Target::Fds(_) | Target::Addrs(_) => (None, None),
        }
    }

    pub(crate) fn server(&self) -> &'a Server {
        self.server
    }

    /// This node's receivers (handles), e.g. to ask each of them
    /// ([`request`](Self::request)).
    pub(crate) fn local_receivers(&self) -> Vec<Connection> {
        let mut v = Vec::new();
        self.each(|c| {
            v.push(c.clone());
            Ok(())
        });
        v
    }

    /// Where the broadcast goes beyond this node: one part per message to publish; none
    /// without a cluster, for `.local()` and for fds.
    pub(crate) fn remote_parts(&self) -> Vec<RemotePart<'_>> {
        let Some(cluster) = self.server.rooms().cluster() else {
            return Vec::new();
        };
        if self.local {
            return Vec::new();
        }
        let except = &self.except_remote[..];
        let all = |target| {
            vec![RemotePart {
                to: None,
                target: Some(target),
                fds: Vec::new(),
                except,
            }]
        };
        match self.target {
            Target::Room(r) => all(WireTarget::Room(r)),
            Target::Module(p) => all(WireTarget::Module(p)),
            Target::All => all(WireTarget::All),
            Target::Fds(_) => Vec::new(),
            Target::Addrs(addrs) => {
                let me = cluster.id();
                let mut parts: Vec<RemotePart<'_>> = Vec::new();
                for a in addrs
                    .iter()
                    .filter(|a| &a.node != me && !except.contains(a))
                {
                    match parts.iter_mut().find(|p| p.to.as_ref() == Some(&a.node)) {
                        Some(p) => p.fds.push(a.fd.get()),
                        None => parts.push(RemotePart {
                            to: Some(a.node.clone()),
                            target: None,
                            fds: vec![a.fd.get()],
                            except: &[],
                        }),
                    }
                }
                parts
            }
        }
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
