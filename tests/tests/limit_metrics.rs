//! Every limit crossed is counted: read back from a real Prometheus recorder installed before
//! the app is built (this test binary's only recorder).

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;
use swoft_ws::SendError;
use swoft_ws::config::RateLimit;
use swoft_ws::prelude::*;
use swoft_ws_tests::metric_value as value;
use swoft_ws_tests::{TestServer, wait_until};

#[ws_module(path = "/lm", controllers = [LmController], backpressure = drop_newest)]
pub struct LmModule;

#[derive(Default)]
pub struct LmController;

#[ws_controller(prefix = "lm")]
impl LmController {
    #[message_mapping("fd")]
    fn fd(fd: Fd) -> Fd {
        fd
    }

    #[message_mapping("forever")]
    async fn forever() {
        std::future::pending::<()>().await;
    }
}

/// Three rooms per connection at most; no rate limit.
#[ws_module(path = "/lr", controllers = [LrController], max_rooms_per_connection = 3, rate_limit = 0)]
pub struct LrModule;

#[derive(Default)]
pub struct LrController;

#[ws_controller(prefix = "lr")]
impl LrController {
    #[message_mapping("join")]
    fn join(Data(room): Data<String>, conn: &Connection) -> Result<bool, WsError> {
        Ok(conn.join(&room)?)
    }
}

#[tokio::test]
async fn limits_crossed_are_counted_by_module_and_kind() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");

    let app = App::builder()
        .module::<LmModule>()
        .module::<LrModule>()
        .max_connections(3)
        .handler_timeout(Some(Duration::from_millis(100)))
        .rate_limit(RateLimit::new(1, 3).close_after(1000, Duration::from_secs(10)))
        .outbound_bytes(64 << 10)
        .ping_interval(Some(Duration::from_millis(200)))
        .idle_timeout(Some(Duration::from_millis(600)))
        .close_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let s = server.server().clone();

    // Rooms: the fourth room is refused with `too_many_rooms` and leaves nothing behind; a
    // room the connection is in can still be joined again.
    let mut r = server.connect("/lr").await.unwrap();
    for i in 0..3 {
        assert_eq!(
            r.request("lr.join", json!(format!("r{i}"))).await["data"],
            true
        );
    }
    let refused = r.request("lr.join", json!("r3")).await;
    assert_eq!(refused["error"]["code"], "too_many_rooms", "{refused}");
    assert_eq!(s.rooms().count(), 3, "the refused room was not created");
    assert_eq!(r.request("lr.join", json!("r0")).await["data"], false);
    r.close(1000, "done").await;
    assert!(wait_until(Duration::from_secs(3), || s.connection_count() == 0).await);
    assert_eq!(s.rooms().count(), 0);

    // Origin refused, then connections over the limit.
    let e = server
        .connect_with("/lm", &[("origin", "https://evil.example")])
        .await
        .unwrap_err();
    assert_eq!(e.status, Some(403));
    let mut a = server.connect("/lm").await.unwrap();
    let mut b = server.connect("/lm").await.unwrap();
    let idle = server.connect("/lm").await.unwrap();
    assert_eq!(server.connect("/lm").await.unwrap_err().status, Some(503));

    // A handler timeout, then rate-limited messages (burst 3: fd, forever, then limited).
    let fd = a.request("lm.fd", json!(null)).await["data"]
        .as_u64()
        .unwrap();
    assert_eq!(
        a.request("lm.forever", json!(null)).await["error"]["code"],
        "timeout"
    );
    assert_eq!(a.request("lm.fd", json!(null)).await["data"], fd);
    assert_eq!(
        a.request("lm.fd", json!(null)).await["error"]["code"],
        "rate_limited"
    );

    // A slow consumer (b stops reading) under drop_newest.
    let fd_b = Fd::from(
        u32::try_from(
            b.request("lm.fd", json!(null)).await["data"]
                .as_u64()
                .unwrap(),
        )
        .unwrap(),
    );
    let big = "x".repeat(8000);
    let mut full = false;
    for _ in 0..20_000 {
        match s.push_to(fd_b, "big", &big) {
            Ok(()) => {}
            Err(SendError::QueueFull) => {
                full = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
        tokio::task::yield_now().await;
    }
    assert!(full, "the queue never filled");

    // `idle` never reads: closed for idleness (so do a and b, which stop reading too).
    assert!(wait_until(Duration::from_secs(3), || s.connection_count() == 0).await);
    drop((a, b, idle));

    let text = handle.render();
    let m = r#"module="/lm""#;
    let counted = |prefix: &str| value(&text, prefix);
    assert_eq!(
        counted(&format!(
            r#"swoft_ws_handshakes_total{{{m},outcome="forbidden_origin"}}"#
        )),
        1.0,
        "{text}"
    );
    assert_eq!(
        counted(&format!(
            r#"swoft_ws_handshakes_total{{{m},outcome="full"}}"#
        )),
        1.0
    );
    assert_eq!(
        counted(&format!(
            r#"swoft_ws_limited_total{{{m},limit="handler_timeout"}}"#
        )),
        1.0
    );
    assert_eq!(
        counted(&format!(r#"swoft_ws_limited_total{{{m},limit="rate"}}"#)),
        1.0
    );
    assert!(counted(&format!(r#"swoft_ws_limited_total{{{m},limit="idle"}}"#)) >= 1.0);
    assert!(
        counted(&format!(
            r#"swoft_ws_outbound_dropped_total{{{m},reason="queue_full"}}"#
        )) >= 1.0
    );
    assert_eq!(
        counted(&format!(
            r#"swoft_ws_error_replies_total{{{m},code="timeout"}}"#
        )),
        1.0
    );
    assert_eq!(
        counted(&format!(
            r#"swoft_ws_error_replies_total{{{m},code="rate_limited"}}"#
        )),
        1.0
    );
    assert_eq!(
        counted(r#"swoft_ws_limited_total{module="/lr",limit="rooms"}"#),
        1.0,
        "{text}"
    );
    assert_eq!(
        counted(r#"swoft_ws_error_replies_total{module="/lr",code="too_many_rooms"}"#),
        1.0
    );
}
