// Helper attributes outside the block that gives them meaning.
use swoft_ws::prelude::*;

pub struct Plain;

impl Plain {
    #[message_mapping("join")]
    fn join() {}

    #[on_open]
    fn open(&self, _conn: &Connection) {}
}

#[message_mapping("free")]
fn free_function() {}

#[ws_module(path = "/m", controllers = [Ctl])]
pub struct M;

#[derive(Default)]
pub struct Ctl;

#[ws_controller(prefix = "ctl")]
impl Ctl {
    #[on_close] // a hook inside a controller
    fn close(&self) {}

    #[middleware(Auth)] // method middleware without a mapping
    fn helper(&self) {}
}

fn main() {}
