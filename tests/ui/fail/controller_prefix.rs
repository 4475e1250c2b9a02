// `#[ws_controller(...)]` arguments: a prefix with a space, a prefix with a dot, an unknown key,
// a key given twice, an empty prefix.
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

#[derive(Default)]
pub struct EmptyPrefix;
#[ws_controller(prefix = "")]
impl EmptyPrefix {}

fn main() {}
