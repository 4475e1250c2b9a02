//! Swoft's `Test/TestController` (prefix `test`, from the type's name), without the demo's
//! `DemoMiddleware`.

use swoft_ws::prelude::*;

#[derive(Default)]
pub(crate) struct TestController;

/// The fd a message's body names: a positive integer.
fn fd_in(body: &str) -> Option<Fd> {
    body.trim()
        .parse::<u32>()
        .ok()
        .filter(|fd| *fd > 0)
        .map(Fd::from)
}

#[ws_controller]
impl TestController {
    /// `test.index` (also every message that is not a command) → `hi, this is test.index`.
    #[message_mapping]
    fn index(conn: &Connection) {
        let _ = conn.send(RawMessage::text("hi, this is test.index"));
    }

    /// `close:FD` → `hi, will close conn FD` to the sender, and the connection FD closed
    /// (without an fd, the sender's own).
    #[message_mapping("close")]
    fn close(conn: &Connection, Data(body): Data<String>) {
        let fd = fd_in(&body).unwrap_or(conn.fd());
        let _ = conn.send(RawMessage::text(format!("hi, will close conn {fd}")));
        let _ = conn.server().disconnect(fd, 1000, "");
    }

    /// `test.msg:DATA` → `message data: ` and the message as JSON.
    #[message_mapping("msg")]
    fn message(cx: &Context, Data(body): Data<String>) {
        let msg = serde_json::json!({"cmd": cx.command(), "data": body});
        let _ = cx
            .connection()
            .send(RawMessage::text(format!("message data: {msg}")));
    }

    /// The root command `echo:DATA` → `(echo)Recv: DATA`.
    #[message_mapping("echo", root = true)]
    fn echo(conn: &Connection, Data(body): Data<String>) {
        let _ = conn.send(RawMessage::text(format!("(echo)Recv: {body}")));
    }

    /// `hi:FD2` from FD1 → `Hi #FD2, I am #FD1` to FD2 only: the reply, re-targeted.
    #[message_mapping("hi", root = true)]
    fn hi(fd: Fd, conn: &Connection, Data(body): Data<String>) -> Reply {
        match fd_in(&body) {
            Some(to) => Reply::new(format!("Hi #{to}, I am #{fd}")).to(to),
            None => {
                let _ = conn.send(RawMessage::text("data must be an integer"));
                Reply::None
            }
        }
    }

    /// `bin:DATA` → a binary frame `Binary: DATA`.
    #[message_mapping("bin", root = true, opcode = binary)]
    fn binary(Data(body): Data<String>) -> String {
        format!("Binary: {body}")
    }

    /// `ping` → a pong frame `pong!`.
    #[message_mapping("ping", root = true)]
    fn pong(conn: &Connection) {
        let _ = conn.send_pong("pong!");
    }

    /// `test.ar:DATA` → `(home.ar)Recv: DATA` (the demo's text, `home` and all).
    #[message_mapping("ar")]
    fn auto_reply(Data(body): Data<String>) -> String {
        format!("(home.ar)Recv: {body}")
    }
}
