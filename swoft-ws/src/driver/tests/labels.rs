//! Connection labels: updates are atomic, a closed connection's handle cannot label (so a
//! label never names an fd its connection no longer holds), and `stats()` agrees with
//! `find_label`.

use std::sync::Arc;
use std::time::Duration;

use super::Client;
use super::close::CloseModule;
use crate::app::App;
use crate::prelude::*;
use crate::runtime::remote::ConnAddr;

fn app() -> App {
    App::builder()
        .module::<CloseModule>()
        .state(super::close::Dispatched::default())
        .build()
        .expect("the test app builds")
}

async fn live(app: &App, client: &Client) -> Connection {
    for _ in 0..500 {
        if let Some(c) = app.server().connection(client.fd) {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("the connection goes live");
}

async fn found(app: &App, label: &str) -> Vec<ConnAddr> {
    app.server().rooms().find_label(label).await
}

#[tokio::test]
async fn a_closed_connections_handle_cannot_label_and_a_reused_fd_is_not_found_by_its_label() {
    let app = app();
    let a = Client::connect(&app, "/c");
    let alice = live(&app, &a).await;
    assert!(alice.set_label("alice"));
    assert_eq!(found(&app, "alice").await.len(), 1);
    let fd = a.fd;
    a.hang_up().await;
    assert!(
        found(&app, "alice").await.is_empty(),
        "forgotten at the close"
    );
    assert!(!alice.set_label("alice"), "refused on a closed connection");
    assert!(found(&app, "alice").await.is_empty());
    assert_eq!(app.server().stats().labels, 0);
    // Whoever gets the fd next is not alice.
    let mut clients = Vec::new();
    for _ in 0..64 {
        let c = Client::connect(&app, "/c");
        let reused = c.fd == fd;
        clients.push(c);
        if reused {
            break;
        }
    }
    assert!(found(&app, "alice").await.is_empty());
    assert_eq!(app.server().stats().labels, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_label_updates_and_closes_leave_each_connection_under_one_label_at_most() {
    let app = app();
    // Rounds: two threads relabel one connection while a third closes it at a random point.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..40 {
        let client = Client::connect(&app, "/c");
        let conn = live(&app, &client).await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let close_after = (seed % 400) as usize;
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|label| {
                let (conn, barrier) = (conn.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    for _ in 0..400 {
                        conn.set_label(label);
                    }
                })
            })
            .collect();
        let closer = {
            let (conn, barrier) = (conn.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                for _ in 0..close_after {
                    std::hint::spin_loop();
                }
                conn.close(1000, "");
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        closer.join().unwrap();
        let (a, b) = (found(&app, "a").await, found(&app, "b").await);
        let stats = app.server().stats();
        assert_eq!(
            stats.labels,
            a.len() + b.len(),
            "round {round}: stats agree"
        );
        assert!(a.len() + b.len() <= 1, "round {round}: under both labels");
        if let Some(l) = conn.label() {
            let under = if &*l == "a" { &a } else { &b };
            assert_eq!(under.len(), 1, "round {round}: found under its label");
        }
        client.ended_or_hang_up().await;
        assert!(found(&app, "a").await.is_empty() && found(&app, "b").await.is_empty());
        assert_eq!(app.server().stats().labels, 0, "round {round}: forgotten");
    }
}
