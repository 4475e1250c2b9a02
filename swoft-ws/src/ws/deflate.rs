//! permessage-deflate (RFC 7692): compressing what the server sends and inflating what a
//! client sends, once the extension was agreed at the handshake ([`crate::ws::extensions`]).
//!
//! The deflate itself is zlib's (flate2 over zlib-rs, feature `deflate`); this file decides
//! when to use it and keeps its memory small:
//!
//! - **Sending.** A message is compressed with a sync flush and its final `00 00 ff ff` taken
//!   off (RFC 7692 §7.2.1); it goes out with RSV1 set on its one frame (§6). Messages under
//!   the module's `min_size` go out as they are (RSV1 clear), and so does a message that did
//!   not get smaller, when no context is kept (with a kept context the bytes are in the
//!   client's window already). With `server_no_context_takeover` (§7.1.1.1) every message
//!   starts from an empty window, so the compressed bytes depend only on the message, the
//!   level and the window: they come from a compressor of the thread's (one per level and
//!   window, reset per message) and a broadcast compresses once per set of those ([`Once`]),
//!   sharing the bytes among its members as the plain frame is shared. With context takeover,
//!   the connection's own compressor (made at its first compressed message, kept under its
//!   queue's lock so that frames and the compressor's window keep one order) compresses each
//!   message, broadcasts included.
//! - **Receiving.** A message whose first frame has RSV1 is inflated as its frames arrive,
//!   and `00 00 ff ff` after its last (§7.2.2), into the same reassembly as fragmented
//!   messages (text validated as it grows). Each chunk of output counts against
//!   `max_message_size` before it is kept: a small frame that inflates past the limit is
//!   refused (1009) after at most one chunk ([`CHUNK`]) more. Data zlib cannot inflate is
//!   1007. With `client_no_context_takeover` the inflater is the thread's, lent for the
//!   message and given back (an idle connection holds none); without it the connection keeps
//!   one for its life.

use bytes::Bytes;

use crate::ws::Message;
use crate::ws::fragment::Assembly;
use crate::ws::frame::Violation;

/// The opcodes of text and binary frames (RFC 6455 §5.2; `codec` imports this file, so they
/// are not taken from it).
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
/// RSV1: the first frame of a compressed message (RFC 7692 §6).
pub(crate) const RSV1: u8 = 0x40;
/// What a sync flush ends with, removed before sending and put back before inflating (RFC
/// 7692 §7.2.1, §7.2.2).
const TAIL: [u8; 4] = [0, 0, 0xff, 0xff];
/// Inflated output is produced and counted this much at a time.
const CHUNK: usize = 8 << 10;
/// The window the thread's inflaters use: the largest, which inflates what any smaller
/// window made (RFC 7692 §7.1.2.2).
const MAX_BITS: u8 = 15;

/// Data a client compressed that zlib cannot inflate (1007: the payload is not what the
/// extension says it is).
const BAD_DATA: Violation = Violation {
    code: crate::ws::close_code::INVALID_PAYLOAD,
    reason: "invalid compressed data",
};
/// A compressed message that inflates past `max_message_size` (1009).
const INFLATED_TOO_BIG: Violation = Violation {
    code: crate::ws::close_code::TOO_BIG,
    reason: "message too big",
};

/// The terms of the extension: what a module allows (its settings, resolved at build), or
/// what was agreed with one client (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// The deflate level, 0–9.
    pub(crate) level: u8,
    /// Messages shorter than this go out uncompressed.
    pub(crate) min_size: usize,
    /// The server starts each message with an empty window (§7.1.1.1).
    pub(crate) server_no_context_takeover: bool,
    /// The client starts each message with an empty window (§7.1.1.2).
    pub(crate) client_no_context_takeover: bool,
    /// The window the server compresses with, 9–15 bits (§7.1.2.1).
    pub(crate) server_max_window_bits: u8,
    /// The window the client compresses with, 8–15 bits (§7.1.2.2).
    pub(crate) client_max_window_bits: u8,
}

impl Params {
    /// Whether a data frame of `len` bytes is compressed.
    pub(crate) fn compresses(&self, len: usize) -> bool {
        len >= self.min_size
    }

    /// What the thread's compressors are told apart by.
    fn key(&self) -> (u8, u8) {
        (self.level, self.server_max_window_bits)
    }
}

/// A connection's own compressor (context takeover), kept under its queue's lock.
pub(crate) struct Context(zlib::Deflater);

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Context")
    }
}

impl Context {
    /// A compressor for these terms.
    pub(crate) fn new(p: &Params) -> Context {
        Context(zlib::Deflater::new(p.level, p.server_max_window_bits))
    }

    /// `payload` compressed, its window kept for the next message.
    pub(crate) fn compress(&mut self, payload: &[u8]) -> Option<Bytes> {
        deflate(&mut self.0, payload)
    }
}

/// permessage-deflate on a connection's outbound queue: the terms agreed, and with context
/// takeover the connection's own compressor, made at its first compressed message. The
/// queue locks it only under its own lock, so frames and the compressor's window keep one
/// order.
pub(crate) struct Sending {
    /// The terms agreed.
    pub(crate) params: Params,
    ctx: std::sync::Mutex<Option<Context>>,
}

impl Sending {
    /// The sending half for these terms.
    pub(crate) fn new(params: Params) -> Box<Sending> {
        Box::new(Sending {
            params,
            ctx: std::sync::Mutex::new(None),
        })
    }

    /// The opcode and payload of a data frame compressed under these terms (text or binary,
    /// at least `min_size` bytes); `None` for the others.
    pub(crate) fn compressible<'m>(&self, m: &'m Message) -> Option<(u8, &'m [u8])> {
        let (op, payload) = match m {
            Message::Text(t) => (OP_TEXT, t.as_bytes()),
            Message::Binary(b) => (OP_BINARY, &b[..]),
            _ => return None,
        };
        self.params
            .compresses(payload.len())
            .then_some((op, payload))
    }

    /// `payload` compressed by the connection's own compressor (context takeover); `None` if
    /// zlib failed: the compressor is then dropped, and the next message starts a new stream,
    /// which the client's window reads as well (the frame goes out plain).
    pub(crate) fn compress(&self, payload: &[u8]) -> Option<Bytes> {
        let mut ctx = self
            .ctx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let c = ctx
            .get_or_insert_with(|| Context::new(&self.params))
            .compress(payload);
        if c.is_none() {
            *ctx = None;
        }
        c
    }
}

thread_local! {
    /// The thread's compressors, by (level, window bits): a handful at most.
    static DEFLATERS: std::cell::RefCell<Vec<((u8, u8), zlib::Deflater)>> =
        const { std::cell::RefCell::new(Vec::new()) };
    /// The thread's spare inflater (15-bit window), lent per message.
    static INFLATER: std::cell::RefCell<Option<Box<zlib::Inflater>>> =
        const { std::cell::RefCell::new(None) };
}

/// `payload` compressed from an empty window (no context takeover), by the thread's
/// compressor for these terms; `None` if it did not get smaller (it then goes out as it is).
pub(crate) fn compress_alone(p: &Params, payload: &[u8]) -> Option<Bytes> {
    DEFLATERS.with_borrow_mut(|all| {
        let key = p.key();
        let at = match all.iter().position(|(k, _)| *k == key) {
            Some(at) => at,
            None => {
                all.push((key, zlib::Deflater::new(p.level, p.server_max_window_bits)));
                all.len() - 1
            }
        };
        let (_, z) = &mut all[at];
        z.reset();
        deflate(z, payload).filter(|c| c.len() < payload.len())
    })
}

/// Compresses with a sync flush and takes the flush's `00 00 ff ff` off (RFC 7692 §7.2.1).
fn deflate(z: &mut zlib::Deflater, payload: &[u8]) -> Option<Bytes> {
    let mut out = Vec::with_capacity(payload.len() / 2 + 64);
    z.compress(payload, &mut out).ok()?;
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    Some(Bytes::from(out))
}

/// A broadcast's compressed payloads: each (payload, terms) compressed once and shared by
/// every member that agreed to those terms without context takeover.
#[derive(Default)]
pub(crate) struct Once {
    /// (the payload's address and length, level and window) → the compressed bytes (`None`:
    /// not smaller, sent plain).
    done: Vec<(OnceKey, Option<Bytes>)>,
}

/// A payload (its address and length: a broadcast's receivers share its bytes) and the terms
/// (level, window) it is compressed under.
type OnceKey = (usize, usize, (u8, u8));

impl std::fmt::Debug for Once {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Once")
            .field("compressed", &self.done.len())
            .finish()
    }
}

impl Once {
    /// `payload` compressed for these terms: compressed now the first time, shared after.
    pub(crate) fn get(&mut self, p: &Params, payload: &[u8]) -> Option<Bytes> {
        let key = (payload.as_ptr() as usize, payload.len(), p.key());
        if let Some((_, c)) = self.done.iter().find(|(k, _)| *k == key) {
            return c.clone();
        }
        let c = compress_alone(p, payload);
        self.done.push((key, c.clone()));
        c
    }

    /// How many compressions it made (for the tests).
    #[cfg(all(test, feature = "deflate"))]
    pub(crate) fn made(&self) -> usize {
        self.done.len()
    }
}

/// The receiving half of the extension, in a connection's decoder: boxed, and only on
/// connections that agreed to it.
#[derive(Debug)]
pub(crate) struct Inflate {
    /// The client starts each message with an empty window: the inflater is lent per message.
    no_context: bool,
    /// The window of a kept inflater.
    bits: u8,
    /// The inflater of the message in progress, or (context takeover) the connection's.
    z: Option<Box<zlib::Inflater>>,
    /// A compressed message is in progress.
    active: bool,
}

impl Inflate {
    /// The receiving half for these terms.
    pub(crate) fn new(p: &Params) -> Box<Inflate> {
        Box::new(Inflate {
            no_context: p.client_no_context_takeover,
            bits: p.client_max_window_bits.max(9),
            z: None,
            active: false,
        })
    }

    /// Whether a compressed message is in progress.
    pub(crate) fn active(&self) -> bool {
        self.active
    }

    /// A compressed message starts (its first frame has RSV1).
    pub(crate) fn begin(&mut self) {
        self.active = true;
        if self.z.is_none() {
            self.z = Some(if self.no_context {
                INFLATER
                    .with_borrow_mut(Option::take)
                    .unwrap_or_else(|| Box::new(zlib::Inflater::new(MAX_BITS)))
            } else {
                Box::new(zlib::Inflater::new(self.bits))
            });
        }
    }

    /// Inflates one frame's payload into `out`, within `limit` bytes in all.
    pub(crate) fn push(
        &mut self,
        payload: &[u8],
        out: &mut Assembly,
        limit: usize,
    ) -> Result<(), Violation> {
        let Some(z) = self.z.as_deref_mut() else {
            return Err(BAD_DATA);
        };
        inflate(z, payload, out, limit)
    }

    /// The message's last frame was pushed: inflates the flush's `00 00 ff ff`, then gives a
    /// lent inflater back.
    pub(crate) fn finish(&mut self, out: &mut Assembly, limit: usize) -> Result<(), Violation> {
        self.push(&TAIL, out, limit)?;
        self.active = false;
        if self.no_context {
            if let Some(mut z) = self.z.take() {
                z.reset();
                INFLATER.with_borrow_mut(|spare| {
                    if spare.is_none() {
                        *spare = Some(z);
                    }
                });
            }
        }
        Ok(())
    }
}

/// Inflates `input` into `out` a chunk at a time, each counted against `limit` before it is
/// kept.
fn inflate(
    z: &mut zlib::Inflater,
    mut input: &[u8],
    out: &mut Assembly,
    limit: usize,
) -> Result<(), Violation> {
    let mut chunk = [0u8; CHUNK];
    loop {
        let (used, made, ended) = z.inflate(input, &mut chunk).map_err(|()| BAD_DATA)?;
        input = input.get(used..).unwrap_or_default();
        if made > 0 {
            if out.len().saturating_add(made) > limit {
                return Err(INFLATED_TOO_BIG);
            }
            out.push(chunk.get(..made).unwrap_or_default())?;
        }
        if ended {
            // A final block (BFINAL, RFC 7692 §7.2.3.4): the next message starts a new stream.
            z.reset();
            return Ok(());
        }
        if (input.is_empty() && made < CHUNK) || (used == 0 && made == 0) {
            return Ok(());
        }
    }
}

/// zlib, through flate2 (zlib-rs): raw deflate with a window of 9 to 15 bits.
#[cfg(feature = "deflate")]
mod zlib {
    use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

    pub(crate) struct Deflater(Compress);

    impl Deflater {
        pub(crate) fn new(level: u8, bits: u8) -> Self {
            let level = Compression::new(u32::from(level.min(9)));
            Deflater(Compress::new_with_window_bits(
                level,
                false,
                bits.clamp(9, 15),
            ))
        }

        pub(crate) fn reset(&mut self) {
            self.0.reset();
        }

        /// All of `input`, compressed and sync-flushed, appended to `out`.
        pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), ()> {
            let start = self.0.total_in();
            loop {
                let used = usize::try_from(self.0.total_in() - start).map_err(drop)?;
                let rest = input.get(used..).unwrap_or_default();
                self.0
                    .compress_vec(rest, out, FlushCompress::Sync)
                    .map_err(drop)?;
                let used = usize::try_from(self.0.total_in() - start).map_err(drop)?;
                // Room left after a sync flush of everything: the flush is complete.
                if used == input.len() && out.len() < out.capacity() {
                    return Ok(());
                }
                out.reserve(out.capacity().max(64));
            }
        }
    }

    pub(crate) struct Inflater(Decompress);

    impl std::fmt::Debug for Inflater {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("Inflater")
        }
    }

    impl Inflater {
        pub(crate) fn new(bits: u8) -> Self {
            Inflater(Decompress::new_with_window_bits(false, bits.clamp(9, 15)))
        }

        pub(crate) fn reset(&mut self) {
            self.0.reset(false);
        }

        /// (input used, output made, whether the stream ended).
        pub(crate) fn inflate(
            &mut self,
            input: &[u8],
            out: &mut [u8],
        ) -> Result<(usize, usize, bool), ()> {
            let (i, o) = (self.0.total_in(), self.0.total_out());
            let status = self
                .0
                .decompress(input, out, FlushDecompress::Sync)
                .map_err(drop)?;
            let used = usize::try_from(self.0.total_in() - i).map_err(drop)?;
            let made = usize::try_from(self.0.total_out() - o).map_err(drop)?;
            Ok((used, made, status == Status::StreamEnd))
        }
    }
}

/// Without the `deflate` feature every offer is declined, so nothing here is ever made;
/// should it be, it fails (1007 inbound, plain frames outbound) rather than panic.
#[cfg(not(feature = "deflate"))]
mod zlib {
    pub(crate) struct Deflater;

    impl Deflater {
        pub(crate) fn new(_: u8, _: u8) -> Self {
            Deflater
        }
        pub(crate) fn reset(&mut self) {}
        pub(crate) fn compress(&mut self, _: &[u8], _: &mut Vec<u8>) -> Result<(), ()> {
            Err(())
        }
    }

    #[derive(Debug)]
    pub(crate) struct Inflater;

    impl Inflater {
        pub(crate) fn new(_: u8) -> Self {
            Inflater
        }
        pub(crate) fn reset(&mut self) {}
        pub(crate) fn inflate(
            &mut self,
            _: &[u8],
            _: &mut [u8],
        ) -> Result<(usize, usize, bool), ()> {
            Err(())
        }
    }
}

#[cfg(all(test, feature = "deflate"))]
mod tests {
    use super::*;

    fn params() -> Params {
        Params {
            level: 6,
            min_size: 16,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    /// Inflates what the server compressed, as a client does.
    fn inflate_all(compressed: &[u8]) -> Vec<u8> {
        let mut out = Assembly::binary(0);
        let mut i = Inflate::new(&params());
        i.begin();
        i.push(compressed, &mut out, usize::MAX).unwrap();
        i.finish(&mut out, usize::MAX).unwrap();
        match out.finish().unwrap() {
            crate::ws::frame::Incoming::Binary(b) => b.to_vec(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_message_round_trips_and_loses_its_flush_tail() {
        let msg = br#"{"cmd":"room.message","data":{"text":"hello hello hello hello"}}"#;
        let c = compress_alone(&params(), msg).expect("smaller");
        assert!(!c.ends_with(&TAIL));
        assert_eq!(inflate_all(&c), msg);
        // The thread's compressor is reset: the same message compresses to the same bytes.
        assert_eq!(compress_alone(&params(), msg), Some(c));
    }

    #[test]
    fn a_broadcast_compresses_once_per_payload_and_terms() {
        let payload = Bytes::from(vec![b'a'; 4096]);
        let mut once = Once::default();
        let a = once.get(&params(), &payload);
        let b = once.get(&params(), &payload.clone());
        assert_eq!(a, b);
        assert_eq!(once.made(), 1);
        let small_window = Params {
            server_max_window_bits: 10,
            ..params()
        };
        once.get(&small_window, &payload);
        assert_eq!(once.made(), 2);
    }

    #[test]
    fn inflating_past_the_limit_is_1009_after_one_chunk_at_most() {
        let bomb = compress_alone(&params(), &vec![0u8; 1 << 20]).unwrap();
        assert!(bomb.len() < 2048, "{}", bomb.len());
        let mut out = Assembly::binary(0);
        let mut i = Inflate::new(&params());
        i.begin();
        assert_eq!(i.push(&bomb, &mut out, 64 << 10), Err(INFLATED_TOO_BIG));
        assert!(out.len() <= 64 << 10);
    }

    #[test]
    fn garbage_is_1007_and_a_context_is_kept_across_messages() {
        let mut out = Assembly::binary(0);
        let mut i = Inflate::new(&params());
        i.begin();
        assert_eq!(i.push(&[0xff; 32], &mut out, 1 << 20), Err(BAD_DATA));
        // Context takeover: the second message refers to the first's window.
        let p = Params {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            ..params()
        };
        let mut ctx = Context::new(&p);
        let mut rx = Inflate::new(&p);
        for _ in 0..2 {
            let c = ctx.compress(b"the same words, the same words").unwrap();
            let mut out = Assembly::binary(0);
            rx.begin();
            rx.push(&c, &mut out, 1 << 20).unwrap();
            rx.finish(&mut out, 1 << 20).unwrap();
            assert_eq!(out.len(), 30);
        }
    }
}
