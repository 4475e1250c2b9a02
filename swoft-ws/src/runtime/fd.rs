//! The `fd` allocator.
//!
//! Every live connection has an `fd`: a number that is unique among live connections. Numbers
//! are handed out counting up from 1 to a maximum (16,000,000 by default), then the count wraps
//! to 1 again, skipping numbers still in use. A closed connection's fd becomes free for reuse.
//!
//! Because fds are reused, an fd alone does not name a connection forever: every connection
//! also carries a [`ConnectionId`](crate::ConnectionId) that is never reused.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use dashmap::DashSet;

pub use crate::config::DEFAULT_MAX_FD;

/// A connection's number, unique among live connections.
///
/// Counts up from 1; see the [module docs](self) for how numbers are reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fd(u32);

impl Fd {
    /// The fd with this number. Mostly for tests and for pushing to an fd read from elsewhere.
    pub const fn new(n: u32) -> Self {
        Fd(n)
    }

    /// The number.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Debug for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fd#{}", self.0)
    }
}

impl fmt::Display for Fd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<u32> for Fd {
    fn from(n: u32) -> Self {
        Fd(n)
    }
}

impl serde::Serialize for Fd {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

/// Every fd from 1 to the maximum is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("all {max} fds are in use")]
pub struct FdExhausted {
    /// The allocator's maximum.
    pub max: u32,
}

/// Hands out fds: counting up from 1 to `max`, wrapping to 1, skipping fds still in use.
///
/// Allocation is O(1) amortised while a fair share of the fd space is free (it probes the next
/// numbers until it finds a free one) and is safe under concurrency: two callers never get the
/// same live fd. Freeing is O(1).
pub struct FdAllocator {
    max: u32,
    /// The last number handed out (0 before the first).
    cursor: AtomicU32,
    live: DashSet<u32>,
}

impl fmt::Debug for FdAllocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdAllocator")
            .field("max", &self.max)
            .field("live", &self.live.len())
            .finish()
    }
}

impl FdAllocator {
    /// An allocator for fds `1..=max`. A `max` of 0 is treated as 1.
    pub fn new(max: u32) -> Self {
        FdAllocator {
            max: max.max(1),
            cursor: AtomicU32::new(0),
            live: DashSet::new(),
        }
    }

    /// The largest fd this allocator hands out.
    pub fn max(&self) -> u32 {
        self.max
    }

    /// How many fds are in use.
    pub fn live(&self) -> usize {
        self.live.len()
    }

    /// Whether `fd` is in use.
    pub fn is_live(&self, fd: Fd) -> bool {
        self.live.contains(&fd.0)
    }

    /// The next free fd after the last one handed out, wrapping to 1 after `max`.
    pub fn allocate(&self) -> Result<Fd, FdExhausted> {
        // At most one full turn of the space: if every number is taken, give up.
        for _ in 0..self.max {
            let prev = self
                .cursor
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                    Some(if c >= self.max { 1 } else { c + 1 })
                })
                .unwrap_or_else(|c| c);
            let candidate = if prev >= self.max { 1 } else { prev + 1 };
            if self.live.insert(candidate) {
                return Ok(Fd(candidate));
            }
        }
        Err(FdExhausted { max: self.max })
    }

    /// Frees `fd` for reuse. Freeing an fd that is not in use does nothing.
    pub fn free(&self, fd: Fd) {
        self.live.remove(&fd.0);
    }

    /// Allocates an fd that is freed when the returned guard is dropped.
    pub(crate) fn allocate_guarded(self: &Arc<Self>) -> Result<FdGuard, FdExhausted> {
        let fd = self.allocate()?;
        Ok(FdGuard {
            fd,
            alloc: Arc::clone(self),
        })
    }
}

/// Frees its fd when dropped, so no path (an upgrade that never completes, a panic, a
/// cancelled task) can leak one.
#[derive(Debug)]
pub(crate) struct FdGuard {
    fd: Fd,
    alloc: Arc<FdAllocator>,
}

impl FdGuard {
    pub(crate) fn fd(&self) -> Fd {
        self.fd
    }
}

impl Drop for FdGuard {
    fn drop(&mut self) {
        self.alloc.free(self.fd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_from_one() {
        let a = FdAllocator::new(10);
        assert_eq!(a.allocate().unwrap().get(), 1);
        assert_eq!(a.allocate().unwrap().get(), 2);
        assert_eq!(a.allocate().unwrap().get(), 3);
    }

    #[test]
    fn wraps_and_skips_live_fds() {
        let a = FdAllocator::new(4);
        let fds: Vec<_> = (0..4).map(|_| a.allocate().unwrap()).collect();
        assert_eq!(
            fds.iter().map(|f| f.get()).collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(a.allocate(), Err(FdExhausted { max: 4 }));
        a.free(Fd(3));
        a.free(Fd(2));
        // After 4 the count wraps to 1 (live, skipped), then 2 is free.
        assert_eq!(a.allocate().unwrap().get(), 2);
        assert_eq!(a.allocate().unwrap().get(), 3);
        assert!(a.allocate().is_err());
    }

    #[test]
    fn guard_frees_on_drop() {
        let a = Arc::new(FdAllocator::new(2));
        let g = a.allocate_guarded().unwrap();
        assert!(a.is_live(g.fd()));
        drop(g);
        assert_eq!(a.live(), 0);
    }
}
