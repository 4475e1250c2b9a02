//! The per-connection rate limit: a token bucket owned by the read loop (no sharing, no
//! atomics), refilled at `per_second` up to `burst`; a message over the limit is a strike, and
//! more than `close_after` strikes within `window` is abuse.

use std::time::Instant;

use crate::config::RateLimit;

/// A token bucket per connection, in the read loop (no sharing, no atomics).
pub(super) struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
    strikes: u32,
    window_start: Instant,
}

pub(super) enum Verdict {
    Pass,
    Limited,
    Abuse,
}

impl Bucket {
    pub(super) fn new(limit: RateLimit) -> Self {
        let now = Instant::now();
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            last: now,
            strikes: 0,
            window_start: now,
        }
    }

    pub(super) fn take(&mut self, now: Instant) -> Verdict {
        let refill = now.duration_since(self.last).as_secs_f64() * f64::from(self.limit.per_second);
        self.tokens = (self.tokens + refill).min(f64::from(self.limit.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Pass;
        }
        if now.duration_since(self.window_start) > self.limit.window {
            self.window_start = now;
            self.strikes = 0;
        }
        self.strikes += 1;
        if self.strikes > self.limit.close_after {
            Verdict::Abuse
        } else {
            Verdict::Limited
        }
    }
}
