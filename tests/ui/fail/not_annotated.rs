// A controller listed in `controllers = [...]` without `#[ws_controller]`.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Forgotten;

#[ws_module(path = "/m", controllers = [Forgotten])]
pub struct M;

fn main() {}
