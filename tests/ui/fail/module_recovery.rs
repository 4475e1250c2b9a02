// `recovery` (resumable sessions): a value instead of options, an unknown option, a zero, an
// option given twice, and the key given twice.
use swoft_ws::prelude::*;

#[ws_module(path = "/a", recovery = 120)]
pub struct RecoveryValue;

#[ws_module(path = "/b", recovery(windw_secs = 10))]
pub struct RecoveryUnknownOption;

#[ws_module(path = "/c", recovery(max_messages = 0))]
pub struct RecoveryZero;

#[ws_module(path = "/d", recovery(max_bytes = 10, max_bytes = 20))]
pub struct RecoveryTwice;

#[ws_module(path = "/e", recovery, recovery(window_secs = 1))]
pub struct RecoveryKeyTwice;

fn main() {}
