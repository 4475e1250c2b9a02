// Hooks on a type that is not a module.
use swoft_ws::prelude::*;

pub struct NotAModule;

#[ws_module]
impl NotAModule {
    #[on_open]
    fn open(&self) {}
}

fn main() {}
