// One controller maps the same command twice: the error is at the second literal.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Room;

#[ws_controller(prefix = "room")]
impl Room {
    #[message_mapping("join")]
    fn join() {}

    #[message_mapping("room.join")] // the same command, written in full
    fn join_again() {}

    #[message_mapping("leave")]
    fn leave() {}

    #[message_mapping("leave")]
    #[message_mapping("quit")]
    fn leave_or_quit() {}
}

fn main() {}
