//! `/test` (Swoft's `TestModule`): Swoft's token text (`cmd:body`), served by
//! `test/TestController`; a message that is not a command goes to `test.index`, and a command
//! without a `.` that no root mapping serves is the `test` controller's (`close:2` is
//! `test.close`).

use swoft_ws::prelude::*;

use crate::ws::test::test_controller::TestController;

#[ws_module(
    path = "/test",
    parser = token_text,
    default_command = "test.index",
    default_prefix = "test",
    controllers = [TestController]
)]
pub(crate) struct TestModule;

#[ws_module]
impl TestModule {
    /// `Opened, welcome!(FD: FD)`
    #[on_open]
    fn open(conn: &Connection) {
        let fd = conn.fd();
        let _ = conn.send(RawMessage::text(format!("Opened, welcome!(FD: {fd})")));
    }
}
