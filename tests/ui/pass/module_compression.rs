// `compression = ...` in each form builds an app.
use swoft_ws::prelude::*;

#[ws_module(path = "/off", compression = off)]
pub struct Off;

#[ws_module(path = "/on", compression = deflate)]
pub struct On;

#[ws_module(
    path = "/tuned",
    compression = deflate(
        level = 6,
        min_size = 512,
        server_no_context_takeover = false,
        client_no_context_takeover = true,
        server_max_window_bits = 12,
        client_max_window_bits = 15,
    )
)]
pub struct Tuned;

fn main() {
    let app = App::builder()
        .module::<Off>()
        .module::<On>()
        .module::<Tuned>()
        .build();
    assert!(app.is_ok());
}
