//! Rooms: named groups of connections that broadcasts reach together.
//!
//! A connection joins and leaves rooms ([`Rooms::join`], [`Connection::join`]); a room exists
//! while it has members and disappears with its last one. When a connection closes — whatever
//! the cause — it leaves all its rooms, after its module's `#[on_close]` hook ran (so the hook
//! can still see them and tell the other members).
//!
//! Where rooms live is an [`Adapter`]: [`LocalAdapter`] (in memory, the default) serves one
//! process. A multi-node adapter implements the same trait, so application code does not change
//! when it moves from one node to many.
//!
//! Broadcasts go through [`Server::room`](crate::Server::room) and its siblings: see
//! [`Broadcast`](crate::Broadcast).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;

use crate::fd::Fd;
use crate::session::Connection;

/// Where rooms live. The default is [`LocalAdapter`].
///
/// Implementations must be cheap to call from many tasks at once and must never block on I/O
/// in these methods: they run on the message path.
pub trait Adapter: Send + Sync + 'static {
    /// Adds `conn` to `room` (creating the room). Whether it was not a member before.
    fn join(&self, room: &str, conn: &Connection) -> bool;
    /// Removes `fd` from `room` (removing an empty room). Whether it was a member.
    fn leave(&self, room: &str, fd: Fd) -> bool;
    /// Removes `fd` from every room; returns the rooms it left.
    fn leave_all(&self, fd: Fd) -> Vec<Arc<str>>;
    /// The rooms `fd` is in, sorted.
    fn rooms_of(&self, fd: Fd) -> Vec<Arc<str>>;
    /// Whether `fd` is in `room`.
    fn contains(&self, room: &str, fd: Fd) -> bool;
    /// How many members `room` has (0 for no such room).
    fn size(&self, room: &str) -> usize;
    /// How many rooms exist.
    fn room_count(&self) -> usize;
    /// The names of all rooms, sorted.
    fn room_names(&self) -> Vec<Arc<str>>;
    /// Calls `f` with every member of `room` (in no particular order). Used by broadcasts:
    /// `f` only queues frames and never blocks.
    fn for_each_member(&self, room: &str, f: &mut dyn FnMut(&Connection));
}

/// Rooms in this process's memory.
#[derive(Default)]
pub struct LocalAdapter {
    rooms: DashMap<Arc<str>, HashMap<Fd, Connection>>,
    by_fd: DashMap<Fd, HashSet<Arc<str>>>,
}

impl fmt::Debug for LocalAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalAdapter")
            .field("rooms", &self.rooms.len())
            .finish()
    }
}

impl LocalAdapter {
    /// An empty adapter.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Adapter for LocalAdapter {
    fn join(&self, room: &str, conn: &Connection) -> bool {
        // Lock order everywhere: the room's entry, then the fd's entry.
        let mut members = self.rooms.entry(Arc::from(room)).or_default();
        let name = members.key().clone();
        let added = members.insert(conn.fd(), conn.clone()).is_none();
        if added {
            self.by_fd.entry(conn.fd()).or_default().insert(name);
        }
        added
    }

    fn leave(&self, room: &str, fd: Fd) -> bool {
        let Some(mut members) = self.rooms.get_mut(room) else {
            return false;
        };
        let removed = members.remove(&fd).is_some();
        if removed {
            if let Some(mut rooms) = self.by_fd.get_mut(&fd) {
                rooms.remove(room);
            }
            self.by_fd.remove_if(&fd, |_, r| r.is_empty());
        }
        let empty = members.is_empty();
        drop(members);
        if empty {
            self.rooms.remove_if(room, |_, m| m.is_empty());
        }
        removed
    }

    fn leave_all(&self, fd: Fd) -> Vec<Arc<str>> {
        let mut left = self.rooms_of(fd);
        left.retain(|room| self.leave(room, fd));
        left
    }

    fn rooms_of(&self, fd: Fd) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self
            .by_fd
            .get(&fd)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    fn contains(&self, room: &str, fd: Fd) -> bool {
        self.rooms.get(room).is_some_and(|m| m.contains_key(&fd))
    }

    fn size(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |m| m.len())
    }

    fn room_count(&self) -> usize {
        self.rooms.len()
    }

    fn room_names(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.rooms.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    fn for_each_member(&self, room: &str, f: &mut dyn FnMut(&Connection)) {
        if let Some(members) = self.rooms.get(room) {
            members.values().for_each(f);
        }
    }
}

/// The rooms of a server: a thin, typed front of its [`Adapter`].
#[derive(Clone)]
pub struct Rooms {
    adapter: Arc<dyn Adapter>,
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("count", &self.count())
            .finish()
    }
}

impl Rooms {
    pub(crate) fn new(adapter: Arc<dyn Adapter>) -> Self {
        Rooms { adapter }
    }

    pub(crate) fn adapter(&self) -> &dyn Adapter {
        &*self.adapter
    }

    /// Adds `conn` to `room`. Whether it was not a member before (joining twice is harmless).
    pub fn join(&self, conn: &Connection, room: &str) -> bool {
        let joined = conn.is_open() && self.adapter.join(room, conn);
        if joined {
            crate::metrics::set_rooms(self.count());
        }
        joined
    }

    /// Removes `fd` from `room`. Whether it was a member.
    pub fn leave(&self, fd: Fd, room: &str) -> bool {
        let left = self.adapter.leave(room, fd);
        if left {
            crate::metrics::set_rooms(self.count());
        }
        left
    }

    /// Removes `fd` from all its rooms; returns the rooms it left.
    pub fn leave_all(&self, fd: Fd) -> Vec<Arc<str>> {
        let left = self.adapter.leave_all(fd);
        if !left.is_empty() {
            crate::metrics::set_rooms(self.count());
        }
        left
    }

    /// The rooms `fd` is in, sorted.
    pub fn rooms_of(&self, fd: Fd) -> Vec<Arc<str>> {
        self.adapter.rooms_of(fd)
    }

    /// Whether `fd` is in `room`.
    pub fn contains(&self, room: &str, fd: Fd) -> bool {
        self.adapter.contains(room, fd)
    }

    /// The members of `room` (sorted by fd; empty for no such room).
    pub fn members(&self, room: &str) -> Vec<Connection> {
        let mut v = Vec::with_capacity(self.adapter.size(room));
        self.adapter
            .for_each_member(room, &mut |c| v.push(c.clone()));
        v.sort_by_key(Connection::fd);
        v
    }

    /// The fds of the members of `room`, sorted.
    pub fn member_fds(&self, room: &str) -> Vec<Fd> {
        let mut v = Vec::with_capacity(self.adapter.size(room));
        self.adapter.for_each_member(room, &mut |c| v.push(c.fd()));
        v.sort();
        v
    }

    /// How many members `room` has (0 for no such room).
    pub fn size(&self, room: &str) -> usize {
        self.adapter.size(room)
    }

    /// How many rooms exist.
    pub fn count(&self) -> usize {
        self.adapter.room_count()
    }

    /// The names of all rooms, sorted.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.adapter.room_names()
    }
}
