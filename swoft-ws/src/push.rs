//! Pushes to many connections: to a room (except some fds), to some fds, to a module's
//! connections, to all. A broadcast encodes its frame once per parser (in practice once) and
//! shares the bytes among its receivers; every broadcast reports what happened.

use std::sync::Arc;

use axum::extract::ws::Message;
use serde::Serialize;

use crate::fd::Fd;
use crate::protocol::{Parser, RawMessage};
use crate::server::Server;
use crate::session::{Connection, SendError};

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
    Module(&'a str),
    All,
}

/// A push to many connections, built by [`Server::room`], [`Server::to_fds`], [`Server::module`]
/// or [`Server::all`].
#[must_use = "a broadcast does nothing until `push` or `send`"]
pub struct Broadcast<'a> {
    server: &'a Server,
    target: Target<'a>,
    except: Vec<Fd>,
}

impl std::fmt::Debug for Broadcast<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broadcast")
            .field("except", &self.except)
            .finish_non_exhaustive()
    }
}

/// The frame of a push, encoded once for each parser the receivers use.
struct Frames<'d> {
    command: &'d str,
    data: String,
    by_parser: Vec<(*const (), Message)>,
}

impl Frames<'_> {
    fn for_conn(&mut self, conn: &Connection) -> Message {
        let parser: &Arc<dyn Parser> = &conn.module().parser;
        let key = Arc::as_ptr(parser) as *const ();
        if let Some((_, m)) = self.by_parser.iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let m = parser.encode_push(self.command, &self.data).into_ws();
        self.by_parser.push((key, m.clone()));
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

    fn new(server: &'a Server, target: Target<'a>) -> Self {
        Broadcast {
            server,
            target,
            except: Vec::new(),
        }
    }

    /// Leaves `fd` out (typically the sender).
    pub fn except(mut self, fd: Fd) -> Self {
        self.except.push(fd);
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
    pub fn push<T: Serialize + ?Sized>(
        self,
        command: &str,
        data: &T,
    ) -> Result<Delivery, SendError> {
        let data = serde_json::to_string(data).map_err(|e| SendError::Encode(e.to_string()))?;
        let mut frames = Frames {
            command,
            data,
            by_parser: Vec::with_capacity(1),
        };
        Ok(self.each(|c| {
            let sent = c.send_ws(frames.for_conn(c));
            if sent.is_ok() {
                // Counted like `Connection::push`: `messages_out{command="<push>"}`.
                c.module().metrics.pushes_out.increment(1);
            }
            sent
        }))
    }

    /// Sends this frame, as it is, to every receiver (one copy of the bytes, shared).
    pub fn send(self, msg: RawMessage) -> Delivery {
        let msg = msg.into_ws();
        self.each(|c| c.send_ws(msg.clone()))
    }

    fn each(self, mut send: impl FnMut(&Connection) -> Result<(), SendError>) -> Delivery {
        let mut d = Delivery::default();
        let mut gone = 0;
        let except = &self.except;
        let mut one = |c: &Connection| {
            if !except.contains(&c.fd()) {
                d.count(&send(c));
            }
        };
        match self.target {
            Target::Room(room) => self
                .server
                .rooms()
                .adapter()
                .for_each_member(room, &mut one),
            Target::Fds(fds) => {
                for fd in fds.iter().filter(|fd| !except.contains(fd)) {
                    match self.server.connection(*fd) {
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
