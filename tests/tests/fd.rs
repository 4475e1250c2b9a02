//! The fd allocator through its public API (counting up, wrapping, skipping live fds, reuse,
//! exhaustion, concurrency), and fds as a real server hands them out with a small maximum.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws::{FdAllocator, FdExhausted};
use swoft_ws_tests::{QUIET, TestClient, TestServer, wait_until};

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

// ---- through a server ---------------------------------------------------------------------

#[ws_module(path = "/fd", controllers = [FdController])]
pub struct FdModule;

#[derive(Default)]
pub struct FdController;

#[ws_controller(prefix = "fd")]
impl FdController {
    #[message_mapping("mine")]
    fn mine(fd: Fd) -> Fd {
        fd
    }
}

/// The fd the server gave this client, as its handler sees it.
async fn fd_of(c: &mut TestClient) -> u64 {
    let reply = c.request("fd.mine", json!(null)).await;
    reply["data"].as_u64().expect("an fd")
}

#[tokio::test]
async fn a_server_with_max_fd_3_reuses_a_closed_connections_fd_and_refuses_a_fourth_with_503() {
    let app = App::builder()
        .module::<FdModule>()
        .max_fd(3)
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut c1 = server.connect("/fd").await.unwrap();
    let mut c2 = server.connect("/fd").await.unwrap();
    let mut c3 = server.connect("/fd").await.unwrap();
    assert_eq!(
        [
            fd_of(&mut c1).await,
            fd_of(&mut c2).await,
            fd_of(&mut c3).await
        ],
        [1, 2, 3]
    );

    c2.close(1000, "done").await;
    let s = server.server();
    assert!(
        wait_until(Duration::from_secs(5), || !s.fds().is_live(Fd::new(2))).await,
        "fd 2 freed after its connection closed"
    );
    // The count wraps after 3: 1 is live (skipped), 2 is free again.
    let mut c4 = server.connect("/fd").await.unwrap();
    assert_eq!(fd_of(&mut c4).await, 2);

    // Three live connections hold all three fds: a fourth is refused before the upgrade.
    let refused = server.connect("/fd").await.unwrap_err();
    assert_eq!(refused.status, Some(503), "{refused}");
    assert_eq!(s.connection_count(), 3);
    assert_eq!(s.fds().live(), 3, "the refused handshake leaked no fd");

    // The others are untouched by the refusal.
    assert_eq!(fd_of(&mut c1).await, 1);
    c3.expect_silence(QUIET).await;

    for c in [c1, c3, c4] {
        c.close(1000, "bye").await;
    }
    server.wait_idle().await;
    // All free again; the count goes on from 2, so the next connection gets 3.
    let mut c5 = server.connect("/fd").await.unwrap();
    assert_eq!(fd_of(&mut c5).await, 3);
}
