// `errors = [..]` of a mapping: not a list, a code that is not one, a code twice.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Room;

#[ws_controller(prefix = "room")]
impl Room {
    #[message_mapping("join", errors = "forbidden")]
    fn not_a_list() {}

    #[message_mapping("send", errors = ["Forbidden"])]
    fn bad_code() {}

    #[message_mapping("leave", errors = ["gone", "gone"])]
    fn twice() {}
}

fn main() {}
