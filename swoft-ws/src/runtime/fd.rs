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

/// A connection's number, unique among live connections.
///
/// Fds are handed out counting up from 1 to a maximum ([`Config::max_fd`](crate::Config::max_fd),
/// 16,000,000 by default, as Swoole's), then the count wraps to 1 again, skipping numbers still
/// in use: a closed connection's fd becomes free for reuse. Because fds are reused, an fd alone
/// does not name a connection forever: every connection also carries a
/// [`ConnectionId`](crate::ConnectionId) that is never reused.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fd(u32);

impl Fd {
    /// The fd with this number. Mostly for tests and for pushing to an fd read from elsewhere.
    pub const fn new(n: u32) -> Self {
        Fd(n)
    }

    /// The fd as a number (1..=[`Config::max_fd`](crate::Config::max_fd)), as Swoft's `$fd`:
    /// for logs and for clients that address each other by fd.
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
pub(crate) struct FdExhausted {
    /// The allocator's maximum.
    pub max: u32,
}

/// Hands out fds: counting up from 1 to `max`, wrapping to 1, skipping fds still in use.
///
/// Allocation is O(1) amortised while a fair share of the fd space is free (it probes the next
/// numbers until it finds a free one) and is safe under concurrency: two callers never get the
/// same live fd. Freeing is O(1).
pub(crate) struct FdAllocator {
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
    pub(crate) fn new(max: u32) -> Self {
        FdAllocator {
            max: max.max(1),
            cursor: AtomicU32::new(0),
            live: DashSet::new(),
        }
    }

    /// The largest fd this allocator hands out.
    #[cfg(test)]
    pub(crate) fn max(&self) -> u32 {
        self.max
    }

    /// How many fds are in use.
    pub(crate) fn live(&self) -> usize {
        self.live.len()
    }

    /// Whether `fd` is in use.
    #[cfg(test)]
    pub(crate) fn is_live(&self, fd: Fd) -> bool {
        self.live.contains(&fd.0)
    }

    /// The next free fd after the last one handed out, wrapping to 1 after `max`.
    pub(crate) fn allocate(&self) -> Result<Fd, FdExhausted> {
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
    pub(crate) fn free(&self, fd: Fd) {
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
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

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

    // ---- the allocator's rules (moved from the integration tests when it became crate-private)

    fn take(a: &FdAllocator) -> u32 {
        a.allocate().expect("a free fd").get()
    }

    #[test]
    fn fds_count_up_from_one_to_the_maximum_then_wrap_to_one() {
        let a = FdAllocator::new(4);
        assert_eq!(a.max(), 4);
        let mut seen = Vec::new();
        // 25 turns of the space, each fd freed straight away: 1, 2, 3, 4, 1, 2, ...
        for _ in 0..100 {
            let fd = take(&a);
            seen.push(fd);
            a.free(Fd::new(fd));
        }
        let expected: Vec<u32> = (0..100).map(|i| i % 4 + 1).collect();
        assert_eq!(seen, expected);
        assert_eq!(a.live(), 0);
    }

    #[test]
    fn a_freed_fd_is_reused_only_when_the_count_comes_round_to_it() {
        let a = FdAllocator::new(3);
        assert_eq!(take(&a), 1);
        a.free(Fd::new(1));
        // The count goes on upwards first...
        assert_eq!(take(&a), 2);
        assert_eq!(take(&a), 3);
        // ...then wraps, and the freed 1 is handed out again.
        assert_eq!(take(&a), 1);
        assert!(a.is_live(Fd::new(1)));
    }

    #[test]
    fn wrapping_skips_the_fds_still_in_use() {
        let a = FdAllocator::new(5);
        let all: Vec<u32> = (0..5).map(|_| take(&a)).collect();
        assert_eq!(all, [1, 2, 3, 4, 5]);
        a.free(Fd::new(2));
        a.free(Fd::new(4));
        // After 5 the count wraps: 1 is live (skipped), 2 is free.
        assert_eq!(take(&a), 2);
        // 3 is live (skipped), 4 is free.
        assert_eq!(take(&a), 4);
        assert_eq!(a.live(), 5);
        a.free(Fd::new(1));
        // 5 is live, then 1 again.
        assert_eq!(take(&a), 1);
    }

    #[test]
    fn exhaustion_is_an_error_not_a_panic_and_freeing_ends_it() {
        let a = FdAllocator::new(3);
        for _ in 0..3 {
            take(&a);
        }
        for _ in 0..10 {
            assert_eq!(a.allocate(), Err(FdExhausted { max: 3 }));
        }
        assert_eq!(
            FdExhausted { max: 3 }.to_string(),
            "all 3 fds are in use",
            "the error names the maximum"
        );
        a.free(Fd::new(2));
        assert_eq!(take(&a), 2, "the one free fd");
        assert!(a.allocate().is_err());
        // Freeing an fd that is not in use does nothing.
        a.free(Fd::new(99));
        assert_eq!(a.live(), 3);
    }

    #[test]
    fn a_maximum_of_zero_is_treated_as_one() {
        let a = FdAllocator::new(0);
        assert_eq!(a.max(), 1);
        assert_eq!(take(&a), 1);
        assert!(a.allocate().is_err());
    }

    #[test]
    fn concurrent_allocations_hand_out_every_fd_exactly_once() {
        const MAX: u32 = 2_000;
        let a = FdAllocator::new(MAX);
        let got: Vec<Vec<u32>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = Vec::new();
                        // Bounded: at most MAX successes exist in total.
                        for _ in 0..=MAX {
                            match a.allocate() {
                                Ok(fd) => mine.push(fd.get()),
                                Err(e) => {
                                    assert_eq!(e.max, MAX);
                                    break;
                                }
                            }
                        }
                        mine
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total: usize = got.iter().map(Vec::len).sum();
        let distinct: HashSet<u32> = got.iter().flatten().copied().collect();
        assert_eq!(total, MAX as usize, "every fd handed out once");
        assert_eq!(distinct, (1..=MAX).collect(), "no duplicate, none missing");
    }

    /// 8 threads × 10,000 random allocate/free steps over 64 fds: an fd is never handed out while
    /// another thread holds it. Ownership is tracked outside the allocator, one flag per fd.
    #[test]
    fn concurrent_allocate_and_free_never_hand_out_a_live_fd_twice() {
        const MAX: u32 = 64;
        const THREADS: u64 = 8;
        const STEPS: usize = 10_000;
        let a = FdAllocator::new(MAX);
        let owned: Vec<AtomicBool> = (0..=MAX).map(|_| AtomicBool::new(false)).collect();
        let exhausted = AtomicUsize::new(0);
        let allocated = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (a, owned, exhausted, allocated) = (&a, &owned, &exhausted, &allocated);
                s.spawn(move || {
                    let mut rng =
                        0x9E37_79B9_7F4A_7C15_u64 ^ (t + 1).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                    let mut next = move || {
                        rng ^= rng << 13;
                        rng ^= rng >> 7;
                        rng ^= rng << 17;
                        rng
                    };
                    // Up to 12 each: 96 wanted over 64 fds, so exhaustion happens too.
                    let mut held: Vec<u32> = Vec::new();
                    for _ in 0..STEPS {
                        let allocate = held.is_empty() || (held.len() < 12 && next() % 2 == 0);
                        if allocate {
                            match a.allocate() {
                                Ok(fd) => {
                                    let n = fd.get();
                                    assert!((1..=MAX).contains(&n), "fd {n} out of range");
                                    assert!(
                                        !owned[n as usize].swap(true, Ordering::SeqCst),
                                        "fd {n} handed out while another thread holds it"
                                    );
                                    held.push(n);
                                    allocated.fetch_add(1, Ordering::Relaxed);
                                }
                                Err(_) => {
                                    exhausted.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        } else {
                            let i = (next() % held.len() as u64) as usize;
                            let n = held.swap_remove(i);
                            // Give up ownership before the allocator can hand it out again.
                            assert!(owned[n as usize].swap(false, Ordering::SeqCst));
                            a.free(Fd::new(n));
                        }
                    }
                    for n in held {
                        assert!(owned[n as usize].swap(false, Ordering::SeqCst));
                        a.free(Fd::new(n));
                    }
                });
            }
        });
        assert_eq!(a.live(), 0, "every fd was freed");
        assert!(allocated.load(Ordering::Relaxed) > 10_000);
        // Not asserted (it depends on scheduling), but reported when the test is run with
        // --nocapture: how often the space was full.
        println!(
            "{} allocations, {} exhausted",
            allocated.load(Ordering::Relaxed),
            exhausted.load(Ordering::Relaxed)
        );
    }
}
