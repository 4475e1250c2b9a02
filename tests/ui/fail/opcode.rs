// `opcode = ..`: an unknown opcode on a mapping, a control frame as a module's default.
use swoft_ws::prelude::*;

#[ws_module(path = "/ops", opcode = pong)]
pub struct PongModule;

#[derive(Default)]
pub struct Ops;

#[ws_controller(prefix = "ops")]
impl Ops {
    #[message_mapping("bin", opcode = binray)]
    fn bin() {}
}

fn main() {}
