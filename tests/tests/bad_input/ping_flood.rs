//! A ping flood (RFC 6455 section 5.5.3) takes bounded space.

use super::*;

/// RFC 6455 section 5.5.3: a client that pings faster than it reads gets pongs for a bounded
/// number of pings (the latest last), outside its outbound queue (8 frames here), so the
/// replies it reads are still sent: it is never closed as a slow consumer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_takes_bounded_space_and_a_client_that_reads_is_not_closed() {
    swoft_ws_tests::init_tracing();
    let app = App::builder()
        .module::<BadModule>()
        .outbound_queue(8)
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut ws = connect(&server, "/bad").await;
    for round in 0..5u32 {
        // 2,000 pings and a request in one burst, nothing read meanwhile.
        for i in 0..2_000u32 {
            ws.feed(Message::Ping(i.to_be_bytes().to_vec().into()))
                .await
                .expect("ping");
        }
        let req = json!({"cmd": "t.echo", "data": round, "id": round});
        ws.feed(Message::text(req.to_string()))
            .await
            .expect("request");
        ws.flush().await.expect("flush");
        let mut pongs = 0;
        match next_answer(&mut ws, &mut pongs).await {
            Ok(Answer::Json(v)) => assert_eq!(v["data"], round, "round {round}: {v}"),
            other => panic!("round {round}: expected the reply, got {other:?}"),
        }
    }
    let mut pongs = 0;
    still_served(&mut ws, &mut pongs)
        .await
        .expect("still served");
    ws.close(None).await.ok();
    server.wait_idle().await;
}
