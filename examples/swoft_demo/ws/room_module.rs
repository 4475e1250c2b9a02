//! `/room/{id}` (ours, not the demo's): a path variable, digits only; `/room/abc` is a 404.

use swoft_ws::prelude::*;

#[ws_module(path = "/room/{id}", params(id = r"\d+"))]
pub(crate) struct RoomModule;

#[ws_module]
impl RoomModule {
    /// `room ID`
    #[on_open]
    fn open(conn: &Connection) {
        let id = conn.path_param("id").unwrap_or_default();
        let _ = conn.send(RawMessage::text(format!("room {id}")));
    }
}
