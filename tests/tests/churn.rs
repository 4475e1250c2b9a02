//! Churn: 2,000 clients in parallel batches connect, join rooms, send (good messages, bad
//! frames, panicking and slow handlers), and drop without a close frame. Afterwards every
//! manager is empty — sessions, admissions, contexts, fds, rooms, queued bytes — and the
//! process's resident memory is near where it was after a warm-up round.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use swoft_ws::prelude::*;
use swoft_ws_tests::{TestServer, init_tracing, wait_until};

#[ws_module(path = "/c", controllers = [CController])]
pub struct CModule;

#[derive(Default)]
pub struct CController;

#[ws_controller(prefix = "c")]
impl CController {
    #[message_mapping("join")]
    fn join(Data(room): Data<String>, conn: &Connection) -> Result<bool, WsError> {
        Ok(conn.join(&room)?)
    }

    #[message_mapping("say")]
    fn say(Data(v): Data<Value>, conn: &Connection, server: Server) -> usize {
        let rooms = conn.rooms();
        let room = rooms.first().map_or("none", |r| &**r);
        let d = server.room(room).except(conn.fd()).push("c.said", &v);
        d.map_or(0, |d| d.delivered)
    }

    #[message_mapping("sleep")]
    async fn sleep(Data(ms): Data<u64>) -> u64 {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        ms
    }

    #[message_mapping("panic")]
    fn panic() {
        panic!("churn boom");
    }
}

/// One client's life: connect, join, talk, misbehave a little, vanish without a close.
async fn one_client(server: &TestServer, i: usize) {
    let mut c = server.connect("/c").await.unwrap();
    c.request("c.join", json!(format!("room{}", i % 25))).await;
    c.request("c.say", json!({"from": i})).await;
    match i % 5 {
        0 => {
            let r = c.request("c.panic", json!(null)).await;
            assert_eq!(r["error"]["code"], "internal");
        }
        1 => c.send_text("not json").await,
        2 => {
            // Gone while its handler is in flight.
            c.send_json(&json!({"cmd": "c.sleep", "data": 50, "id": 99}))
                .await;
        }
        3 => c.send_json(&json!({"cmd": "c.nope", "id": 1})).await,
        _ => {}
    }
    c.drop_abruptly();
}

async fn round(server: &TestServer, clients: usize, batch: usize) {
    for start in (0..clients).step_by(batch) {
        let batch: Vec<_> = (start..(start + batch).min(clients))
            .map(|i| one_client(server, i))
            .collect();
        futures_util::future::join_all(batch).await;
    }
}

/// Resident memory, in bytes (Linux; `None` elsewhere).
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_thousands_of_clients_come_and_go_abruptly_every_manager_is_empty() {
    init_tracing();
    // Hundreds of expected panics: keep their backtraces out of the output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"churn boom") {
            default_hook(info);
        }
    }));
    let app = App::builder().module::<CModule>().build().unwrap();
    let server = TestServer::start(app).await;
    let s = server.server().clone();
    let t = Instant::now();

    // Warm-up (allocator arenas, buffers), then the measured churn.
    round(&server, 200, 100).await;
    server.wait_idle().await;
    let before = rss();
    round(&server, 2000, 200).await;
    let ok = wait_until(Duration::from_secs(10), || s.stats().is_idle()).await;
    assert!(ok, "not idle after churn: {:?}", s.stats());
    let stats = s.stats();
    assert_eq!(
        (
            stats.connections,
            stats.admitted,
            stats.contexts,
            stats.fds,
            stats.rooms
        ),
        (0, 0, 0, 0, 0)
    );
    assert!(s.stats().contexts_created >= 2200 * 2);
    let after = rss();
    eprintln!(
        "churn: {:?}; rss before {:?} KiB, after {:?} KiB",
        t.elapsed(),
        before.map(|b| b >> 10),
        after.map(|a| a >> 10)
    );
    if let (Some(before), Some(after)) = (before, after) {
        // Loose: the allocator keeps some freed memory; a leak of 2,000 connections' state
        // (buffers, queues, tasks) would be far above this.
        let grown = after.saturating_sub(before);
        assert!(
            grown < 48 << 20,
            "resident memory grew by {} KiB over the churn ({} → {} KiB)",
            grown >> 10,
            before >> 10,
            after >> 10
        );
    }
    // Still serving.
    let mut c = server.connect("/c").await.unwrap();
    assert_eq!(c.request("c.sleep", json!(1)).await["data"], 1);
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
}
