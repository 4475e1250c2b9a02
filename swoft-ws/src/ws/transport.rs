//! The socket under a connection: the upgrade from HTTP, reading and decoding frames, writing.
//!
//! swoft-ws speaks RFC 6455 itself ([`crate::ws::codec`]) on the upgraded socket rather than through a
//! general-purpose WebSocket stream, for three reasons measured in `BENCHMARKS.md`:
//!
//! - **No read buffer while idle.** The read buffer is reserved when the socket is readable
//!   and given back when everything read was handled: an idle connection holds none (a 4 KiB
//!   buffer per connection was most of the idle memory).
//! - **One task per connection.** Reading, handling and writing share the connection's task;
//!   there is no writer task to wake for each frame.
//! - **Direct writes.** On a plain TCP socket, a frame sent to a connection that waits with
//!   nothing queued is written by the sender at once (see [`crate::ws::outbound`]).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::BytesMut;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::ws::codec::{Decoder, Incoming, Violation};
use crate::ws::outbound::OutboundRx;

/// A socket that is not a plain TCP one (TLS, a test stream, an HTTP server of your own).
pub(crate) trait AsyncIo: AsyncRead + AsyncWrite + Send + Unpin {
    /// Whether reads go straight into the read buffer (reserved before the read, given back
    /// when nothing came) rather than through the thread's scratch buffer: for a stream that
    /// copies into what it is given anyway (TLS decrypts into it), so that the bytes are
    /// copied once.
    fn reads_in_place(&self) -> bool {
        false
    }
}

/// The upgraded connection of an HTTP server of your own (`axum::serve` of `into_router`).
impl AsyncIo for TokioIo<Upgraded> {}

/// The unit tests' in-memory stream.
#[cfg(test)]
impl AsyncIo for tokio::io::DuplexStream {}

/// The TLS stream of `App::serve_tls`: rustls decrypts into the read buffer.
#[cfg(feature = "tls")]
impl AsyncIo for TlsStream {
    fn reads_in_place(&self) -> bool {
        true
    }
}

#[cfg(feature = "tls")]
type TlsStream = tokio_rustls::server::TlsStream<TcpStream>;

/// Two words: TLS is one more kind of `Other` (boxed, as rustls' state is large), so that a
/// plain TCP connection's task is no larger for the `tls` feature.
enum Io {
    /// Shared with the connection's queue, which writes to it directly.
    Tcp(Arc<TcpStream>),
    Other(Box<dyn AsyncIo>),
}

/// What reading gave.
pub(crate) enum Event {
    /// A message or a control frame.
    Frame(Incoming),
    /// The client broke the protocol.
    Violation(Violation),
    /// The socket ended (`None`: at a frame boundary, without a close frame) or failed.
    Ended(Option<io::Error>),
}

/// The upgraded socket of one connection, owned by its task.
pub(crate) struct Transport {
    io: Io,
    buf: BytesMut,
    decoder: Decoder,
    /// At most `u32::MAX`: with the two flags it takes one word, so permessage-deflate's
    /// pointer in the decoder did not make the connection task larger.
    read_size: u32,
    eof: bool,
    /// The decoder returned a violation: what follows is not decoded any more.
    broken: bool,
}

impl Transport {
    /// The transport over an upgraded HTTP connection, decoding with `decoder`, and the TCP
    /// socket its queue may write to directly (`None` when it is not a plain TCP socket).
    pub(crate) fn new(
        upgraded: Upgraded,
        read_size: usize,
        decoder: Decoder,
    ) -> (Transport, Option<Arc<TcpStream>>) {
        match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let tcp = Arc::new(parts.io.into_inner());
                // Bytes the client sent right after its handshake, already read by hyper.
                let buf = BytesMut::from(&parts.read_buf[..]);
                let io = Io::Tcp(tcp.clone());
                let t = Transport::with(io, buf, read_size, decoder);
                (t, Some(tcp))
            }
            Err(upgraded) => {
                #[cfg(feature = "tls")]
                let upgraded = match upgraded.downcast::<TokioIo<TlsStream>>() {
                    Ok(parts) => {
                        let buf = BytesMut::from(&parts.read_buf[..]);
                        let io = Io::Other(Box::new(parts.io.into_inner()));
                        let t = Transport::with(io, buf, read_size, decoder);
                        return (t, None);
                    }
                    Err(upgraded) => upgraded,
                };
                let t = Transport::from_io(TokioIo::new(upgraded), read_size, decoder);
                (t, None)
            }
        }
    }

    /// The transport over any other stream: TLS, an HTTP server of your own, or an in-memory
    /// stream (`tokio::io::duplex`) in the unit tests. It reads into the thread's scratch
    /// buffer and writes with `poll_write_vectored`; senders never write to it directly.
    pub(crate) fn from_io(
        io: impl AsyncIo + 'static,
        read_size: usize,
        decoder: Decoder,
    ) -> Transport {
        let io = Io::Other(Box::new(io));
        Transport::with(io, BytesMut::new(), read_size, decoder)
    }

    fn with(io: Io, buf: BytesMut, read_size: usize, decoder: Decoder) -> Transport {
        Transport {
            io,
            buf,
            decoder,
            read_size: u32::try_from(read_size.max(256)).unwrap_or(u32::MAX),
            eof: false,
            broken: false,
        }
    }

    /// The next frame among the bytes already read, without reading more.
    pub(crate) fn buffered(&mut self) -> Option<Event> {
        match self.decoder.decode(&mut self.buf) {
            Ok(Some(f)) => Some(Event::Frame(f)),
            Ok(None) => None,
            Err(v) => {
                self.broken = true;
                Some(Event::Violation(v))
            }
        }
    }

    /// The next frame, reading as needed.
    pub(crate) fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        loop {
            if let Some(ev) = self.buffered() {
                return Poll::Ready(ev);
            }
            if self.eof {
                return Poll::Ready(Event::Ended(None));
            }
            match self.poll_fill(cx) {
                Poll::Ready(Ok(0)) => self.eof = true,
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Event::Ended(Some(e))),
                Poll::Pending => {
                    if self.buf.is_empty() && self.buf.capacity() > 0 {
                        // Nothing half-read: an idle connection keeps no read buffer.
                        self.buf = BytesMut::new();
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Reads once into the buffer (reserved now, not while idle); `Ok(0)` at the end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Tcp(tcp) => loop {
                ready!(tcp.poll_read_ready(cx))?;
                reserve(&mut self.buf, self.read_size as usize);
                match tcp.try_read_buf(&mut self.buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    r => return Poll::Ready(r),
                }
            },
            Io::Other(io) if io.reads_in_place() => {
                // Straight into the buffer (given back by `poll_read` if nothing came).
                reserve(&mut self.buf, self.read_size as usize);
                tokio_util::io::poll_read_buf(Pin::new(&mut **io), cx, &mut self.buf)
            }
            Io::Other(io) => {
                // Read into the thread's scratch buffer: nothing is held while waiting.
                let read_size = self.read_size as usize;
                SCRATCH.with_borrow_mut(|scratch| {
                    if scratch.len() < read_size {
                        scratch.resize(read_size, 0);
                    }
                    let mut rb = ReadBuf::new(&mut scratch[..read_size]);
                    ready!(Pin::new(&mut **io).poll_read(cx, &mut rb))?;
                    let n = rb.filled().len();
                    if n > 0 {
                        reserve(&mut self.buf, n);
                        self.buf.extend_from_slice(rb.filled());
                    }
                    Poll::Ready(Ok(n))
                })
            }
        }
    }

    /// Writes what `rx` holds (see [`OutboundRx::poll_write`]); `Pending` while the socket is
    /// full.
    pub(crate) fn poll_flush(
        &mut self,
        cx: &mut Context<'_>,
        rx: &OutboundRx,
        open: bool,
    ) -> Poll<io::Result<()>> {
        let io = &mut self.io;
        ready!(rx.poll_write(cx, open, |cx, bufs| write(io, cx, bufs)))?;
        if let Io::Other(io) = io {
            ready!(Pin::new(&mut **io).poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Ends the socket once the close frame is written (RFC 6455 section 7.1.1); whether the
    /// peer ended by `deadline`.
    ///
    /// Without `linger` (the peer's close frame was answered) the socket is closed at once: a
    /// TLS stream sends its close first, a TCP socket its FIN when dropped. With `linger` (the
    /// server started the close), the write half is shut down first (the FIN follows what was
    /// written), then what the peer still sends is read and discarded until its close frame,
    /// the end of its stream or `deadline`. Closing a socket with unread input makes the kernel
    /// send a reset, and a reset makes the peer's kernel discard what it had received but not
    /// yet read: the replies and the close frame would be lost.
    pub(crate) async fn finish(mut self, linger: bool, deadline: tokio::time::Instant) -> bool {
        if !linger && matches!(self.io, Io::Tcp(_)) {
            return true;
        }
        let shut = std::future::poll_fn(|cx| self.poll_shutdown_write(cx));
        if tokio::time::timeout_at(deadline, shut).await.is_err() {
            return false;
        }
        if !linger {
            return true;
        }
        let discard = std::future::poll_fn(|cx| self.poll_discard(cx));
        tokio::time::timeout_at(deadline, discard).await.is_ok()
    }

    /// Shuts the write half down (a TCP FIN, a TLS close).
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match &mut self.io {
            // The queue gave its handle up (`OutboundRx::refuse`): this one is the last.
            Io::Tcp(tcp) => match Arc::get_mut(tcp) {
                Some(tcp) => Pin::new(tcp).poll_shutdown(cx).map(drop),
                None => Poll::Ready(()),
            },
            Io::Other(io) => Pin::new(&mut **io).poll_shutdown(cx).map(drop),
        }
    }

    /// Reads and drops what the peer sends until its close frame or the end of its stream
    /// (after a protocol violation, without decoding: bytes are dropped as they come).
    fn poll_discard(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            while !self.broken {
                match self.buffered() {
                    Some(Event::Frame(Incoming::Close(_))) => return Poll::Ready(()),
                    Some(_) => {}
                    None => break,
                }
            }
            if self.broken {
                self.buf.clear();
            }
            if self.eof {
                return Poll::Ready(());
            }
            match ready!(self.poll_fill(cx)) {
                Ok(0) | Err(_) => return Poll::Ready(()),
                Ok(_) => {}
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Makes room for at least `at_least` more bytes; for a frame longer than that, for at most
/// as many more as have arrived (the buffer at most doubles per read, so a large frame costs
/// a logarithmic number of allocations).
///
/// Never for the whole frame its head announces: a head alone (14 bytes announcing up to
/// `max_frame_size`) would reserve that much before any payload came, and a client could pin
/// the frame limit's memory on every connection with 14 bytes each.
fn reserve(buf: &mut BytesMut, at_least: usize) {
    let rest = Decoder::needed(buf).unwrap_or(0).saturating_sub(buf.len());
    buf.reserve(at_least.max(rest.min(buf.len())));
}

fn write(io: &mut Io, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match io {
        Io::Tcp(tcp) => loop {
            match tcp.poll_write_ready(cx) {
                Poll::Pending => return Err(io::ErrorKind::WouldBlock.into()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(())) => {}
            }
            match crate::ws::outbound::write_tcp(tcp, bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                r => return r,
            }
        },
        // TLS: rustls encrypts the slices into records as it takes them (the one copy TLS needs).
        Io::Other(io) => match Pin::new(&mut **io).poll_write_vectored(cx, bufs) {
            Poll::Pending => Err(io::ErrorKind::WouldBlock.into()),
            Poll::Ready(r) => r,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_two_words_with_or_without_tls() {
        // Every connection's task holds it: the `tls` feature must not grow plain TCP ones.
        assert_eq!(size_of::<Io>(), 2 * size_of::<usize>());
    }

    /// The transport is part of every connection's task: permessage-deflate's inflater pointer
    /// (in the decoder) took the room `read_size` gave up, so a plain connection is no larger
    /// (88 bytes before and after).
    #[test]
    fn the_transport_did_not_grow_with_permessage_deflate() {
        assert_eq!(std::mem::size_of::<Transport>(), 88);
    }

    #[tokio::test]
    async fn a_frame_head_announcing_a_large_frame_reserves_only_what_arrived() {
        use tokio::io::AsyncWriteExt;
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut t = Transport::from_io(server, 4096, Decoder::new(16 << 20, 16 << 20, None));
        // A masked binary frame announcing 16 MiB, and the first 1,000 bytes of it.
        let mut bytes = vec![0x82, 0x80 | 127];
        bytes.extend_from_slice(&(16u64 << 20).to_be_bytes());
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        bytes.extend_from_slice(&[0; 1000]);
        let mut cx = Context::from_waker(std::task::Waker::noop());
        // The head first, then the payload as it comes, a read each.
        for part in [&bytes[..14], &bytes[14..500], &bytes[500..]] {
            client.write_all(part).await.unwrap();
            assert!(t.poll_read(&mut cx).is_pending(), "the frame is not whole");
        }
        assert_eq!(t.buf.len(), bytes.len());
        assert!(
            t.buf.capacity() <= 64 << 10,
            "reserved {} bytes for {} that arrived",
            t.buf.capacity(),
            bytes.len()
        );
    }
}
