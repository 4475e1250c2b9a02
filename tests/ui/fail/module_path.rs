// The path of a module: must start with `/`, no empty segment, only URL-safe characters.
use swoft_ws::prelude::*;

#[ws_module(path = "chat")]
pub struct NoLeadingSlash;

#[ws_module(path = "/chat//room")]
pub struct EmptySegment;

#[ws_module(path = "/chat/")]
pub struct TrailingSlash;

#[ws_module(path = "/chat room")]
pub struct Space;

#[ws_module(path = "/rooms/{id}")]
pub struct Placeholder;

fn main() {}
