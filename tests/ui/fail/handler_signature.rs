// Handler methods that cannot be called as handlers.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Ctl;

#[ws_controller(prefix = "ctl")]
impl Ctl {
    #[message_mapping("mut")]
    fn by_mut(&mut self) {}

    #[message_mapping("owned")]
    fn by_value(self) {}

    #[message_mapping("generic")]
    fn generic<T: Default>() {}

    #[message_mapping("impl")]
    fn impl_trait(_a: impl Send) {}

    #[message_mapping("unsafe")]
    unsafe fn danger() {}
}

fn main() {}
