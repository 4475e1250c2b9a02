// A handler argument that no extractor provides, and a return value that is no reply.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Ctl;

pub struct Opaque;

#[ws_controller(prefix = "ctl")]
impl Ctl {
    #[message_mapping("add")]
    fn add(&self, a: u64) -> u64 {
        a
    }

    #[message_mapping("opaque")]
    fn opaque() -> Opaque {
        Opaque
    }
}

fn main() {}
