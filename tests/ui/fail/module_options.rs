// Other module options: an unknown parser, a bad default command, a bad default prefix, a
// concurrency out of range.
use swoft_ws::prelude::*;

#[ws_module(path = "/a", parser = xml)]
pub struct UnknownParser;

#[ws_module(path = "/b", default_command = "chat..send")]
pub struct BadDefaultCommand;

#[ws_module(path = "/c", default_prefix = "chat.room")]
pub struct BadDefaultPrefix;

#[ws_module(path = "/d", concurrency = 0)]
pub struct ZeroConcurrency;

fn main() {}
