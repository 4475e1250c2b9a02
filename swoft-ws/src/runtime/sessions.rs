//! The session manager (Swoft's name): the live connections of a server, by fd. A connection
//! is in it from its open to its close; its entry is removed only if it still holds the same
//! connection (a reused fd never loses its new connection to the old one's clean-up).

use std::fmt;

use dashmap::DashMap;

use crate::runtime::connection::{Connection, ConnectionId};
use crate::runtime::fd::Fd;

/// The live connections of a server, by fd.
#[derive(Default)]
pub(crate) struct SessionManager {
    map: DashMap<Fd, Connection>,
}

impl fmt::Debug for SessionManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionManager")
            .field("live", &self.map.len())
            .finish()
    }
}

impl SessionManager {
    /// The live connection with this fd.
    pub(crate) fn get(&self, fd: Fd) -> Option<Connection> {
        self.map.get(&fd).map(|c| c.clone())
    }

    /// Whether a live connection has this fd.
    pub(crate) fn contains(&self, fd: Fd) -> bool {
        self.map.contains_key(&fd)
    }

    /// How many connections are live.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no connection is live.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The fds of the live connections, sorted.
    pub(crate) fn fds(&self) -> Vec<Fd> {
        let mut v: Vec<Fd> = self.map.iter().map(|e| *e.key()).collect();
        v.sort_unstable();
        v
    }

    /// A copy of every live connection (in no particular order).
    pub(crate) fn connections(&self) -> Vec<Connection> {
        self.map.iter().map(|e| e.value().clone()).collect()
    }

    /// Calls `f` with every live connection, without copying the table.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Connection)) {
        self.map.iter().for_each(|e| f(e.value()));
    }

    /// Up to `limit` live connections with fds above `after` (from the start for `None`),
    /// sorted by fd: page through all connections with the last fd of each page.
    pub(crate) fn page(&self, after: Option<Fd>, limit: usize) -> Vec<Connection> {
        let mut v: Vec<Connection> = self
            .map
            .iter()
            .filter(|e| after.is_none_or(|a| *e.key() > a))
            .map(|e| e.value().clone())
            .collect();
        v.sort_unstable_by_key(Connection::fd);
        v.truncate(limit);
        v
    }

    pub(crate) fn insert(&self, conn: Connection) {
        self.map.insert(conn.fd(), conn);
    }

    /// Removes `fd`'s entry if it still belongs to connection `id`.
    pub(crate) fn remove(&self, fd: Fd, id: ConnectionId) {
        self.map.remove_if(&fd, |_, c| c.id() == id);
    }
}
