// Arguments on a hook block's `#[ws_module]` belong on the struct.
use swoft_ws::prelude::*;

#[ws_module(path = "/m")]
pub struct M;

#[ws_module(path = "/m")]
impl M {
    #[on_open]
    fn open(&self) {}
}

fn main() {}
