//! The per-connection token bucket alone, on instants chosen by the test.

use std::time::{Duration, Instant};

use crate::config::RateLimit;
use crate::driver::rate::{Bucket, Verdict};

fn verdicts(bucket: &mut Bucket, at: Instant, n: usize) -> Vec<&'static str> {
    (0..n)
        .map(|_| match bucket.take(at) {
            Verdict::Pass => "pass",
            Verdict::Limited => "limited",
            Verdict::Abuse => "abuse",
        })
        .collect()
}

#[test]
fn a_full_bucket_passes_a_burst_then_limits() {
    let mut bucket = Bucket::new(RateLimit::new(1, 3));
    let now = Instant::now();
    assert_eq!(
        verdicts(&mut bucket, now, 4),
        ["pass", "pass", "pass", "limited"]
    );
}

#[test]
fn tokens_come_back_at_the_rate_but_never_above_the_burst() {
    let mut bucket = Bucket::new(RateLimit::new(10, 2));
    let start = Instant::now();
    assert_eq!(verdicts(&mut bucket, start, 3), ["pass", "pass", "limited"]);
    // 100 ms at 10 per second: one token.
    let later = start + Duration::from_millis(100);
    assert_eq!(verdicts(&mut bucket, later, 2), ["pass", "limited"]);
    // A long pause refills up to the burst only.
    let much_later = later + Duration::from_secs(60);
    assert_eq!(
        verdicts(&mut bucket, much_later, 3),
        ["pass", "pass", "limited"]
    );
}

#[test]
fn more_strikes_than_close_after_within_the_window_is_abuse() {
    let limit = RateLimit::new(1, 1).close_after(2, Duration::from_secs(10));
    let mut bucket = Bucket::new(limit);
    let now = Instant::now();
    assert_eq!(
        verdicts(&mut bucket, now, 4),
        ["pass", "limited", "limited", "abuse"]
    );
}

#[test]
fn strikes_are_forgotten_once_the_window_has_passed() {
    let limit = RateLimit::new(1, 1).close_after(1, Duration::from_secs(10));
    let mut bucket = Bucket::new(limit);
    let start = Instant::now();
    assert_eq!(verdicts(&mut bucket, start, 2), ["pass", "limited"]);
    // Past the window (and with a token back): the count starts again.
    let later = start + Duration::from_secs(11);
    assert_eq!(
        verdicts(&mut bucket, later, 3),
        ["pass", "limited", "abuse"]
    );
}
