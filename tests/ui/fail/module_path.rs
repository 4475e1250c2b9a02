// The path of a module: no empty segment, only URL-safe characters or whole-segment variables
// (`{id}`), each once. (A path without its leading `/` is fine: `"chat"` is `/chat`.)
use swoft_ws::prelude::*;

#[ws_module(path = "/chat//room")]
pub struct EmptySegment;

#[ws_module(path = "/chat/")]
pub struct TrailingSlash;

#[ws_module(path = "/chat room")]
pub struct Space;

#[ws_module(path = "/rooms/room{id}")]
pub struct PartSegment;

#[ws_module(path = "/rooms/{id}/{id}")]
pub struct TwiceVariable;

fn main() {}
