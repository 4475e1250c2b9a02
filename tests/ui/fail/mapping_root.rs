// `root = true` with a dotted command, an unknown mapping argument, `root` given twice, a
// controller whose type name gives no valid prefix.
use swoft_ws::prelude::*;

#[derive(Default)]
pub struct Home;

#[ws_controller(prefix = "home")]
impl Home {
    #[message_mapping("chat.help", root = true)]
    fn dotted() {}

    #[message_mapping("help", rooot = true)]
    fn misspelled() {}

    #[message_mapping("about", root = true, root = false)]
    fn twice() {}
}

#[derive(Default)]
#[allow(non_camel_case_types)]
pub struct Bad_Ünïcode;

#[ws_controller]
impl Bad_Ünïcode {}

fn main() {}
