//! Swoft's `Chat/HomeController`: its prefix `home` comes from the type's name.

use swoft_ws::prelude::*;

#[derive(Default)]
pub(crate) struct HomeController;

#[ws_controller]
impl HomeController {
    /// `home.index` → the text `hi, this is home.index`.
    #[message_mapping]
    fn index(conn: &Connection) {
        let _ = conn.send(RawMessage::text("hi, this is home.index"));
    }

    /// `home.echo` → the text `(home.echo)Recv: DATA`.
    #[message_mapping]
    fn echo(conn: &Connection, Data(data): Data<String>) {
        let _ = conn.send(RawMessage::text(format!("(home.echo)Recv: {data}")));
    }

    /// `home.ar` → a JSON reply, `{"cmd":"home.ar","data":"(home.ar)Recv: DATA"}`.
    #[message_mapping("ar")]
    fn auto_reply(Data(data): Data<String>) -> String {
        format!("(home.ar)Recv: {data}")
    }

    /// The root command `help` → a JSON reply, `{"cmd":"help","data":"(home.ar)Recv: DATA"}`.
    #[message_mapping("help", root = true)]
    fn help(Data(data): Data<String>) -> String {
        format!("(home.ar)Recv: {data}")
    }
}
