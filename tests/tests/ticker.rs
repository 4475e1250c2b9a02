//! The layout-B example (`examples/ticker`) as a user runs it: the real binary, ticking every
//! 25 ms (`TICKER_INTERVAL_MS`), pushing `ticker.tick` to the subscribers of each symbol.

use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws_tests::{Example, TestClient, start_example};

const INTERVAL_MS: u64 = 25;

fn start() -> Example {
    start_example("ticker", &[("TICKER_INTERVAL_MS", "25")])
}

async fn connect(example: &Example) -> TestClient {
    TestClient::connect(&format!("ws://{}/ticker", example.addr), &[])
        .await
        .unwrap()
}

/// Sends a request and returns its reply, dropping the pushes that arrive before it (so that
/// nothing is left pending).
async fn call(c: &mut TestClient, id: u64, cmd: &str, data: Value) -> Value {
    c.send_json(&json!({"cmd": cmd, "data": data, "id": id}))
        .await;
    for _ in 0..1000 {
        let v = c.recv_json().await;
        if v["id"] == id {
            return v;
        }
        assert_eq!(v["cmd"], "ticker.tick", "only ticks come unasked: {v}");
    }
    panic!("no reply to {cmd} among 1000 frames");
}

/// The next `n` frames, each a tick: (symbol, seq, price).
async fn ticks(c: &mut TestClient, n: usize) -> Vec<(String, u64, f64)> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let v = c.recv_json().await;
        assert_eq!(v["cmd"], "ticker.tick", "{v}");
        assert!(v.get("id").is_none(), "a push has no id: {v}");
        let d = &v["data"];
        out.push((
            d["symbol"].as_str().expect("symbol").to_owned(),
            d["seq"].as_u64().expect("seq"),
            d["price"].as_f64().expect("price"),
        ));
    }
    out
}

#[tokio::test]
async fn subscribers_get_ticks_with_increasing_seq_until_they_unsubscribe() {
    let example = start();
    let mut c = connect(&example).await;

    let reply = call(&mut c, 1, "ticker.subscribe", json!({"symbol": "ACME"})).await;
    assert_eq!(
        reply,
        json!({"cmd": "ticker.subscribe", "data": {"symbol": "ACME", "subscribed": true}, "id": 1})
    );
    let got = ticks(&mut c, 5).await;
    for w in got.windows(2) {
        assert!(w[1].1 > w[0].1, "seq increases: {got:?}");
    }
    for (symbol, _, price) in &got {
        assert_eq!(symbol, "ACME");
        assert!(*price > 0.0);
    }

    let reply = call(&mut c, 2, "ticker.unsubscribe", json!({"symbol": "ACME"})).await;
    assert_eq!(
        reply["data"],
        json!({"symbol": "ACME", "subscribed": false})
    );
    c.expect_silence(Duration::from_millis(INTERVAL_MS * 8))
        .await;

    // Subscribing again resumes the same symbol's clock: seq keeps growing.
    call(&mut c, 3, "ticker.subscribe", json!({"symbol": "ACME"})).await;
    let again = ticks(&mut c, 1).await;
    assert!(again[0].1 > got[4].1, "{again:?} after {got:?}");
}

#[tokio::test]
async fn symbols_are_independent_feeds() {
    let example = start();
    let mut acme = connect(&example).await;
    let mut bolt = connect(&example).await;
    let mut both = connect(&example).await;
    call(&mut acme, 1, "ticker.subscribe", json!({"symbol": "ACME"})).await;
    call(&mut bolt, 1, "ticker.subscribe", json!({"symbol": "BOLT"})).await;
    call(&mut both, 1, "ticker.subscribe", json!({"symbol": "ACME"})).await;
    call(&mut both, 2, "ticker.subscribe", json!({"symbol": "BOLT"})).await;

    assert!(ticks(&mut acme, 4).await.iter().all(|t| t.0 == "ACME"));
    assert!(ticks(&mut bolt, 4).await.iter().all(|t| t.0 == "BOLT"));

    let mixed = ticks(&mut both, 8).await;
    for symbol in ["ACME", "BOLT"] {
        let seqs: Vec<u64> = mixed
            .iter()
            .filter(|t| t.0 == symbol)
            .map(|t| t.1)
            .collect();
        assert!(seqs.len() >= 3, "{symbol} ticks among {mixed:?}");
        assert!(seqs.windows(2).all(|w| w[1] > w[0]), "{symbol}: {seqs:?}");
    }

    // Dropping one subscription leaves the other.
    call(
        &mut both,
        3,
        "ticker.unsubscribe",
        json!({"symbol": "ACME"}),
    )
    .await;
    assert!(ticks(&mut both, 4).await.iter().all(|t| t.0 == "BOLT"));
    let list = call(&mut both, 4, "ticker.list", json!(null)).await;
    assert_eq!(
        list["data"],
        json!({"symbols": ["ACME", "BOLT", "CORE"], "subscribed": ["BOLT"]})
    );
}

#[tokio::test]
async fn unknown_symbols_are_not_found_and_nobody_gets_unasked_ticks() {
    let example = start();
    let mut c = connect(&example).await;
    let reply = call(&mut c, 1, "ticker.subscribe", json!({"symbol": "NOPE"})).await;
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    let reply = call(&mut c, 2, "ticker.subscribe", json!({})).await;
    assert_eq!(reply["error"]["code"], "invalid_data", "{reply}");
    let list = call(&mut c, 3, "ticker.list", json!(null)).await;
    assert_eq!(list["data"]["subscribed"], json!([]));
    c.expect_silence(Duration::from_millis(INTERVAL_MS * 8))
        .await;
}
