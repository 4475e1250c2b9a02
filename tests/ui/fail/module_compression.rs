// `compression = ...`: an unknown kind, an option out of range, an unknown option, a value of
// the wrong type, an option given twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/a", compression = gzip)]
pub struct UnknownKind;

#[ws_module(path = "/b", compression = deflate(level = 10))]
pub struct LevelTooHigh;

#[ws_module(path = "/c", compression = deflate(server_max_window_bits = 8))]
pub struct Window8;

#[ws_module(path = "/d", compression = deflate(window = 15))]
pub struct UnknownOption;

#[ws_module(path = "/e", compression = deflate(client_no_context_takeover = 1))]
pub struct NotABool;

#[ws_module(path = "/f", compression = deflate(level = 1, level = 2))]
pub struct Twice;

fn main() {}
