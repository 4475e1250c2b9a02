// `#[push(.., reply = T)]` misuse: a reply type with a lifetime or a reference (the server
// decodes the client's answer into it), `_`, given twice, not a type, a type that does not
// deserialize.
use serde::Deserialize;
use swoft_ws::prelude::*;

#[derive(Deserialize)]
pub struct Answer {
    pub choice: usize,
}

#[push("poll.ask", reply = Borrowed<'static>)]
pub struct WithLifetime;

#[push("poll.ask", reply = &'static str)]
pub struct WithReference;

#[push("poll.ask", reply = Vec<_>)]
pub struct Inferred;

#[push("poll.ask", reply = Answer, reply = Answer)]
pub struct Twice;

#[push("poll.ask", reply = 42)]
pub struct NotAType;

pub struct NotDeserialize;

#[push("poll.ask", reply = NotDeserialize)]
pub struct CannotDecode;

fn main() {
    let _ = (WithLifetime, WithReference, Inferred, Twice, NotAType, CannotDecode);
}
