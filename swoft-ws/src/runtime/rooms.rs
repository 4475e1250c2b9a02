//! Rooms: named groups of connections that broadcasts reach together.
//!
//! A connection joins and leaves rooms ([`Rooms::join`], [`Connection::join`]); a room exists
//! while it has members and disappears with its last one. When a connection closes — whatever
//! the cause — it leaves all its rooms, after its module's `#[on_close]` hook ran (so the hook
//! can still see them and tell the other members).
//!
//! Each node keeps its own members in memory ([`RoomTable`]). With several nodes, a cluster
//! adapter joins them: broadcasts reach every node's members,
//! and the `cluster_*` queries ([`Rooms::cluster_members`], [`Rooms::cluster_size`],
//! [`Rooms::find_label`]) ask every node. They answer at once on a single node, so application
//! code does not change when it moves from one node to many.
//!
//! Broadcasts go through [`Server::room`](crate::Server::room) and its siblings: see
//! [`Broadcast`](crate::Broadcast).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::runtime::connection::{Connection, ConnectionId, JoinError};
use crate::runtime::fd::Fd;
use crate::runtime::remote::{ConnAddr, Member, NodeId, Remote};
use crate::runtime::server::Server;

/// This node's rooms and their members, in memory: room → members and fd → rooms, kept in
/// step. Cheap to call from many tasks at once and never blocks on I/O (it is on the message
/// path).
#[derive(Default)]
pub(crate) struct RoomTable {
    rooms: DashMap<Arc<str>, HashMap<Fd, Connection>>,
    by_fd: DashMap<Fd, HashSet<Arc<str>>>,
}

impl fmt::Debug for RoomTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomTable")
            .field("rooms", &self.rooms.len())
            .finish()
    }
}

impl RoomTable {
    /// Adds `conn` to `room` (creating the room), unless it is already in `limit` rooms
    /// (`Err(())`: nothing changed). Whether it was not a member before.
    pub(crate) fn join(&self, room: &str, conn: &Connection, limit: usize) -> Result<bool, ()> {
        // Lock order everywhere: the room's entry, then the fd's entry. Both are held while
        // the limit is checked, so concurrent joins cannot pass it together.
        let fd = conn.fd();
        let mut members = self.rooms.entry(Arc::from(room)).or_default();
        if members.contains_key(&fd) {
            return Ok(false);
        }
        let mut rooms = self.by_fd.entry(fd).or_default();
        if rooms.len() >= limit {
            drop(rooms);
            let empty = members.is_empty();
            drop(members);
            // Leave nothing behind: neither an empty room nor an empty fd entry.
            self.by_fd.remove_if(&fd, |_, r| r.is_empty());
            if empty {
                self.rooms.remove_if(room, |_, m| m.is_empty());
            }
            return Err(());
        }
        rooms.insert(members.key().clone());
        members.insert(fd, conn.clone());
        Ok(true)
    }

    /// Removes `fd` from `room` (removing an empty room). Whether it was a member.
    pub(crate) fn leave(&self, room: &str, fd: Fd) -> bool {
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

    /// The room's name as the table keeps it (shared, not copied), if it has members.
    pub(crate) fn name(&self, room: &str) -> Option<Arc<str>> {
        self.rooms.get(room).map(|e| e.key().clone())
    }

    /// The member `fd` of `room`.
    pub(crate) fn member(&self, room: &str, fd: Fd) -> Option<Connection> {
        self.rooms.get(room)?.get(&fd).cloned()
    }

    /// Removes `fd` from every room; returns the rooms it left.
    pub(crate) fn leave_all(&self, fd: Fd) -> Vec<Arc<str>> {
        let mut left = self.rooms_of(fd);
        left.retain(|room| self.leave(room, fd));
        left
    }

    /// The rooms `fd` is in, sorted.
    pub(crate) fn rooms_of(&self, fd: Fd) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self
            .by_fd
            .get(&fd)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Whether `fd` is in `room`.
    pub(crate) fn contains(&self, room: &str, fd: Fd) -> bool {
        self.rooms.get(room).is_some_and(|m| m.contains_key(&fd))
    }

    /// How many members `room` has (0 for no such room).
    pub(crate) fn size(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, |m| m.len())
    }

    /// How many rooms exist.
    pub(crate) fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The names of all rooms, sorted.
    pub(crate) fn room_names(&self) -> Vec<Arc<str>> {
        let mut v: Vec<Arc<str>> = self.rooms.iter().map(|e| e.key().clone()).collect();
        v.sort();
        v
    }

    /// Calls `f` with every member of `room` (in no particular order). Used by broadcasts:
    /// `f` only queues frames and never blocks.
    pub(crate) fn for_each_member(&self, room: &str, f: impl FnMut(&Connection)) {
        if let Some(members) = self.rooms.get(room) {
            members.values().for_each(f);
        }
    }
}

/// The rooms of a server: named groups of connections that broadcasts reach together.
///
/// A connection joins and leaves rooms ([`Rooms::join`], [`Connection::join`]); a room exists
/// while it has members and disappears with its last one. When a connection closes — whatever
/// the cause — it leaves all its rooms, after its module's `#[on_close]` hook ran (so the hook
/// can still see them and tell the other members). Each node keeps its own members in memory;
/// with a cluster adapter ([`AppBuilder::cluster`](crate::AppBuilder::cluster)) broadcasts
/// reach every node's, and the `cluster_*` queries ([`Rooms::cluster_members`],
/// [`Rooms::cluster_size`], [`Rooms::find_label`]) ask every node. They answer at once on a
/// single node, so application code does not change when it moves from one node to many.
/// Broadcasts go through [`Server::room`](crate::Server::room) and its siblings: see
/// [`Broadcast`](crate::Broadcast).
#[derive(Clone)]
pub struct Rooms {
    table: Arc<RoomTable>,
    node_id: NodeId,
    cluster: Option<Arc<dyn Remote>>,
    labels: Arc<Labels>,
}

/// Connection labels: fd → (the connection's id, its label), and label → fds for lookups.
///
/// Both maps change together, under the `by_fd` entry's lock (taken first, always): a label
/// update is atomic, and a connection is indexed under one label at most. An entry belongs to
/// a connection (its id), not to a bare fd: it is set only while that connection is open and
/// removed when it closes, before its fd can be reused.
#[derive(Default)]
struct Labels {
    by_fd: DashMap<Fd, (ConnectionId, Arc<str>)>,
    by_label: DashMap<Arc<str>, Vec<Fd>>,
}

impl Labels {
    /// Takes `fd` off `label`'s list; `by_fd`'s entry for `fd` must be locked by the caller.
    fn unindex(&self, label: &str, fd: Fd) {
        if let Some(mut fds) = self.by_label.get_mut(label) {
            fds.retain(|f| *f != fd);
        }
        self.by_label.remove_if(label, |_, fds| fds.is_empty());
    }
}

impl fmt::Debug for Rooms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rooms")
            .field("count", &self.count())
            .finish()
    }
}

impl Rooms {
    pub(crate) fn new(cluster: Option<Arc<dyn Remote>>) -> Self {
        Rooms {
            table: Arc::default(),
            node_id: cluster
                .as_ref()
                .map_or_else(NodeId::local, |c| c.id().clone()),
            cluster,
            labels: Arc::default(),
        }
    }

    /// Starts the cluster side (if any) for `server`.
    pub(crate) fn attach(&self, server: &Server) {
        if let Some(c) = &self.cluster {
            c.clone().attach(server);
        }
    }

    pub(crate) fn table(&self) -> &RoomTable {
        &self.table
    }

    pub(crate) fn cluster(&self) -> Option<&Arc<dyn Remote>> {
        self.cluster.as_ref()
    }

    pub(crate) fn node_id(&self) -> &NodeId {
        &self.node_id
    }

    /// Whether this server is one node of a cluster (it has a cluster adapter).
    pub fn is_clustered(&self) -> bool {
        self.cluster.is_some()
    }

    /// Tells the other nodes this one is leaving, so they drop it at once rather than after
    /// the node timeout, and waits (at most `within`) until what this node queued for them —
    /// the goodbye included — is published. For the end of a graceful shutdown; nothing on a
    /// single node.
    pub async fn leave_cluster(&self, within: std::time::Duration) {
        if let Some(c) = &self.cluster {
            c.goodbye();
            c.flush(within).await;
        }
    }

    /// Labels `conn` (replacing its label); false, and nothing changed, once it is closing.
    ///
    /// Atomic: under `by_fd`'s entry lock, which [`forget`](Self::forget) takes too. A close
    /// sets the connection's closing flag before its labels are forgotten, so an update either
    /// sees the flag or is undone by the forgetting.
    pub(crate) fn set_label(&self, conn: &Connection, label: &str) -> bool {
        let (fd, id) = (conn.fd(), conn.id());
        let mut entry = match self.labels.by_fd.entry(fd) {
            Entry::Occupied(e) if e.get().0 != id => {
                // The fd is another connection's: this one is gone.
                return false;
            }
            e => e,
        };
        if conn.is_closing() {
            return false;
        }
        let label: Arc<str> = Arc::from(label);
        match &mut entry {
            Entry::Occupied(e) => {
                let old = std::mem::replace(&mut e.get_mut().1, label.clone());
                if old == label {
                    return true;
                }
                self.labels.unindex(&old, fd);
            }
            Entry::Vacant(_) => {}
        }
        self.labels
            .by_label
            .entry(label.clone())
            .or_default()
            .push(fd);
        if let Entry::Vacant(e) = entry {
            e.insert((id, label));
        }
        true
    }

    /// Forgets `conn`'s label (at its close), if the entry is still its own.
    pub(crate) fn forget(&self, fd: Fd, id: ConnectionId) {
        if let Entry::Occupied(e) = self.labels.by_fd.entry(fd) {
            if e.get().0 == id {
                let (_, (_, label)) = e.remove_entry();
                self.labels.unindex(&label, fd);
            }
        }
    }

    /// How many connections of this node have a label.
    pub(crate) fn label_count(&self) -> usize {
        self.labels.by_fd.len()
    }

    pub(crate) fn label(&self, fd: Fd) -> Option<Arc<str>> {
        self.labels.by_fd.get(&fd).map(|l| l.1.clone())
    }

    /// This node's connections labelled `label`.
    pub(crate) fn labelled(&self, label: &str) -> Vec<Fd> {
        self.labels
            .by_label
            .get(label)
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// This node's members of `room` with their labels.
    pub(crate) fn local_members_labelled(&self, room: &str) -> Vec<(Fd, Option<Arc<str>>)> {
        let mut v = Vec::with_capacity(self.table.size(room));
        self.table.for_each_member(room, |c| v.push((c.fd(), None)));
        for (fd, label) in &mut v {
            *label = self.label(*fd);
        }
        v
    }

    /// The members of `room` on every node, with their labels, sorted by address. On one node
    /// this answers at once; on several it waits for every live node's answer, at most the
    /// cluster's query timeout (a node that does not answer in time is left out, and counted
    /// in `swoft_ws_cluster_query_timeouts_total`).
    pub async fn cluster_members(&self, room: &str) -> Vec<Member> {
        let mut v: Vec<Member> = self
            .local_members_labelled(room)
            .into_iter()
            .map(|(fd, label)| Member {
                addr: ConnAddr {
                    node: self.node_id.clone(),
                    fd,
                },
                label,
            })
            .collect();
        if let Some(c) = &self.cluster {
            v.extend(c.members(room).await);
        }
        v.sort();
        v
    }

    /// How many members `room` has on every node (see [`cluster_members`](Self::cluster_members)
    /// for the timeout).
    pub async fn cluster_size(&self, room: &str) -> usize {
        let local = self.table.size(room);
        match &self.cluster {
            Some(c) => local + c.size(room).await,
            None => local,
        }
    }

    /// The connections labelled `label` ([`Connection::set_label`]) on every node, sorted (see
    /// [`cluster_members`](Self::cluster_members) for the timeout).
    pub async fn find_label(&self, label: &str) -> Vec<ConnAddr> {
        let mut v: Vec<ConnAddr> = self
            .labelled(label)
            .into_iter()
            .map(|fd| ConnAddr {
                node: self.node_id.clone(),
                fd,
            })
            .collect();
        if let Some(c) = &self.cluster {
            v.extend(c.find_label(label).await);
        }
        v.sort();
        v
    }

    /// Adds `conn` to `room`: `Ok(true)` if it was not a member before, `Ok(false)` if it
    /// was (joining twice is harmless) or the connection is closed.
    ///
    /// # Errors
    ///
    /// [`JoinError::TooManyRooms`] when `conn` is already in its module's
    /// `max_rooms_per_connection` rooms; counted as `swoft_ws_limited_total{limit="rooms"}`.
    pub fn join(&self, conn: &Connection, room: &str) -> Result<bool, JoinError> {
        // A connection of a module with resumable sessions joins under the sessions' lock.
        crate::runtime::recovery::join(conn, room, || self.join_now(conn, room))
    }

    /// [`join`](Self::join), without recording the membership for a resumable session (a
    /// resume's rejoin, under the sessions' lock already).
    pub(crate) fn join_now(&self, conn: &Connection, room: &str) -> Result<bool, JoinError> {
        if !conn.is_open() {
            return Ok(false);
        }
        let module = conn.module();
        let limit = module.limits.max_rooms_per_connection;
        match self.table.join(room, conn, limit) {
            Ok(joined) => {
                if joined {
                    crate::runtime::metrics::set_rooms(self.count());
                }
                Ok(joined)
            }
            Err(()) => {
                module.metrics.rooms_limited.increment(1);
                tracing::debug!(fd = %conn.fd(), limit, "join refused: too many rooms");
                Err(JoinError::TooManyRooms { limit })
            }
        }
    }

    /// Removes `fd` from `room`. Whether it was a member.
    pub fn leave(&self, fd: Fd, room: &str) -> bool {
        match self.table.member(room, fd) {
            // A connection of a module with resumable sessions leaves under their lock.
            Some(conn) => crate::runtime::recovery::leave(&conn, room, || self.leave_now(fd, room)),
            None => false,
        }
    }

    fn leave_now(&self, fd: Fd, room: &str) -> bool {
        let left = self.table.leave(room, fd);
        if left {
            crate::runtime::metrics::set_rooms(self.count());
        }
        left
    }

    /// Removes `fd` from all its rooms and forgets its label (what the runtime does when a
    /// connection ends); returns the rooms it left.
    pub fn leave_all(&self, fd: Fd) -> Vec<Arc<str>> {
        if let Entry::Occupied(e) = self.labels.by_fd.entry(fd) {
            let (_, (_, label)) = e.remove_entry();
            self.labels.unindex(&label, fd);
        }
        let left = self.table.leave_all(fd);
        if !left.is_empty() {
            crate::runtime::metrics::set_rooms(self.count());
        }
        left
    }

    /// The rooms `fd` is in, sorted.
    pub fn rooms_of(&self, fd: Fd) -> Vec<Arc<str>> {
        self.table.rooms_of(fd)
    }

    /// Whether `fd` is in `room`.
    pub fn contains(&self, room: &str, fd: Fd) -> bool {
        self.table.contains(room, fd)
    }

    /// The members of `room` (sorted by fd; empty for no such room).
    pub fn members(&self, room: &str) -> Vec<Connection> {
        let mut v = Vec::with_capacity(self.table.size(room));
        self.table.for_each_member(room, |c| v.push(c.clone()));
        v.sort_by_key(Connection::fd);
        v
    }

    /// The fds of the members of `room`, sorted.
    pub fn member_fds(&self, room: &str) -> Vec<Fd> {
        let mut v = Vec::with_capacity(self.table.size(room));
        self.table.for_each_member(room, |c| v.push(c.fd()));
        v.sort();
        v
    }

    /// How many members `room` has (0 for no such room).
    pub fn size(&self, room: &str) -> usize {
        self.table.size(room)
    }

    /// How many rooms exist.
    pub fn count(&self) -> usize {
        self.table.room_count()
    }

    /// The names of all rooms, sorted.
    pub fn names(&self) -> Vec<Arc<str>> {
        self.table.room_names()
    }
}
