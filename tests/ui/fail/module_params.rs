// `params(..)`: a constraint that is not a valid regex, a name that is not a variable of the
// path, a variable given twice; a module name with a space; a subprotocol that is not a token, and one listed twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/rooms/{id}", params(id = r"(\d+"))]
pub struct BadRegex;

#[ws_module(path = "/rooms/{id}", params(room = r"\d+"))]
pub struct UnknownVariable;

#[ws_module(path = "/rooms/{id}", params(id = r"\d+", id = "[a-z]+"))]
pub struct Twice;

fn main() {}

#[ws_module(path = "/named", name = "chat room")]
pub struct BadName;

#[ws_module(path = "/proto", protocols = ["v1", "v 2", "v1"])]
pub struct BadProtocols;
