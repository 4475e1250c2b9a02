//! `/ticker`: subscriptions to price feeds, and the background task that feeds them.
//!
//! Each symbol is a room (`ticker:SYMBOL`): subscribing joins it, unsubscribing (or closing)
//! leaves it, and the feed pushes each tick to the room, encoded once for all its members.

use std::time::Duration;

use serde::Serialize;
use swoft_ws::prelude::*;

use super::controller::TickerController;

/// The symbols the feed quotes, with their opening prices in cents.
pub(crate) const SYMBOLS: [(&str, u64); 3] = [("ACME", 10_000), ("BOLT", 2_500), ("CORE", 47_300)];

/// The room of `symbol`'s subscribers.
pub(crate) fn room_of(symbol: &str) -> String {
    format!("ticker:{symbol}")
}

/// Serves `/ticker` with the JSON protocol; no handshake requirements.
#[ws_module(path = "/ticker", controllers = [TickerController])]
pub(crate) struct TickerModule;

/// The push `ticker.tick`.
#[derive(Debug, Serialize)]
struct Tick<'a> {
    symbol: &'a str,
    /// In currency units, two decimals.
    price: f64,
    /// Counts this symbol's ticks from 1; it only grows.
    seq: u64,
}

/// One symbol's feed: a deterministic random walk of its price.
struct Feed {
    symbol: &'static str,
    room: String,
    cents: u64,
    seq: u64,
    rng: u64,
}

impl Feed {
    fn next(&mut self) {
        // xorshift64: no dependency, and the walk is the same on every run.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let step = (self.rng % 41) as i64 - 20; // −20..=20 cents
        self.cents = self.cents.saturating_add_signed(step).max(1);
        self.seq += 1;
    }
}

/// Ticks every `interval`, pushing `ticker.tick` to each symbol's subscribers (symbols nobody
/// follows tick too, unseen, so `seq` is a clock shared by all subscribers of a symbol). Runs
/// until the process ends.
pub(crate) async fn run_feed(server: Server, interval: Duration) {
    let mut feeds: Vec<Feed> = SYMBOLS
        .iter()
        .zip(1u64..)
        .map(|(&(symbol, cents), i)| Feed {
            symbol,
            room: room_of(symbol),
            cents,
            seq: 0,
            rng: 0x9E37_79B9_7F4A_7C15 ^ i,
        })
        .collect();
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        for feed in &mut feeds {
            feed.next();
            if server.rooms().size(&feed.room) == 0 {
                continue;
            }
            let tick = Tick {
                symbol: feed.symbol,
                price: feed.cents as f64 / 100.0,
                seq: feed.seq,
            };
            if let Err(e) = server.room(&feed.room).push("ticker.tick", &tick) {
                tracing::warn!(symbol = feed.symbol, error = %e, "tick not pushed");
            }
        }
    }
}
