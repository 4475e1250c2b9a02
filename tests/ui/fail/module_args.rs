// `#[ws_module(...)]` arguments: an unknown key, a key given twice, `controllers` not a list,
// no path at all, a controller listed twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/a", paht = "/b")]
pub struct UnknownKey;

#[ws_module(path = "/a", path = "/b")]
pub struct RepeatedKey;

#[ws_module(path = "/c", controllers = Chat)]
pub struct ControllersNotAList;

#[ws_module(controllers = [])]
pub struct NoPath;

#[ws_module(path = "/d", controllers = [Chat, Chat])]
pub struct ListedTwice;

#[derive(Default)]
pub struct Chat;

#[ws_controller(prefix = "chat")]
impl Chat {}

fn main() {}
