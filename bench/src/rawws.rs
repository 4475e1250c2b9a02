//! A WebSocket client on a raw socket that can offer permessage-deflate (RFC 7692) and inflate
//! what it receives (flate2), for the load generator's compressed figures and for
//! `tests/tests/compression.rs` (which includes this file): tungstenite has no
//! permessage-deflate. It writes any first byte (RSV1, opcodes, FIN) as given, and counts the
//! bytes it reads off the socket (frames as they are on the wire). Server frames are never
//! fragmented; a masked one is an error.

use std::io;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// RSV1: the frame's message is compressed.
pub const RSV1: u8 = 0x40;
/// What a browser offers (Chrome's offer).
pub const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// A connected client.
#[derive(Debug)]
pub struct Client {
    tcp: TcpStream,
    buf: Vec<u8>,
    /// Bytes read off the socket since the handshake.
    pub wire_in: u64,
    /// The server's `Sec-WebSocket-Extensions`, if it agreed to one.
    pub agreed: Option<String>,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Connects to `ws://HOST:PORT/PATH` and opens the WebSocket, offering `offer` as
/// `Sec-WebSocket-Extensions` if given; an answer other than 101 is an error.
pub async fn connect(url: &str, offer: Option<&str>) -> io::Result<Client> {
    let line = offer.map(|o| format!("Sec-WebSocket-Extensions: {o}"));
    let (status, client) = open(url, line.as_slice()).await?;
    if status != 101 {
        return Err(bad(format!("handshake refused: {status}")));
    }
    Ok(client)
}

/// Connects to `ws://HOST:PORT/PATH` and sends the upgrade request with these extra header
/// lines: the answer's status, and the client (usable if it is 101).
pub async fn open(url: &str, extra: &[impl AsRef<str>]) -> io::Result<(u16, Client)> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| bad("a ws:// url"))?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut tcp = TcpStream::connect(host).await?;
    tcp.set_nodelay(true)?;
    let ext: String = extra
        .iter()
        .map(|l| format!("{}\r\n", l.as_ref()))
        .collect();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{ext}\r\n"
    );
    tcp.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 512];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Err(bad("closed during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("not an HTTP answer: {head:?}")))?;
    let agreed = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("sec-websocket-extensions")
            .then(|| v.trim().to_owned())
    });
    buf.drain(..end);
    buf.shrink_to_fit();
    let client = Client {
        tcp,
        buf,
        wire_in: 0,
        agreed,
    };
    Ok((status, client))
}

impl Client {
    /// Writes one masked frame whose first byte is `b0` (FIN, RSV1, opcode).
    pub async fn send(&mut self, b0: u8, payload: &[u8]) -> io::Result<()> {
        self.tcp.write_all(&frame(b0, payload)).await
    }

    /// Writes bytes already framed (see [`frame`]).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tcp.write_all(bytes).await
    }

    /// The next frame: its first byte and payload; `None` when the socket ends.
    pub async fn recv(&mut self) -> io::Result<Option<(u8, Vec<u8>)>> {
        loop {
            if self.buf.get(1).is_some_and(|b1| b1 & 0x80 != 0) {
                return Err(bad("a masked server frame (RFC 6455 section 5.1)"));
            }
            if let Some((b0, payload, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Ok(Some((b0, payload)));
            }
            let at = self.buf.len();
            self.buf.resize(at + (16 << 10), 0);
            let n = self.tcp.read(&mut self.buf[at..]).await?;
            self.buf.truncate(at + n);
            if n == 0 {
                return Ok(None);
            }
            self.wire_in += n as u64;
        }
    }

    /// Writes a close frame.
    pub async fn close(&mut self) {
        let _ = self.send(0x88, &1000u16.to_be_bytes()).await;
    }
}

/// A masked client frame.
pub fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x11u8, 0x22, 0x33, 0x44];
    let mut f = Vec::with_capacity(payload.len() + 14);
    f.push(b0);
    match payload.len() {
        n @ 0..=125 => f.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(&key);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    f
}

/// An unmasked server frame at the front of `buf`: first byte, payload, bytes used.
fn parse(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, rest) = buf.split_first()?;
    let (&b1, rest) = rest.split_first()?;
    let (len, head) = match b1 & 0x7F {
        126 => (
            u16::from_be_bytes(rest.get(..2)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(rest.get(..8)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let payload = buf.get(head..head + len)?.to_vec();
    Some((b0, payload, head + len))
}

/// Inflates server messages (no context takeover: reset after each).
#[derive(Debug)]
pub struct Inflater(Decompress);

impl Default for Inflater {
    fn default() -> Self {
        Inflater(Decompress::new(false))
    }
}

impl Inflater {
    /// The message whose compressed payload this is (RFC 7692 §7.2.2: the tail put back).
    pub fn inflate(&mut self, payload: &[u8]) -> io::Result<Vec<u8>> {
        let mut input = Vec::with_capacity(payload.len() + 4);
        input.extend_from_slice(payload);
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut out = Vec::with_capacity(payload.len() * 8 + 64);
        loop {
            let before = self.0.total_in() as usize;
            self.0
                .decompress_vec(&input, &mut out, FlushDecompress::Sync)
                .map_err(|e| bad(e.to_string()))?;
            let used = self.0.total_in() as usize - before;
            input.drain(..used);
            if input.is_empty() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity());
        }
        self.0.reset(false);
        Ok(out)
    }
}

/// `msg` compressed from an empty window, its sync flush's tail taken off (RFC 7692 §7.2.1).
pub fn deflate(msg: &[u8], level: u32) -> Vec<u8> {
    let mut z = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(msg.len() + 64);
    let _ = z.compress_vec(msg, &mut out, FlushCompress::Sync);
    if out.ends_with(&[0, 0, 0xff, 0xff]) {
        out.truncate(out.len() - 4);
    }
    out
}

/// A JSON document of about `size` bytes, as a chat server broadcasts (a room's latest
/// messages: the same keys, names from a small set, words of a few hundred), with `ts` (ns)
/// first so a receiver can read it back with [`read_ts`].
pub fn json_doc(size: usize, ts: u64) -> String {
    const WORDS: [&str; 32] = [
        "the", "deploy", "is", "done", "on", "staging", "please", "check", "logs", "before", "we",
        "ship", "tonight", "lunch", "anyone", "meeting", "moved", "to", "three", "ok", "thanks",
        "build", "green", "again", "review", "my", "pull", "request", "when", "free", "great",
        "news",
    ];
    let mut s = format!(r#"{{"ts":{ts},"room":"lobby","messages":["#);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut id = 0;
    while s.len() + 160 < size {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let words = 4 + (x >> 60) as usize;
        let text: Vec<&str> = (0..words)
            .map(|i| WORDS[((x >> (i * 5 % 59)) & 31) as usize])
            .collect();
        if id > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"id":{},"from":"user_{:03}","at":{},"text":"{}"}}"#,
            1_000_000 + id,
            (x >> 33) % 200,
            1_732_000_000_000u64 + (x >> 44),
            text.join(" ")
        ));
        id += 1;
    }
    s.push_str("]}");
    while s.len() < size {
        s.insert(s.len() - 2, ' ');
    }
    s
}

/// The `ts` of a [`json_doc`].
pub fn read_ts(doc: &[u8]) -> Option<u64> {
    let rest = doc.strip_prefix(b"{\"ts\":")?;
    let end = rest.iter().position(|b| !b.is_ascii_digit())?;
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}
