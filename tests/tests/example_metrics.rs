//! The chat example's `/metrics` as Prometheus scrapes it: the real binary, plain HTTP GETs,
//! counters that move with the traffic in between.

use serde_json::json;
use swoft_ws_tests::metric_value as value;
use swoft_ws_tests::{TestClient, http_request, start_example};

async fn scrape(addr: &str) -> String {
    let resp = http_request(addr, "GET", "/metrics", "").await;
    assert_eq!(resp.status, 200, "{resp:?}");
    assert!(
        resp.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{resp:?}"
    );
    resp.body
}

#[tokio::test]
async fn chat_example_metrics_move_with_the_traffic() {
    let example = start_example("chat", &[]);
    let addr = example.addr.as_str();
    let before = scrape(addr).await;

    let url = |q: &str| format!("ws://{addr}/chat{q}");
    let mut alice = TestClient::connect(&url("?name=alice"), &[]).await.unwrap();
    let mut bob = TestClient::connect(&url("?name=bob"), &[]).await.unwrap();
    let refused = TestClient::connect(&url("?name=no!"), &[])
        .await
        .unwrap_err();
    assert_eq!(refused.status, Some(400));
    alice.request("room.join", json!({"room": "m"})).await;
    bob.request("room.join", json!({"room": "m"})).await;
    alice
        .request("room.send", json!({"room": "m", "text": "hi"}))
        .await;
    let err = bob
        .request("room.send", json!({"room": "elsewhere", "text": "hi"}))
        .await;
    assert_eq!(err["error"]["code"], "forbidden");

    let after = scrape(addr).await;
    let moved = |series: &str, by: f64| {
        assert_eq!(
            value(&after, series) - value(&before, series),
            by,
            "{series}\n--- after:\n{after}"
        );
    };
    moved(
        r#"swoft_ws_messages_in_total{module="/chat",command="room.join"}"#,
        2.0,
    );
    moved(
        r#"swoft_ws_messages_in_total{module="/chat",command="room.send"}"#,
        2.0,
    );
    moved(
        r#"swoft_ws_handshakes_total{module="/chat",outcome="accepted"}"#,
        2.0,
    );
    moved(
        r#"swoft_ws_handshakes_total{module="/chat",outcome="rejected"}"#,
        1.0,
    );
    moved(
        r#"swoft_ws_error_replies_total{module="/chat",code="forbidden"}"#,
        1.0,
    );
    // Pushes: bob's room.joined to alice, alice's room.message to bob.
    moved(
        r#"swoft_ws_messages_out_total{module="/chat",command="<push>"}"#,
        2.0,
    );
    assert_eq!(
        value(&after, r#"swoft_ws_connections{module="/chat"}"#),
        2.0
    );
    assert_eq!(value(&after, "swoft_ws_rooms "), 1.0);
    assert!(
        after.contains(r#"swoft_ws_handler_seconds{module="/chat",command="room.join",quantile="#),
        "{after}"
    );

    // Closing shows too: the gauges come back down.
    alice.close(1000, "").await;
    bob.close(1000, "").await;
    let mut last = String::new();
    // Bounded: 50 scrapes, 100 ms apart.
    for _ in 0..50 {
        last = scrape(addr).await;
        if value(&last, r#"swoft_ws_connections{module="/chat"}"#) == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        value(&last, r#"swoft_ws_connections{module="/chat"}"#),
        0.0,
        "{last}"
    );
    assert_eq!(value(&last, "swoft_ws_rooms "), 0.0, "{last}");
}
