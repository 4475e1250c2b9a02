// A hook argument of the wrong type, and a handshake hook returning something that is no
// decision.
use swoft_ws::prelude::*;

#[ws_module(path = "/m")]
pub struct M;

#[ws_module]
impl M {
    #[on_close]
    fn close(&self, _conn: &Connection, _info: &Connection) {}

    #[on_handshake]
    fn handshake(&self, _req: &HandshakeRequest) -> u16 {
        200
    }
}

fn main() {}
