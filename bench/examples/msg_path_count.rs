//! Runs the `echo.send` message path (as `benches/message_path.rs`) N times, for counting
//! instructions with callgrind, which is repeatable on a noisy machine where wall time is not:
//!
//! ```text
//! cargo build --release -p swoft-ws-bench --example msg_path_count
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/msg_path_count 0
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/msg_path_count 100000
//! # (Ir of the second − Ir of the first) / 100000 = instructions per message
//! ```

use futures_util::FutureExt;
use swoft_ws::__private::bench::BenchConn;
use swoft_ws::prelude::*;
use swoft_ws_bench::modules::EchoModule;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let app = App::builder()
        .module::<EchoModule>()
        .build()
        .expect("the app builds");
    let server = app.server().clone();
    let mut echo = BenchConn::new(&server, "/echo", 16).expect("an /echo connection");
    let frame =
        RawMessage::text(r#"{"cmd":"echo.send","data":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","id":7}"#);
    let mut replies = 0u64;
    for _ in 0..n {
        echo.handle(frame.clone())
            .now_or_never()
            .expect("a sync handler finishes at once");
        replies += u64::from(echo.pop().is_some());
    }
    assert_eq!(replies, n);
    println!("{n} messages");
}
