//! Micro-benchmarks without I/O (issue 6): the per-message path of `echo.send` (decode →
//! route → extract → handler → encode → queue, through the runtime's own `handle_message`
//! via the `__private::bench` hook), the parser alone, fd allocate/free, room join/leave and a
//! broadcast enqueued to 1,000 members.
//!
//! `cargo bench -p swoft-ws-bench --bench message_path` (add `-- --quick` for a short run).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use swoft_ws::__private::bench::{BenchConn, FdAllocator};
use swoft_ws::config::DEFAULT_MAX_FD;
use swoft_ws::prelude::*;
use swoft_ws::protocol::{JsonParser, Parser};
use swoft_ws_bench::modules::{EchoModule, RawModule};

fn app() -> App {
    App::builder()
        .module::<EchoModule>()
        .module::<RawModule>()
        .build()
        .expect("the bench app builds")
}

const ECHO_32: &str = r#"{"cmd":"echo.send","data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","id":7}"#;

fn message_path(c: &mut Criterion) {
    let app = app();
    let server = app.server().clone();
    let mut echo = BenchConn::new(&server, "/echo", 16).expect("an /echo connection");
    let frame = RawMessage::text(ECHO_32);
    // Check once that the path really answers what the wire would carry.
    echo.handle(frame.clone())
        .now_or_never()
        .expect("a sync handler finishes at once");
    let reply = echo.pop().expect("a reply");
    let axum::extract::ws::Message::Text(text) = reply else {
        panic!("not a text reply: {reply:?}")
    };
    assert_eq!(text.as_str(), ECHO_32, "the reply is the request");

    c.bench_function(
        "echo.send 32 B: decode→route→extract→handler→encode→queue",
        |b| {
            b.iter(|| {
                echo.handle(black_box(frame.clone()))
                    .now_or_never()
                    .expect("a sync handler finishes at once");
                black_box(echo.pop())
            })
        },
    );

    let mut raw = BenchConn::new(&server, "/raw", 16).expect("a /raw connection");
    let raw_frame = RawMessage::text("x".repeat(32));
    c.bench_function("raw echo 32 B: full message path", |b| {
        b.iter(|| {
            raw.handle(black_box(raw_frame.clone()))
                .now_or_never()
                .expect("a sync handler finishes at once");
            black_box(raw.pop())
        })
    });

    c.bench_function("JsonParser decode + encode_reply (32 B echo.send)", |b| {
        b.iter(|| {
            let d = JsonParser.decode(black_box(&frame)).expect("decodes");
            black_box(&d);
            black_box(JsonParser.encode_reply(
                "echo.send",
                Some("7"),
                r#""xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx""#,
            ))
        })
    });
}

fn fds(c: &mut Criterion) {
    let a = FdAllocator::new(DEFAULT_MAX_FD);
    // A realistic table: 10,000 fds live.
    let live: Vec<_> = (0..10_000)
        .map(|_| a.allocate().expect("free fds"))
        .collect();
    c.bench_function("fd allocate + free (10,000 live)", |b| {
        b.iter(|| {
            let fd = a.allocate().expect("free fds");
            a.free(black_box(fd));
        })
    });
    drop(live);
}

fn rooms(c: &mut Criterion) {
    let app = app();
    let server = app.server().clone();
    let mut members: Vec<BenchConn> = (0..1000)
        .map(|_| BenchConn::new(&server, "/raw", 1024).expect("a connection"))
        .collect();
    for m in &members {
        m.connection().join("big").expect("join");
    }
    let one = BenchConn::new(&server, "/raw", 16).expect("a connection");
    c.bench_function("room join + leave (room of 1,000)", |b| {
        b.iter(|| {
            let conn = one.connection();
            let _ = black_box(conn.join("big"));
            black_box(conn.leave("big"));
        })
    });

    let frame = RawMessage::text("x".repeat(32));
    let mut enqueue = |iters: u64, push: bool| {
        let mut total = Duration::ZERO;
        let mut done = 0;
        while done < iters {
            // Queues hold 1,024 frames: empty them (untimed) every 512 broadcasts.
            let batch = (iters - done).min(512);
            let t = Instant::now();
            for _ in 0..batch {
                if push {
                    black_box(
                        server
                            .room("big")
                            .push("room.say", "hello")
                            .expect("encodes"),
                    );
                } else {
                    black_box(server.room("big").send(frame.clone()));
                }
            }
            total += t.elapsed();
            for m in &mut members {
                m.drain();
            }
            done += batch;
        }
        total
    };
    c.bench_function("broadcast send(frame) enqueue to 1,000 members", |b| {
        b.iter_custom(|iters| enqueue(iters, false))
    });
    c.bench_function("broadcast push(cmd, data) enqueue to 1,000 members", |b| {
        b.iter_custom(|iters| enqueue(iters, true))
    });
}

criterion_group!(benches, message_path, fds, rooms);
criterion_main!(benches);
