//! RFC 6455 framing, server side: decoding what a client sends, encoding what the server sends.
//!
//! ## Decoding
//!
//! The connection reads socket bytes into one `BytesMut` and calls [`Decoder::decode`] on it
//! until it returns `Ok(None)`. Each call takes frames off the front of the buffer:
//!
//! - Every frame header is checked as soon as its first two bytes are there (reserved bits,
//!   opcode, masking, control-frame rules, fragmentation order), and its length as soon as the
//!   length field is there: a frame or message over the configured limits is refused before any
//!   of its payload is read (close code 1009).
//! - A frame stays in the buffer, untouched, until it is complete; then its payload is unmasked
//!   in place.
//! - An unfragmented message (the common case) is split off the read buffer and frozen: its
//!   payload is returned without being copied. Text is validated as UTF-8 once, while it is
//!   turned into a `WireText`.
//! - The data frames of a fragmented message are copied into a buffer owned by the decoder (a
//!   `String` for text, a `BytesMut` for binary), which exists only while such a message is in
//!   progress: an idle decoder holds no heap memory (see [`crate::ws::fragment`]). Text fragments are validated as they
//!   arrive (a character split between two fragments is carried over, at most 3 bytes), so
//!   invalid UTF-8 is refused at the fragment that contains it, and each byte is validated
//!   once; the finished `String` becomes the `WireText` without a copy.
//! - Control frames (close, ping, pong) are returned at once, even between the fragments of a
//!   message, which they leave alone.
//!
//! - With permessage-deflate agreed (RFC 7692), a data frame may carry RSV1: its message is
//!   compressed, and is inflated into the same reassembly as fragments, bounded by the message
//!   limit as it grows ([`crate::ws::deflate`]). RSV1 on a control frame or a continuation
//!   frame (§6.1), or without the extension (RFC 6455 §5.2), is a protocol error (1002).
//!
//! A client that breaks the protocol gets a [`Violation`]: the close code to answer with (1002
//! protocol error, 1007 invalid data, 1009 too big) and a short reason.
//!
//! ## Encoding
//!
//! Server frames are never masked and never fragmented: a frame is a [`Head`] (FIN set, the
//! opcode, the payload length in 2, 4 or 10 bytes) followed by the payload as is.
//! [`close_payload`] builds the payload of a close frame.

use crate::ws::WireText;
use bytes::{Buf, Bytes, BytesMut};

use crate::ws::close_code;
use crate::ws::deflate::{Inflate, RSV1};
use crate::ws::fragment::Assembly;
use crate::ws::frame::INVALID_UTF8;
pub(crate) use crate::ws::frame::{Incoming, Violation};

/// Opcode of a continuation frame.
pub(crate) const OP_CONT: u8 = 0x0;
/// Opcode of a text frame.
pub(crate) const OP_TEXT: u8 = 0x1;
/// Opcode of a binary frame.
pub(crate) const OP_BINARY: u8 = 0x2;
/// Opcode of a close frame.
pub(crate) const OP_CLOSE: u8 = 0x8;
/// Opcode of a ping frame.
pub(crate) const OP_PING: u8 = 0x9;
/// Opcode of a pong frame.
pub(crate) const OP_PONG: u8 = 0xA;

/// The largest payload of a control frame.
const MAX_CONTROL_PAYLOAD: usize = 125;
/// A protocol error (1002) with `reason`.
const fn protocol(reason: &'static str) -> Violation {
    Violation {
        code: close_code::PROTOCOL,
        reason,
    }
}

const RESERVED_BITS: Violation = protocol("reserved bits set");
const RSV1_ON_CONTROL: Violation = protocol("RSV1 on a control frame");
const RSV1_ON_CONTINUATION: Violation = protocol("RSV1 on a continuation frame");
const RESERVED_OPCODE: Violation = protocol("reserved opcode");
const UNMASKED: Violation = protocol("unmasked client frame");
const FRAGMENTED_CONTROL: Violation = protocol("fragmented control frame");
const CONTROL_TOO_LONG: Violation = protocol("control frame payload over 125 bytes");
const BAD_LENGTH: Violation = protocol("invalid payload length");
const CONTINUATION_WITHOUT_START: Violation = protocol("continuation frame without a message");
const DATA_DURING_FRAGMENTED: Violation = protocol("new data frame inside a fragmented message");
const CLOSE_ONE_BYTE: Violation = protocol("close payload of 1 byte");
const BAD_CLOSE_CODE: Violation = protocol("invalid close code");
const FRAME_TOO_BIG: Violation = Violation {
    code: close_code::TOO_BIG,
    reason: "frame too big",
};
const MESSAGE_TOO_BIG: Violation = Violation {
    code: close_code::TOO_BIG,
    reason: "message too big",
};

/// Takes client frames off a read buffer and turns them into messages and control frames.
///
/// Small (three words and a pointer) while no fragmented message is in progress.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// The largest payload accepted in one frame.
    max_frame_size: usize,
    /// The largest message accepted, all its fragments together (inflated, when compressed).
    max_message_size: usize,
    /// The fragmented (or compressed) message in progress, if any.
    fragmented: Option<Box<Assembly>>,
    /// permessage-deflate, if agreed: RSV1 is allowed on a message's first frame.
    inflate: Option<Box<Inflate>>,
}

/// The header of a frame: where its payload starts and how long it is.
#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    /// The length of the header, masking key included.
    header_len: usize,
    /// The payload length as sent (the 64-bit form is not checked here).
    payload_len: u64,
    /// The masking key, if the MASK bit is set.
    mask: Option<[u8; 4]>,
}

/// A complete frame whose header has been taken off the read buffer and whose payload, unmasked,
/// is at the buffer's front.
#[derive(Debug, Clone, Copy)]
struct Frame {
    /// The FIN bit.
    fin: bool,
    /// RSV1 on a message's first frame: the message is compressed (RFC 7692 §6).
    compressed: bool,
    /// The opcode.
    opcode: u8,
    /// The payload length; the unmasked payload is at the front of the buffer.
    len: usize,
}

impl Decoder {
    /// A decoder that refuses frames over `max_frame_size` and messages over `max_message_size`
    /// payload bytes; with `inflate`, it inflates messages sent compressed.
    pub(crate) fn new(
        max_frame_size: usize,
        max_message_size: usize,
        inflate: Option<Box<Inflate>>,
    ) -> Self {
        Decoder {
            max_frame_size,
            max_message_size,
            fragmented: None,
            inflate,
        }
    }

    /// Takes the next whole message or control frame off the front of `buf`.
    /// Ok(None): more bytes are needed (any complete data frames of a fragmented message have been moved out of `buf` into the decoder; an incomplete frame stays in `buf` untouched).
    /// Err: the client broke the protocol; the connection will be closed with `code` (the decoder need not be usable afterwards).
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, Violation> {
        loop {
            let Some(Frame {
                fin,
                compressed,
                opcode,
                len,
            }) = self.next_frame(buf)?
            else {
                return Ok(None);
            };
            // `next_frame` checked that the payload (`len` bytes) is at the front of `buf`.
            match opcode {
                OP_CLOSE => return close(buf.split_to(len).freeze()).map(Some),
                OP_PING => return Ok(Some(Incoming::Ping(buf.split_to(len).freeze()))),
                OP_PONG => return Ok(Some(Incoming::Pong(buf.split_to(len).freeze()))),
                OP_TEXT if fin && !compressed => {
                    let text = WireText::try_from(buf.split_to(len).freeze());
                    return text
                        .map(|text| Some(Incoming::Text(text)))
                        .map_err(|_| INVALID_UTF8);
                }
                OP_BINARY if fin && !compressed => {
                    return Ok(Some(Incoming::Binary(buf.split_to(len).freeze())));
                }
                _ => {}
            }
            // A fragment, or a compressed message: its payload is copied (inflated) into the
            // decoder and dropped from `buf`.
            let assembly = match (opcode, &mut self.fragmented) {
                (OP_CONT, Some(assembly)) => assembly,
                (OP_TEXT, slot @ None) => slot.insert(Box::new(Assembly::text(len))),
                (OP_BINARY, slot @ None) => slot.insert(Box::new(Assembly::binary(len))),
                // `next_frame` refuses the other cases; repeated here so nothing can panic.
                (OP_CONT, None) => return Err(CONTINUATION_WITHOUT_START),
                (OP_TEXT | OP_BINARY, Some(_)) => return Err(DATA_DURING_FRAGMENTED),
                _ => return Err(RESERVED_OPCODE),
            };
            let Some(payload) = buf.get(..len) else {
                return Err(BAD_LENGTH);
            };
            let limit = self.max_message_size;
            match self.inflate.as_deref_mut() {
                Some(inflate) if compressed || inflate.active() => {
                    if compressed {
                        inflate.begin();
                    }
                    inflate.push(payload, assembly, limit)?;
                    if fin {
                        inflate.finish(assembly, limit)?;
                    }
                }
                _ => assembly.push(payload)?,
            }
            buf.advance(len);
            if fin {
                if let Some(assembly) = self.fragmented.take() {
                    return assembly.finish().map(Some);
                }
            }
        }
    }

    /// How many bytes `buf` must hold in all for the frame at its front to be complete, when its header is complete (None: the header itself is incomplete, at most 14 bytes needed). The caller uses it to reserve the read buffer once for a large frame instead of growing it step by step.
    pub(crate) fn needed(buf: &[u8]) -> Option<usize> {
        let header = frame_header(buf)?;
        let payload_len = usize::try_from(header.payload_len).unwrap_or(usize::MAX);
        Some(header.header_len.saturating_add(payload_len))
    }

    /// Checks the frame at the front of `buf` and, once it is complete, drops its header and
    /// unmasks its payload in place. Ok(None): the frame is incomplete, `buf` is untouched.
    fn next_frame(&self, buf: &mut BytesMut) -> Result<Option<Frame>, Violation> {
        let Some(&[b0, b1]) = buf.get(..2) else {
            return Ok(None);
        };
        let compressed = b0 & RSV1 != 0;
        if b0 & 0x30 != 0 || (compressed && self.inflate.is_none()) {
            return Err(RESERVED_BITS);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let data = match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if compressed {
                    return Err(RSV1_ON_CONTROL);
                }
                if !fin {
                    return Err(FRAGMENTED_CONTROL);
                }
                if usize::from(b1 & 0x7F) > MAX_CONTROL_PAYLOAD {
                    return Err(CONTROL_TOO_LONG);
                }
                false
            }
            OP_CONT if self.fragmented.is_none() => return Err(CONTINUATION_WITHOUT_START),
            OP_CONT if compressed => return Err(RSV1_ON_CONTINUATION),
            OP_TEXT | OP_BINARY if self.fragmented.is_some() => return Err(DATA_DURING_FRAGMENTED),
            OP_CONT | OP_TEXT | OP_BINARY => true,
            _ => return Err(RESERVED_OPCODE),
        };
        if b1 & 0x80 == 0 {
            return Err(UNMASKED);
        }
        let Some(header) = frame_header(buf) else {
            return Ok(None);
        };
        if header.payload_len >> 63 != 0 {
            return Err(BAD_LENGTH);
        }
        if header.payload_len > self.max_frame_size as u64 {
            return Err(FRAME_TOO_BIG);
        }
        let inflating = compressed || self.inflate.as_deref().is_some_and(Inflate::active);
        if data && inflating {
            // A compressed frame is inflated as it comes and its inflated bytes are counted
            // against the message limit; its own length may be the deflate of a message just
            // under the limit, which is a few bytes longer than the message (random data goes
            // in stored blocks). Past that bound no legitimate frame goes: refused from its head.
            if header.payload_len > deflate_bound(self.max_message_size) {
                return Err(MESSAGE_TOO_BIG);
            }
        } else if data {
            let so_far = self.fragmented.as_deref().map_or(0, Assembly::len) as u64;
            if so_far.saturating_add(header.payload_len) > self.max_message_size as u64 {
                return Err(MESSAGE_TOO_BIG);
            }
        }
        // Not above `max_frame_size`, so it fits a usize.
        let len = usize::try_from(header.payload_len).map_err(|_| FRAME_TOO_BIG)?;
        let end = header.header_len.checked_add(len).ok_or(FRAME_TOO_BIG)?;
        let Some(mask) = header.mask else {
            return Err(UNMASKED);
        };
        let Some(payload) = buf.get_mut(header.header_len..end) else {
            return Ok(None);
        };
        unmask(payload, mask);
        buf.advance(header.header_len);
        Ok(Some(Frame {
            fin,
            compressed,
            opcode,
            len,
        }))
    }
}

/// The longest deflate of `n` bytes (zlib's `deflateBound` for raw deflate, plus room for an
/// empty stored block): what a compressed message within the limit may take on the wire.
fn deflate_bound(n: usize) -> u64 {
    let n = n as u64;
    n + (n >> 12) + (n >> 14) + (n >> 25) + 16
}

/// Parses the header at the front of `buf` (None: incomplete). Checks nothing but lengths.
fn frame_header(buf: &[u8]) -> Option<FrameHeader> {
    let [_, b1, rest @ ..] = buf else {
        return None;
    };
    let (payload_len, rest) = match b1 & 0x7F {
        126 => {
            let (len, rest) = rest.split_first_chunk::<2>()?;
            (u64::from(u16::from_be_bytes(*len)), rest)
        }
        127 => {
            let (len, rest) = rest.split_first_chunk::<8>()?;
            (u64::from_be_bytes(*len), rest)
        }
        len => (u64::from(len), rest),
    };
    let mask = if *b1 & 0x80 != 0 {
        Some(*rest.first_chunk::<4>()?)
    } else {
        None
    };
    let mask_len = if mask.is_some() { 4 } else { 0 };
    let header_len = buf.len() - rest.len() + mask_len;
    Some(FrameHeader {
        header_len,
        payload_len,
        mask,
    })
}

/// XORs `data` with the 4-byte masking `key`, the key starting at `data[0]`: 8 bytes at a time,
/// then the tail byte by byte. Masking and unmasking are the same operation.
fn unmask(data: &mut [u8], key: [u8; 4]) {
    let [k0, k1, k2, k3] = key;
    let wide = u64::from_ne_bytes([k0, k1, k2, k3, k0, k1, k2, k3]);
    let mut words = data.chunks_exact_mut(8);
    for word in &mut words {
        if let Ok(bytes) = <[u8; 8]>::try_from(&*word) {
            word.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ wide).to_ne_bytes());
        }
    }
    // Whole words are a multiple of 4 bytes long: the tail (up to 7 bytes) starts at the key's
    // first byte.
    for (byte, k) in words.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= k;
    }
}

/// Parses a close frame's payload.
fn close(mut payload: Bytes) -> Result<Incoming, Violation> {
    let code = match *payload {
        [] => return Ok(Incoming::Close(None)),
        [_] => return Err(CLOSE_ONE_BYTE),
        [hi, lo, ..] => u16::from_be_bytes([hi, lo]),
    };
    if !valid_close_code(code) {
        return Err(BAD_CLOSE_CODE);
    }
    payload.advance(2);
    let reason = WireText::try_from(payload).map_err(|_| INVALID_UTF8)?;
    Ok(Incoming::Close(Some((code, reason))))
}

/// The head of an unmasked server frame: FIN set, `opcode`, payload length (2, 4 or 10 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    bytes: [u8; 10],
    len: u8,
}

impl Head {
    /// The head of a final, unmasked frame with `opcode` and a payload of `payload_len` bytes.
    /// `opcode` may carry [`RSV1`] (a compressed message, RFC 7692 §6).
    pub(crate) fn new(opcode: u8, payload_len: usize) -> Head {
        let mut bytes = [0; 10];
        bytes[0] = 0x80 | (opcode & (RSV1 | 0x0F));
        let len = match u16::try_from(payload_len) {
            Ok(short @ 0..=125) => {
                bytes[1] = short as u8;
                2
            }
            Ok(medium) => {
                bytes[1] = 126;
                bytes[2..4].copy_from_slice(&medium.to_be_bytes());
                4
            }
            Err(_) => {
                bytes[1] = 127;
                bytes[2..10].copy_from_slice(&(payload_len as u64).to_be_bytes());
                10
            }
        };
        Head { bytes, len }
    }

    /// The head's bytes, to be written before the payload.
    pub(crate) fn as_slice(&self) -> &[u8] {
        let (head, _) = self
            .bytes
            .split_at(usize::from(self.len).min(self.bytes.len()));
        head
    }
}

/// A close frame's payload: the code big-endian, then the reason (truncated on a char boundary so the payload is at most 125 bytes).
pub(crate) fn close_payload(code: u16, reason: &str) -> Bytes {
    let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = reason.get(..end).unwrap_or_default();
    let mut payload = BytesMut::with_capacity(2 + reason.len());
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(reason.as_bytes());
    payload.freeze()
}

/// Whether `code` may be sent in a close frame (used to validate client close codes): 1000–1003, 1007–1014, 3000–4999. Not 1004, 1005, 1006, 1015, < 1000, 1016–2999, ≥ 5000.
pub(crate) fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
pub(crate) mod tests;
