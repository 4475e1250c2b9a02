// `#[push]` misuse: no command, a command that is not one, a command twice, a type parameter,
// an unknown key, a module that is not a ws module, on a fn.
use swoft_ws::prelude::*;

#[push]
pub struct NoCommand;

#[push("room..message", "ok", "ok")]
pub struct BadCommands;

#[push("room.message")]
pub struct Generic<T>(T);

#[push("room.message", modul = Chat)]
pub struct UnknownKey;

pub struct NotAModule;

#[push("room.message", module = NotAModule)]
pub struct WrongModule;

#[push("room.message")]
fn not_a_type() {}

fn main() {
    let _ = (NoCommand, BadCommands, Generic(1), UnknownKey, WrongModule);
    not_a_type();
}
