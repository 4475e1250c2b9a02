//! The cluster's shared log of pushes to resumable sessions, and its store of dropped
//! sessions (a Redis stream and keys, feature `redis`), so that a client may resume on any
//! node and get the same answer.
//!
//! - **The log** (`P#log`, a stream trimmed to about the largest `max_messages` of the
//!   recovery modules): with a shared log, a push to a room, a module or all, or to a
//!   connection of a recovery module, is not delivered at once: it is appended (`XADD`) and
//!   every node, the sender too, reads the stream (`XREAD BLOCK`) and delivers each entry to
//!   its own connections in the stream's order. The entry's id `MS-SEQ` is the push's offset
//!   (`MS << 20 | SEQ`, as a decimal string): the same on every node, ordered, assigned before
//!   any node encodes the frame. A node keeps what it read in its module's history as on one
//!   node; what was appended before it started is not there (a resume from before answers
//!   `evicted`).
//! - **Sessions** (`P#session#TOKEN`, JSON: module, id, first offset, label, rooms), written
//!   when a connection drops (or by a drain, before it closes the connections), with the
//!   module's window as expiry; `P#expired#TOKEN` (twice the window) tells `expired` from
//!   `unknown`. The node that holds a session (live, or dropped) decides its resumes: a resume on
//!   another node asks it first, and it hands the session over; a record is taken out of the
//!   store (`GETDEL`, in one transaction with the marker's check) only when no node holds it
//!   (its node is gone). A node that lets go of a session deletes its record, so a token
//!   resumes once.
//!
//! Entries are signed like every other message between the nodes (`ClusterSettings::secret`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;

use crate::runtime::middleware::BoxFuture;
use crate::runtime::remote::Taken;

/// A message kind only the log carries.
pub(super) const K_LOGGED: u8 = 7;

/// Where the shared log and the session records are kept: implemented over Redis
/// (`RedisLog`, feature `redis`).
pub(crate) trait LogStore: Send + Sync {
    /// Appends an entry (in the background; in order).
    fn append(&self, entry: Bytes);
    /// Starts reading the log for `node`: `node.log_starts_at(first)`, then
    /// `node.on_logged(off, entry)` for each entry, in order.
    fn start(&self, node: Weak<dyn LogReader>, maxlen: usize);
    fn save(&self, token: &str, record: String, window: Duration) -> BoxFuture<'static, bool>;
    fn take(&self, token: &str) -> BoxFuture<'static, Taken>;
    /// Deletes a session's record and its expiry marker (its node let go of it).
    fn delete(&self, token: &str) -> BoxFuture<'static, ()>;
}

/// What reads the log: the cluster's node.
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
pub(crate) trait LogReader: Send + Sync {
    /// An entry at offset `off`.
    fn on_logged(&self, off: u64, entry: &[u8]);
    /// This node's copy of the log starts after offset `off`.
    fn log_starts_at(&self, off: u64);
}

/// A cluster adapter's shared log (see [`ClusterAdapter::shared_log`](crate::cluster::ClusterAdapter::shared_log)).
#[doc(hidden)]
#[derive(Clone)]
pub struct SharedLog(pub(crate) Arc<dyn LogStore>);

impl std::fmt::Debug for SharedLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLog").finish_non_exhaustive()
    }
}

/// A stream id `MS-SEQ` as an offset (`None` if it is not one, or SEQ ≥ 2^20).
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only the Redis shared log calls it
pub(crate) fn offset(id: &str) -> Option<u64> {
    let (ms, seq) = id.split_once('-')?;
    let (ms, seq) = (ms.parse::<u64>().ok()?, seq.parse::<u64>().ok()?);
    (seq < 1 << 20 && ms < 1 << 44).then_some(ms << 20 | seq)
}
