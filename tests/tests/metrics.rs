//! Metrics through the `metrics` facade, read back from a real Prometheus recorder installed
//! before the app is built (this test binary's only recorder).

use metrics_exporter_prometheus::PrometheusBuilder;
use serde_json::json;
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;
use swoft_ws_tests::metric_value as value;

#[ws_module(path = "/m", controllers = [MController])]
pub struct MModule;

#[ws_module]
impl MModule {
    #[on_handshake]
    fn handshake(req: &HandshakeRequest) -> bool {
        req.query() != Some("deny")
    }
}

#[derive(Default)]
pub struct MController;

#[ws_controller(prefix = "m")]
impl MController {
    #[message_mapping("ok")]
    fn ok(conn: &Connection) -> u32 {
        conn.join("r1").expect("under the rooms limit");
        1
    }

    #[message_mapping("fail")]
    fn fail() -> Result<(), WsError> {
        Err(WsError::forbidden("no"))
    }
}

#[tokio::test]
async fn counters_gauges_and_histograms_move_with_traffic() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");

    let app = App::builder().module::<MModule>().build().unwrap();
    let server = TestServer::start(app).await;
    let mut c = server.connect("/m").await.unwrap();
    assert_eq!(
        server.connect("/m?deny").await.unwrap_err().status,
        Some(403)
    );
    c.request("m.ok", json!(null)).await;
    c.request("m.ok", json!(null)).await;
    c.request("m.fail", json!(null)).await;
    c.request("m.nope", json!(null)).await;

    let text = handle.render();
    let v = |p: &str| value(&text, p);
    assert_eq!(v(r#"swoft_ws_connections{module="/m"}"#), 1.0, "{text}");
    assert_eq!(
        v(r#"swoft_ws_handshakes_total{module="/m",outcome="accepted"}"#),
        1.0
    );
    assert_eq!(
        v(r#"swoft_ws_handshakes_total{module="/m",outcome="rejected"}"#),
        1.0
    );
    assert_eq!(
        v(r#"swoft_ws_messages_in_total{module="/m",command="m.ok"}"#),
        2.0
    );
    assert_eq!(
        v(r#"swoft_ws_messages_in_total{module="/m",command="<unmapped>"}"#),
        1.0
    );
    assert_eq!(
        v(r#"swoft_ws_messages_out_total{module="/m",command="m.ok"}"#),
        2.0
    );
    assert_eq!(
        v(r#"swoft_ws_error_replies_total{module="/m",code="forbidden"}"#),
        1.0
    );
    assert_eq!(
        v(r#"swoft_ws_error_replies_total{module="/m",code="unknown_command"}"#),
        1.0
    );
    assert_eq!(v(r#"swoft_ws_rooms "#), 1.0);
    assert!(
        text.contains(r#"swoft_ws_handler_seconds{module="/m",command="m.ok",quantile="#),
        "{text}"
    );

    c.close(1000, "").await;
    server.wait_idle().await;
    let text = handle.render();
    assert_eq!(value(&text, r#"swoft_ws_connections{module="/m"}"#), 0.0);
    assert_eq!(value(&text, "swoft_ws_rooms "), 0.0);
}
