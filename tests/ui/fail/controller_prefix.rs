// `#[ws_controller(...)]` arguments: a prefix with a space, a prefix with a dot, an unknown key.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Spaced;
#[ws_controller(prefix = "chat room")]
impl Spaced {}

#[derive(Default)]
pub struct Dotted;
#[ws_controller(prefix = "chat.room")]
impl Dotted {}

#[derive(Default)]
pub struct UnknownKey;
#[ws_controller(prefix = "chat", path = "/chat")]
impl UnknownKey {}

#[derive(Default)]
pub struct RepeatedPrefix;
#[ws_controller(prefix = "a", prefix = "b")]
impl RepeatedPrefix {}

fn main() {}
