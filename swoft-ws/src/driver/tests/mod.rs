//! Unit tests of the driver. The connection task runs over an in-memory stream
//! (`tokio::io::duplex`) instead of a socket: a [`Client`] writes masked client frames into one
//! end and reads the server's frames from it, while [`super::task::drive`] serves the other end
//! exactly as it serves an upgraded socket. Every receive has a timeout.

mod close;
mod connection;
mod labels;
mod rate;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;

use crate::app::App;
use crate::driver::admission::Admission;
use crate::driver::task::drive;
use crate::handshake::HandshakeRequest;
use crate::runtime::connection::ConnParts;
use crate::runtime::fd::Fd;
use crate::ws::transport::Transport;

/// How long a test waits for anything the server should do at once.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What the modules' hooks saw, in order (the app's state).
#[derive(Default)]
pub(super) struct Events(Mutex<Vec<String>>);

impl Events {
    pub(super) fn push(conn: &crate::Connection, e: String) {
        let events = conn.server().state::<Events>().expect("the Events state");
        events.0.lock().unwrap().push(e);
    }

    pub(super) fn list(app: &App) -> Vec<String> {
        let events = app.server().state::<Events>().expect("the Events state");
        events.0.lock().unwrap().clone()
    }
}

/// A frame the server wrote: its opcode and payload (checked unmasked and unfragmented).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct ServerFrame {
    pub(super) opcode: u8,
    pub(super) payload: Vec<u8>,
}

impl ServerFrame {
    /// The payload of a text frame, as JSON.
    pub(super) fn json(&self) -> serde_json::Value {
        assert_eq!(self.opcode, 0x1, "a text frame: {self:?}");
        serde_json::from_slice(&self.payload).expect("a JSON reply")
    }

    /// The code and reason of a close frame.
    pub(super) fn close(&self) -> (u16, String) {
        assert_eq!(self.opcode, 0x8, "a close frame: {self:?}");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        let reason = String::from_utf8(self.payload[2..].to_vec()).expect("a UTF-8 reason");
        (code, reason)
    }
}

/// A client frame: FIN set, `opcode`, the payload masked (as RFC 6455 requires of clients)
/// unless `masked` is false, the length in its shortest form.
pub(super) fn client_frame(opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = masked.then_some([0x12, 0x34, 0x56, 0x78]);
    crate::ws::codec::tests::raw_frame(0x80 | opcode, key, payload)
}

/// A close frame's payload: the code, then the reason.
pub(super) fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

/// The server frame at the front of `buf`, and its length in bytes (None: incomplete).
fn parse(buf: &[u8]) -> Option<(ServerFrame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    assert_eq!(
        b0 & 0xF0,
        0x80,
        "FIN set, no reserved bits: server frames are whole"
    );
    assert_eq!(b1 & 0x80, 0, "server frames are never masked");
    let (len, head) = match b1 & 0x7F {
        126 => (
            usize::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)),
            4,
        ),
        127 => {
            let len = u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?);
            (usize::try_from(len).unwrap(), 10)
        }
        len => (usize::from(len), 2),
    };
    let payload = buf.get(head..head + len)?.to_vec();
    let frame = ServerFrame {
        opcode: b0 & 0x0F,
        payload,
    };
    Some((frame, head + len))
}

/// The client end of a connection whose task runs over an in-memory stream.
pub(super) struct Client {
    io: DuplexStream,
    buf: Vec<u8>,
    pub(super) fd: Fd,
    task: JoinHandle<()>,
}

impl Client {
    /// Opens a connection to the module at `path`, as an accepted handshake would: admitted,
    /// with an fd, its task spawned over one end of an in-memory stream.
    pub(super) fn connect(app: &App, path: &str) -> Client {
        let server = app.server().clone();
        let module = server
            .modules()
            .iter()
            .find(|m| m.path == path)
            .expect("a module at the path")
            .clone();
        let admission = Admission::try_new(&server, &module).expect("a free slot");
        let fd = server.fds_arc().allocate_guarded().expect("a free fd");
        let request = HandshakeRequest::new(path.parse().unwrap(), http::HeaderMap::new(), None);
        let (client, socket) = tokio::io::duplex(64 << 10);
        let read_size = server.config().read_buffer_size;
        let client_fd = fd.fd();
        let parts = ConnParts {
            fd: fd.fd(),
            request: Arc::new(request),
            module,
            server,
            protocol: None,
            session: crate::handshake::SessionData::default(),
        };
        let transport = Transport::from_io(socket, read_size, crate::driver::task::decoder(&parts));
        let task = tokio::spawn(drive(std::future::ready(transport), parts, fd, admission));
        Client {
            io: client,
            buf: Vec::new(),
            fd: client_fd,
            task,
        }
    }

    /// Writes bytes as they are (a frame from [`client_frame`], or anything else).
    pub(super) async fn send_raw(&mut self, bytes: &[u8]) {
        self.io
            .write_all(bytes)
            .await
            .expect("the server end is open");
    }

    /// Sends a masked text frame.
    pub(super) async fn send_text(&mut self, text: &str) {
        self.send_raw(&client_frame(0x1, text.as_bytes(), true))
            .await;
    }

    /// The next frame the server wrote, within [`TIMEOUT`].
    pub(super) async fn recv(&mut self) -> ServerFrame {
        tokio::time::timeout(TIMEOUT, async {
            loop {
                if let Some((frame, used)) = parse(&self.buf) {
                    self.buf.drain(..used);
                    return frame;
                }
                let mut chunk = [0u8; 4096];
                let n = self.io.read(&mut chunk).await.expect("the stream reads");
                assert!(n > 0, "the stream ended before a whole frame");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await
        .expect("a frame from the server in time")
    }

    /// Waits, within [`TIMEOUT`], for the server to end the stream with nothing more written,
    /// then ends its own end (as a peer does once it read the end), and waits for the
    /// connection's task to finish (its close hook has run then).
    pub(super) async fn ended(mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(TIMEOUT, self.io.read_to_end(&mut rest))
            .await
            .expect("the server ends the stream in time")
            .expect("the stream reads");
        assert!(
            self.buf.is_empty() && rest.is_empty(),
            "nothing after the close"
        );
        self.hang_up().await;
    }

    /// Reads what the server still writes until it ends the stream, then hangs up, and waits
    /// for the connection's task to finish.
    pub(super) async fn ended_or_hang_up(mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(TIMEOUT, self.io.read_to_end(&mut rest))
            .await
            .expect("the server ends the stream in time")
            .expect("the stream reads");
        self.hang_up().await;
    }

    /// Drops the client's end of the stream, as a peer vanishing does, and waits for the
    /// connection's task to finish.
    pub(super) async fn hang_up(self) {
        let Client { io, task, .. } = self;
        drop(io);
        tokio::time::timeout(TIMEOUT, task)
            .await
            .expect("the connection's task ends in time")
            .expect("the connection's task does not panic");
    }
}

impl super::task::Socket for Transport {
    fn into_transport(
        self,
        _: &ConnParts,
    ) -> Option<(Transport, Option<Arc<tokio::net::TcpStream>>)> {
        Some((self, None))
    }
}
