// `params(..)`: a constraint that is not a valid regex, a name that is not a variable of the
// path, a variable given twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/rooms/{id}", params(id = r"(\d+"))]
pub struct BadRegex;

#[ws_module(path = "/rooms/{id}", params(room = r"\d+"))]
pub struct UnknownVariable;

#[ws_module(path = "/rooms/{id}", params(id = r"\d+", id = "[a-z]+"))]
pub struct Twice;

fn main() {}
