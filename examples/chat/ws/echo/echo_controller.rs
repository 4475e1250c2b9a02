//! `echo.*` commands.

use serde_json::value::RawValue;
use swoft_ws::prelude::*;

/// Sends data back.
#[derive(Debug, Default)]
pub struct EchoController;

#[ws_controller(prefix = "echo")]
impl EchoController {
    /// `{"cmd":"echo.send","data":X,"id":N}` → `{"cmd":"echo.send","data":X,"id":N}`: the data
    /// comes back byte for byte, never parsed into a tree.
    #[message_mapping("send")]
    fn send(Data(data): Data<&RawValue>) -> &RawValue {
        data
    }
}
