// Lifecycle hooks with arguments they cannot take (too many, not borrowed), a hook with
// arguments in its attribute, and a hook given twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/m")]
pub struct M;

#[ws_module]
impl M {
    #[on_open]
    fn open(&self, _conn: &Connection, _extra: u32) {}

    #[on_handshake]
    fn handshake_by_value(_req: HandshakeRequest) {}

    #[on_handshake(strict)]
    fn handshake(&self, _req: &HandshakeRequest) -> bool {
        true
    }

    #[on_close]
    fn close(&self, _conn: &Connection, _info: &CloseInfo) {}

    #[on_close]
    fn close_again(&self) {}
}

fn main() {}
