//! A module's name (Swoft's `@WsModule(name="chat")`): in `Server::module_stats()` and in the
//! `swoft_ws_module_info` series, beside the path every other series keeps as `module`.

use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use swoft_ws::prelude::*;
use swoft_ws::testing::{TestServer, wait_until};

#[ws_module(path = "/chat", name = "chat")]
pub struct ChatModule;

#[ws_module(path = "/echo")]
pub struct EchoModule;

#[tokio::test]
async fn a_module_name_is_in_module_stats_and_the_module_info_series() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("the only recorder of this test binary");
    let app = App::builder()
        .module::<ChatModule>()
        .module::<EchoModule>()
        .build()
        .expect("the app builds");
    let server = TestServer::start(app).await;
    let _c = server.connect("/chat").await.unwrap();
    let stats = || server.server().module_stats();
    assert!(
        wait_until(Duration::from_secs(5), || stats()
            .iter()
            .any(|m| m.name == "chat"
                && m.path == "/chat"
                && m.connections == 1))
        .await,
        "{:?}",
        stats()
    );
    assert!(
        stats()
            .iter()
            .any(|m| m.name == "EchoModule" && m.path == "/echo"),
        "{:?}",
        stats()
    );
    let text = handle.render();
    assert!(
        text.contains(r#"swoft_ws_module_info{module="/chat",name="chat"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"swoft_ws_connections{module="/chat"}"#),
        "the other series keep their labels: {text}"
    );
}
