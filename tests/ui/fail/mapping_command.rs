// `#[message_mapping]` with an empty or invalid command.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Room;

#[ws_controller(prefix = "room")]
impl Room {
    #[message_mapping()]
    fn nothing_in_parens() {}

    #[message_mapping("")]
    fn empty() {}

    #[message_mapping("send message")]
    fn space() {}

    #[message_mapping("room..join")]
    fn empty_segment() {}

    #[message_mapping(join)]
    fn not_a_string() {}

    #[message_mapping = "leave"]
    fn name_value() {}
}

fn main() {}
