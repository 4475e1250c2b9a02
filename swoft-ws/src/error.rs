//! Every error type of swoft-ws, in one place. Each is defined in the layer it belongs to and
//! only re-exported here.
//!
//! | error | returned by | what it means |
//! |---|---|---|
//! | [`BuildError`] (a list of [`Problem`]s, each with its [`Location`]) | [`AppBuilder::build`](crate::AppBuilder::build), [`App::discover`](crate::App::discover) | the app's modules, controllers or hooks do not fit together; every problem is reported at once, with `file:line` |
//! | [`SendError`] | [`Connection::send`](crate::Connection::send), [`Server::send_to`](crate::Server::send_to), ... | the frame was not queued: the connection is gone, closing, or its queue is full |
//! | [`JoinError`] | [`Connection::join`](crate::Connection::join), [`Rooms::join`](crate::Rooms::join) | the connection is already in as many rooms as its module allows (`max_rooms_per_connection`); `?` in a handler makes it the error reply `too_many_rooms` |
//! | [`AckError`] | [`Connection::request`](crate::Connection::request), [`Broadcast::request`](crate::Broadcast::request) | a request to a client got no usable answer: timed out, the connection closed, the client refused (`Rejected`), the answer did not fit, too many waiting |
//! | [`WsError`] | your handlers and middleware | not a failure of swoft-ws: an **error reply** (`code`, `message`) sent to the client; the connection stays open |
//! | [`Reject`] | your `#[on_handshake]` hook | the handshake is refused with an HTTP status and a reason |
//! | `redis::ConnectError` (feature `redis`; its `kind`: `redis::ConnectErrorKind`) | `RedisAdapter::connect` | the node cannot join the cluster: the Redis server could not be reached at start-up, the node id is in use by another process, or the cluster secret is too short |
//! | `tls::TlsError` (feature `tls`) | `TlsConfig::from_pem_files`, `from_pem`, `reload` | the certificate or key could not be read or used: names the file and the problem |
//! | `testing::HandshakeFailed` (feature `testing`) | `TestServer::connect*` | the server refused a test client's handshake |
//!
//! How a connection ends is not an error type: it is a close code
//! ([`ws::close_code`](crate::ws::close_code)) given to `#[on_close]` in a
//! [`CloseInfo`](crate::CloseInfo).

pub use crate::app::registry::{BuildError, Location, Problem};
#[cfg(feature = "redis")]
pub use crate::cluster::redis::{ConnectError, ConnectErrorKind};
#[cfg(feature = "tls")]
pub use crate::config::tls::TlsError;
pub use crate::handshake::Reject;
pub use crate::protocol::WsError;
pub use crate::runtime::ack::AckError;
pub use crate::runtime::connection::{JoinError, SendError};
#[cfg(feature = "testing")]
pub use crate::testing::HandshakeFailed;
