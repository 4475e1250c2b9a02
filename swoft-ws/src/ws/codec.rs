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
//!   turned into a `Utf8Bytes`.
//! - The data frames of a fragmented message are copied into a buffer owned by the decoder (a
//!   `String` for text, a `BytesMut` for binary), which exists only while such a message is in
//!   progress: an idle decoder holds no heap memory. Text fragments are validated as they
//!   arrive (a character split between two fragments is carried over, at most 3 bytes), so
//!   invalid UTF-8 is refused at the fragment that contains it, and each byte is validated
//!   once; the finished `String` becomes the `Utf8Bytes` without a copy.
//! - Control frames (close, ping, pong) are returned at once, even between the fragments of a
//!   message, which they leave alone.
//!
//! A client that breaks the protocol gets a [`Violation`]: the close code to answer with (1002
//! protocol error, 1007 invalid data, 1009 too big) and a short reason.
//!
//! ## Encoding
//!
//! Server frames are never masked and never fragmented: a frame is a [`Head`] (FIN set, the
//! opcode, the payload length in 2, 4 or 10 bytes) followed by the payload as is.
//! [`close_payload`] builds the payload of a close frame.

use axum::extract::ws::Utf8Bytes;
use bytes::{Buf, Bytes, BytesMut};

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
/// Close code: the endpoint broke the protocol.
const PROTOCOL_ERROR: u16 = 1002;
/// Close code: the data is inconsistent with the message type (text that is not UTF-8).
const INVALID_DATA: u16 = 1007;
/// Close code: the message is too big to process.
const TOO_BIG: u16 = 1009;

/// A protocol error (1002) with `reason`.
const fn protocol(reason: &'static str) -> Violation {
    Violation {
        code: PROTOCOL_ERROR,
        reason,
    }
}

const RESERVED_BITS: Violation = protocol("reserved bits set");
const RESERVED_OPCODE: Violation = protocol("reserved opcode");
const UNMASKED: Violation = protocol("unmasked client frame");
const FRAGMENTED_CONTROL: Violation = protocol("fragmented control frame");
const CONTROL_TOO_LONG: Violation = protocol("control frame payload over 125 bytes");
const BAD_LENGTH: Violation = protocol("invalid payload length");
const CONTINUATION_WITHOUT_START: Violation = protocol("continuation frame without a message");
const DATA_DURING_FRAGMENTED: Violation = protocol("new data frame inside a fragmented message");
const CLOSE_ONE_BYTE: Violation = protocol("close payload of 1 byte");
const BAD_CLOSE_CODE: Violation = protocol("invalid close code");
const INVALID_UTF8: Violation = Violation {
    code: INVALID_DATA,
    reason: "invalid UTF-8",
};
const FRAME_TOO_BIG: Violation = Violation {
    code: TOO_BIG,
    reason: "frame too big",
};
const MESSAGE_TOO_BIG: Violation = Violation {
    code: TOO_BIG,
    reason: "message too big",
};

/// One whole message (reassembled from its fragments) or one control frame.
#[derive(Debug, PartialEq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(Utf8Bytes),
    /// A binary message.
    Binary(Bytes),
    /// A ping, with its payload (at most 125 bytes).
    Ping(Bytes),
    /// A pong, with its payload (at most 125 bytes).
    Pong(Bytes),
    /// A close frame: its code and reason; None for an empty close payload.
    Close(Option<(u16, Utf8Bytes)>),
}

/// The client broke the protocol: the close code to answer with, and why (for the log and the close reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Violation {
    /// The close code to send (1002, 1007 or 1009).
    pub(crate) code: u16,
    /// What was wrong, short enough for a close reason.
    pub(crate) reason: &'static str,
}

/// Takes client frames off a read buffer and turns them into messages and control frames.
///
/// Small (three words) while no fragmented message is in progress.
#[derive(Debug)]
pub(crate) struct Decoder {
    /// The largest payload accepted in one frame.
    max_frame_size: usize,
    /// The largest message accepted, all its fragments together.
    max_message_size: usize,
    /// The fragmented message in progress, if any.
    fragmented: Option<Box<Assembly>>,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
enum Assembly {
    /// Text, validated as it arrives.
    Text(TextAssembly),
    /// Binary data.
    Binary(BytesMut),
}

/// Fragmented text: the validated part, and the start of a character whose remaining bytes are
/// expected in the next fragment.
#[derive(Debug, Default)]
struct TextAssembly {
    /// Everything received so far except `pending`: valid UTF-8.
    text: String,
    /// An incomplete (but so far valid) UTF-8 sequence at the end of the data received.
    pending: [u8; 4],
    /// How many bytes of `pending` are used (0 to 3).
    pending_len: u8,
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
    /// The opcode.
    opcode: u8,
    /// The payload length; the unmasked payload is at the front of the buffer.
    len: usize,
}

impl Decoder {
    /// A decoder that refuses frames over `max_frame_size` and messages over `max_message_size`
    /// payload bytes.
    pub(crate) fn new(max_frame_size: usize, max_message_size: usize) -> Self {
        Decoder {
            max_frame_size,
            max_message_size,
            fragmented: None,
        }
    }

    /// Takes the next whole message or control frame off the front of `buf`.
    /// Ok(None): more bytes are needed (any complete data frames of a fragmented message have been moved out of `buf` into the decoder; an incomplete frame stays in `buf` untouched).
    /// Err: the client broke the protocol; the connection will be closed with `code` (the decoder need not be usable afterwards).
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Incoming>, Violation> {
        loop {
            let Some(Frame { fin, opcode, len }) = self.next_frame(buf)? else {
                return Ok(None);
            };
            // `next_frame` checked that the payload (`len` bytes) is at the front of `buf`.
            match opcode {
                OP_CLOSE => return close(buf.split_to(len).freeze()).map(Some),
                OP_PING => return Ok(Some(Incoming::Ping(buf.split_to(len).freeze()))),
                OP_PONG => return Ok(Some(Incoming::Pong(buf.split_to(len).freeze()))),
                OP_TEXT if fin => {
                    let text = Utf8Bytes::try_from(buf.split_to(len).freeze());
                    return text
                        .map(|text| Some(Incoming::Text(text)))
                        .map_err(|_| INVALID_UTF8);
                }
                OP_BINARY if fin => return Ok(Some(Incoming::Binary(buf.split_to(len).freeze()))),
                _ => {}
            }
            // A fragment: its payload is copied into the decoder and dropped from `buf`.
            let assembly = match (opcode, &mut self.fragmented) {
                (OP_CONT, Some(assembly)) => assembly,
                (OP_TEXT, slot @ None) => slot.insert(Box::new(Assembly::Text(TextAssembly {
                    text: String::with_capacity(len),
                    ..TextAssembly::default()
                }))),
                (OP_BINARY, slot @ None) => {
                    slot.insert(Box::new(Assembly::Binary(BytesMut::with_capacity(len))))
                }
                // `next_frame` refuses the other cases; repeated here so nothing can panic.
                (OP_CONT, None) => return Err(CONTINUATION_WITHOUT_START),
                (OP_TEXT | OP_BINARY, Some(_)) => return Err(DATA_DURING_FRAGMENTED),
                _ => return Err(RESERVED_OPCODE),
            };
            let Some(payload) = buf.get(..len) else {
                return Err(BAD_LENGTH);
            };
            assembly.push(payload)?;
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
        if b0 & 0x70 != 0 {
            return Err(RESERVED_BITS);
        }
        let fin = b0 & 0x80 != 0;
        let opcode = b0 & 0x0F;
        let data = match opcode {
            OP_CLOSE | OP_PING | OP_PONG => {
                if !fin {
                    return Err(FRAGMENTED_CONTROL);
                }
                if usize::from(b1 & 0x7F) > MAX_CONTROL_PAYLOAD {
                    return Err(CONTROL_TOO_LONG);
                }
                false
            }
            OP_CONT if self.fragmented.is_none() => return Err(CONTINUATION_WITHOUT_START),
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
        if data {
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
        Ok(Some(Frame { fin, opcode, len }))
    }
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
    let reason = Utf8Bytes::try_from(payload).map_err(|_| INVALID_UTF8)?;
    Ok(Incoming::Close(Some((code, reason))))
}

impl Assembly {
    /// The payload bytes received so far.
    fn len(&self) -> usize {
        match self {
            Assembly::Text(text) => text.text.len() + usize::from(text.pending_len),
            Assembly::Binary(data) => data.len(),
        }
    }

    /// Adds the payload of one fragment.
    fn push(&mut self, payload: &[u8]) -> Result<(), Violation> {
        match self {
            Assembly::Text(text) => text.push(payload),
            Assembly::Binary(data) => {
                data.extend_from_slice(payload);
                Ok(())
            }
        }
    }

    /// The whole message, after its last fragment.
    fn finish(self) -> Result<Incoming, Violation> {
        match self {
            Assembly::Text(TextAssembly {
                pending_len: 1.., ..
            }) => Err(INVALID_UTF8),
            Assembly::Text(TextAssembly { text, .. }) => Ok(Incoming::Text(Utf8Bytes::from(text))),
            Assembly::Binary(data) => Ok(Incoming::Binary(data.freeze())),
        }
    }
}

impl TextAssembly {
    /// Validates and appends the payload of one text fragment. Fails as soon as the data can no
    /// longer be valid UTF-8, whatever follows.
    fn push(&mut self, mut data: &[u8]) -> Result<(), Violation> {
        // First complete the character left incomplete by the previous fragment.
        while self.pending_len > 0 {
            let Some((&byte, rest)) = data.split_first() else {
                return Ok(());
            };
            self.push_pending(byte)?;
            data = rest;
        }
        // A character cut at the end of this fragment starts in the last 3 bytes: keep it
        // apart, so that the rest is validated once and appended as a `&str`.
        let whole = incomplete_tail_start(data);
        let (head, tail) = data.split_at(whole);
        let head = std::str::from_utf8(head).map_err(|_| INVALID_UTF8)?;
        self.text.push_str(head);
        for &byte in tail {
            self.push_pending(byte)?;
        }
        Ok(())
    }

    /// Adds one byte to the incomplete character at the end and checks it.
    fn push_pending(&mut self, byte: u8) -> Result<(), Violation> {
        let len = usize::from(self.pending_len);
        let Some(slot) = self.pending.get_mut(len) else {
            return Err(INVALID_UTF8);
        };
        *slot = byte;
        let Some(pending) = self.pending.get(..=len) else {
            return Err(INVALID_UTF8);
        };
        match std::str::from_utf8(pending) {
            Ok(char) => {
                self.text.push_str(char);
                self.pending_len = 0;
                Ok(())
            }
            // An incomplete sequence: valid so far.
            Err(error) if error.error_len().is_none() => {
                self.pending_len += 1;
                Ok(())
            }
            Err(_) => Err(INVALID_UTF8),
        }
    }
}

/// Where the character cut by the end of `data` starts, if it is cut; `data.len()` otherwise.
fn incomplete_tail_start(data: &[u8]) -> usize {
    let from = data.len().saturating_sub(3);
    let Some(lead) = data
        .get(from..)
        .and_then(|tail| tail.iter().rposition(|&b| b & 0xC0 != 0x80))
    else {
        return data.len();
    };
    let start = from + lead;
    let width = match data.get(start) {
        Some(0xC2..=0xDF) => 2,
        Some(0xE0..=0xEF) => 3,
        Some(0xF0..=0xF4) => 4,
        _ => 1,
    };
    if data.len() - start < width {
        start
    } else {
        data.len()
    }
}

/// The head of an unmasked server frame: FIN set, `opcode`, payload length (2, 4 or 10 bytes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Head {
    bytes: [u8; 10],
    len: u8,
}

impl Head {
    /// The head of a final, unmasked frame with `opcode` and a payload of `payload_len` bytes.
    pub(crate) fn new(opcode: u8, payload_len: usize) -> Head {
        let mut bytes = [0; 10];
        bytes[0] = 0x80 | (opcode & 0x0F);
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
mod tests {
    use super::*;

    /// The masking key of the test frames.
    const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
    /// Limits big enough for every test that is not about limits.
    const BIG: usize = 1 << 20;

    /// A client frame: first byte `b0` as given, masked with `key` if any (byte by byte, the
    /// reference masking), the length in its shortest form.
    fn raw_frame(b0: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
        let mask_bit = if key.is_some() { 0x80 } else { 0 };
        let mut frame = vec![b0];
        match payload.len() {
            len @ 0..=125 => frame.push(mask_bit | len as u8),
            len @ 126..=0xFFFF => {
                frame.push(mask_bit | 126);
                frame.extend_from_slice(&(len as u16).to_be_bytes());
            }
            len => {
                frame.push(mask_bit | 127);
                frame.extend_from_slice(&(len as u64).to_be_bytes());
            }
        }
        match key {
            Some(key) => {
                frame.extend_from_slice(&key);
                frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
            }
            None => frame.extend_from_slice(payload),
        }
        frame
    }

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        raw_frame(if fin { 0x80 } else { 0 } | opcode, Some(KEY), payload)
    }

    /// A header only: masked, claiming `len` payload bytes (none follow).
    fn header_only(b0: u8, len: u64) -> Vec<u8> {
        let mut header = vec![b0, 0x80 | 127];
        header.extend_from_slice(&len.to_be_bytes());
        header.extend_from_slice(&KEY);
        header
    }

    /// Decodes `bytes` with a fresh decoder with big limits.
    fn decode_one(bytes: &[u8]) -> Result<Option<Incoming>, Violation> {
        Decoder::new(BIG, BIG).decode(&mut BytesMut::from(bytes))
    }

    /// Decodes everything in `bytes`, in one buffer, until more bytes would be needed.
    fn decode_all(decoder: &mut Decoder, bytes: &[u8]) -> Vec<Result<Incoming, Violation>> {
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => return out,
                Err(violation) => {
                    out.push(Err(violation));
                    return out;
                }
            }
        }
    }

    fn text(s: &str) -> Incoming {
        Incoming::Text(Utf8Bytes::from(s))
    }

    fn binary(b: &[u8]) -> Incoming {
        Incoming::Binary(Bytes::copy_from_slice(b))
    }

    fn code_of(result: Result<Option<Incoming>, Violation>) -> u16 {
        result.expect_err("a violation").code
    }

    #[test]
    fn idle_decoder_is_small() {
        assert!(size_of::<Decoder>() <= 64, "{}", size_of::<Decoder>());
    }

    #[test]
    fn unfragmented_text_and_binary() {
        assert_eq!(
            decode_one(&frame(true, OP_TEXT, "héllo €".as_bytes())),
            Ok(Some(text("héllo €")))
        );
        assert_eq!(
            decode_one(&frame(true, OP_BINARY, &[0, 1, 2, 255])),
            Ok(Some(binary(&[0, 1, 2, 255])))
        );
    }

    #[test]
    fn unfragmented_message_leaves_the_buffer_empty() {
        let mut buf = BytesMut::from(&frame(true, OP_BINARY, b"abc")[..]);
        let message = Decoder::new(BIG, BIG).decode(&mut buf);
        assert_eq!(message, Ok(Some(binary(b"abc"))));
        assert!(buf.is_empty());
    }

    #[test]
    fn all_three_length_forms() {
        for len in [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100_003] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let encoded = frame(true, OP_BINARY, &payload);
            let header_len = match len {
                0..=125 => 6,
                126..=65535 => 8,
                _ => 14,
            };
            assert_eq!(encoded.len(), header_len + len);
            assert_eq!(Decoder::needed(&encoded), Some(encoded.len()));
            assert_eq!(
                decode_one(&encoded),
                Ok(Some(Incoming::Binary(payload.into()))),
                "len {len}"
            );

            let ascii: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert_eq!(
                decode_one(&frame(true, OP_TEXT, ascii.as_bytes())),
                Ok(Some(text(&ascii)))
            );
        }
    }

    #[test]
    fn frame_fed_byte_by_byte() {
        for len in [0, 5, 200, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let encoded = frame(true, OP_BINARY, &payload);
            let mut decoder = Decoder::new(BIG, BIG);
            let mut buf = BytesMut::new();
            let (last, init) = encoded.split_last().unwrap();
            for (i, &byte) in init.iter().enumerate() {
                buf.extend_from_slice(&[byte]);
                // Only check every call for small frames, to keep the test quick.
                if len < 1000 || i < 20 || i % 997 == 0 {
                    assert_eq!(decoder.decode(&mut buf), Ok(None), "after {} bytes", i + 1);
                    assert_eq!(
                        &buf[..],
                        &encoded[..=i],
                        "an incomplete frame stays untouched"
                    );
                }
            }
            buf.extend_from_slice(&[*last]);
            assert_eq!(
                decoder.decode(&mut buf),
                Ok(Some(Incoming::Binary(payload.into())))
            );
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn two_frames_in_one_buffer() {
        let mut bytes = frame(true, OP_TEXT, b"one");
        bytes.extend(frame(true, OP_BINARY, b"two"));
        bytes.extend(&frame(true, OP_PING, b"three")[..4]);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(BIG, BIG);
        assert_eq!(decoder.decode(&mut buf), Ok(Some(text("one"))));
        assert_eq!(decoder.decode(&mut buf), Ok(Some(binary(b"two"))));
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(buf.len(), 4);
    }

    #[test]
    fn fragmented_text_with_a_ping_in_the_middle() {
        let mut bytes = frame(false, OP_TEXT, b"Hel");
        bytes.extend(frame(true, OP_PING, b"ping?"));
        bytes.extend(frame(false, OP_CONT, b"lo, "));
        bytes.extend(frame(true, OP_PONG, b""));
        bytes.extend(frame(true, OP_CONT, b"world"));
        let out = decode_all(&mut Decoder::new(BIG, BIG), &bytes);
        assert_eq!(
            out,
            vec![
                Ok(Incoming::Ping(Bytes::from_static(b"ping?"))),
                Ok(Incoming::Pong(Bytes::new())),
                Ok(text("Hello, world")),
            ]
        );
    }

    #[test]
    fn fragmented_binary_with_a_close_in_the_middle() {
        let mut bytes = frame(false, OP_BINARY, &[1, 2]);
        bytes.extend(frame(true, OP_CLOSE, &close_payload(1000, "bye")));
        bytes.extend(frame(true, OP_CONT, &[3]));
        let out = decode_all(&mut Decoder::new(BIG, BIG), &bytes);
        assert_eq!(
            out,
            vec![
                Ok(Incoming::Close(Some((1000, Utf8Bytes::from("bye"))))),
                Ok(binary(&[1, 2, 3]))
            ]
        );
    }

    #[test]
    fn complete_fragments_leave_the_buffer_and_an_incomplete_one_stays() {
        let first = frame(false, OP_BINARY, b"abc");
        let second = frame(true, OP_CONT, b"defgh");
        let mut bytes = first.clone();
        bytes.extend(&second[..second.len() - 1]);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut decoder = Decoder::new(BIG, BIG);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        assert_eq!(&buf[..], &second[..second.len() - 1]);
        buf.extend_from_slice(&second[second.len() - 1..]);
        assert_eq!(decoder.decode(&mut buf), Ok(Some(binary(b"abcdefgh"))));
        assert!(buf.is_empty());
    }

    #[test]
    fn empty_frames_and_messages() {
        assert_eq!(decode_one(&frame(true, OP_TEXT, b"")), Ok(Some(text(""))));
        assert_eq!(
            decode_one(&frame(true, OP_BINARY, b"")),
            Ok(Some(binary(b"")))
        );
        assert_eq!(
            decode_one(&frame(true, OP_PING, b"")),
            Ok(Some(Incoming::Ping(Bytes::new())))
        );
        let mut bytes = frame(false, OP_TEXT, b"");
        bytes.extend(frame(false, OP_CONT, b""));
        bytes.extend(frame(true, OP_CONT, b""));
        bytes.extend(frame(false, OP_BINARY, b""));
        bytes.extend(frame(false, OP_CONT, b"x"));
        bytes.extend(frame(true, OP_CONT, b""));
        let out = decode_all(&mut Decoder::new(BIG, BIG), &bytes);
        assert_eq!(out, vec![Ok(text("")), Ok(binary(b"x"))]);
    }

    #[test]
    fn decoder_is_reusable_after_a_fragmented_message() {
        let mut decoder = Decoder::new(BIG, BIG);
        let mut bytes = frame(false, OP_TEXT, b"a");
        bytes.extend(frame(true, OP_CONT, b"b"));
        bytes.extend(frame(false, OP_BINARY, b"c"));
        bytes.extend(frame(true, OP_CONT, b"d"));
        bytes.extend(frame(true, OP_TEXT, b"e"));
        let out = decode_all(&mut decoder, &bytes);
        assert_eq!(out, vec![Ok(text("ab")), Ok(binary(b"cd")), Ok(text("e"))]);
        assert!(
            decoder.fragmented.is_none(),
            "no heap held between messages"
        );
    }

    #[test]
    fn multibyte_chars_split_across_fragments_are_accepted() {
        let message = "a€b𝄞c é";
        let bytes = message.as_bytes();
        // Every way of cutting the message in three fragments.
        for i in 0..=bytes.len() {
            for j in i..=bytes.len() {
                let mut encoded = frame(false, OP_TEXT, &bytes[..i]);
                encoded.extend(frame(true, OP_PING, b""));
                encoded.extend(frame(false, OP_CONT, &bytes[i..j]));
                encoded.extend(frame(true, OP_CONT, &bytes[j..]));
                let out = decode_all(&mut Decoder::new(BIG, BIG), &encoded);
                assert_eq!(out.last(), Some(&Ok(text(message))), "cut at {i} and {j}");
            }
        }
        // One byte per fragment.
        let mut encoded = Vec::new();
        for (i, byte) in bytes.iter().enumerate() {
            let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
            encoded.extend(frame(i + 1 == bytes.len(), opcode, &[*byte]));
        }
        assert_eq!(
            decode_all(&mut Decoder::new(BIG, BIG), &encoded),
            vec![Ok(text(message))]
        );
    }

    #[test]
    fn invalid_utf8_in_the_first_fragment_fails_fast() {
        let mut decoder = Decoder::new(BIG, BIG);
        let mut buf = BytesMut::from(&frame(false, OP_TEXT, b"ok \xFF")[..]);
        assert_eq!(decoder.decode(&mut buf), Err(INVALID_UTF8));
        assert_eq!(INVALID_UTF8.code, 1007);
        // Invalid whatever follows, though the sequence is incomplete at the frame's end.
        for bad in [
            &b"\xE0\x80"[..],
            b"\xED\xA0",
            b"\xF4\x90",
            b"\xF5",
            b"\xC0",
            b"\x80",
        ] {
            let out = decode_all(&mut Decoder::new(BIG, BIG), &frame(false, OP_TEXT, bad));
            assert_eq!(out, vec![Err(INVALID_UTF8)], "{bad:?}");
        }
    }

    #[test]
    fn invalid_utf8_in_a_later_fragment_fails_at_that_fragment() {
        // The character started in the first fragment is broken by the second one.
        let mut bytes = frame(false, OP_TEXT, b"x\xE2\x82");
        bytes.extend(frame(false, OP_CONT, b"A"));
        assert_eq!(
            decode_all(&mut Decoder::new(BIG, BIG), &bytes),
            vec![Err(INVALID_UTF8)]
        );
        // A valid first fragment, an invalid second one, no FIN yet.
        let mut bytes = frame(false, OP_TEXT, "é".as_bytes());
        bytes.extend(frame(
            false,
            OP_CONT,
            b"\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80",
        ));
        assert_eq!(
            decode_all(&mut Decoder::new(BIG, BIG), &bytes),
            vec![Err(INVALID_UTF8)]
        );
        // A 4-byte character completed wrongly in the third fragment.
        let mut bytes = frame(false, OP_TEXT, b"\xF0");
        bytes.extend(frame(false, OP_CONT, b"\x90"));
        bytes.extend(frame(false, OP_CONT, b"\x80\x41"));
        assert_eq!(
            decode_all(&mut Decoder::new(BIG, BIG), &bytes),
            vec![Err(INVALID_UTF8)]
        );
    }

    #[test]
    fn incomplete_char_at_fin_is_rejected() {
        let mut bytes = frame(false, OP_TEXT, b"abc");
        bytes.extend(frame(true, OP_CONT, b"\xE2\x82"));
        assert_eq!(
            decode_all(&mut Decoder::new(BIG, BIG), &bytes),
            vec![Err(INVALID_UTF8)]
        );
        assert_eq!(
            decode_one(&frame(true, OP_TEXT, b"abc\xE2\x82")),
            Err(INVALID_UTF8)
        );
    }

    #[test]
    fn invalid_utf8_in_an_unfragmented_text_is_rejected() {
        assert_eq!(
            decode_one(&frame(true, OP_TEXT, b"\xCE\xBA\xE1\xBD\xB9\xED\xA0\x80")),
            Err(INVALID_UTF8)
        );
        // Binary is not checked.
        assert!(decode_one(&frame(true, OP_BINARY, b"\xFF")).is_ok());
    }

    #[test]
    fn unmasked_frame_is_a_protocol_error() {
        let unmasked = raw_frame(0x80 | OP_TEXT, None, b"hello");
        assert_eq!(decode_one(&unmasked), Err(UNMASKED));
        assert_eq!(
            code_of(decode_one(&unmasked[..2])),
            1002,
            "known from 2 bytes"
        );
    }

    #[test]
    fn reserved_bits_are_a_protocol_error() {
        for rsv in [0x40, 0x20, 0x10, 0x70] {
            let encoded = raw_frame(0x80 | rsv | OP_TEXT, Some(KEY), b"x");
            assert_eq!(decode_one(&encoded), Err(RESERVED_BITS));
            assert_eq!(code_of(decode_one(&encoded[..2])), 1002);
        }
    }

    #[test]
    fn reserved_opcodes_are_a_protocol_error() {
        for opcode in (3..=7).chain(0xB..=0xF) {
            assert_eq!(
                decode_one(&frame(true, opcode, b"")),
                Err(RESERVED_OPCODE),
                "{opcode}"
            );
        }
    }

    #[test]
    fn control_frame_over_125_bytes_is_a_protocol_error() {
        for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
            let mut payload = close_payload(1000, "").to_vec();
            payload.resize(126, b'a');
            let encoded = frame(true, opcode, &payload);
            assert_eq!(decode_one(&encoded), Err(CONTROL_TOO_LONG));
            assert_eq!(
                code_of(decode_one(&encoded[..2])),
                1002,
                "known from 2 bytes"
            );
            payload.truncate(125);
            assert!(decode_one(&frame(true, opcode, &payload)).is_ok());
        }
    }

    #[test]
    fn fragmented_control_frame_is_a_protocol_error() {
        for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
            assert_eq!(
                decode_one(&frame(false, opcode, b"")),
                Err(FRAGMENTED_CONTROL)
            );
        }
    }

    #[test]
    fn continuation_without_a_message_is_a_protocol_error() {
        assert_eq!(
            decode_one(&frame(true, OP_CONT, b"x")),
            Err(CONTINUATION_WITHOUT_START)
        );
        assert_eq!(
            decode_one(&frame(false, OP_CONT, b"x")),
            Err(CONTINUATION_WITHOUT_START)
        );
        // Also after a message has ended.
        let mut bytes = frame(false, OP_TEXT, b"a");
        bytes.extend(frame(true, OP_CONT, b"b"));
        bytes.extend(frame(true, OP_CONT, b"c"));
        let out = decode_all(&mut Decoder::new(BIG, BIG), &bytes);
        assert_eq!(out, vec![Ok(text("ab")), Err(CONTINUATION_WITHOUT_START)]);
    }

    #[test]
    fn new_data_frame_during_a_fragmented_message_is_a_protocol_error() {
        for (first, second) in [
            (OP_TEXT, OP_TEXT),
            (OP_TEXT, OP_BINARY),
            (OP_BINARY, OP_TEXT),
        ] {
            for fin in [false, true] {
                let mut bytes = frame(false, first, b"a");
                bytes.extend(frame(fin, second, b"b"));
                let out = decode_all(&mut Decoder::new(BIG, BIG), &bytes);
                assert_eq!(out, vec![Err(DATA_DURING_FRAGMENTED)]);
            }
        }
    }

    #[test]
    fn frame_too_big_is_known_from_the_header() {
        let mut decoder = Decoder::new(1000, 1 << 30);
        let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, 1001)[..]);
        assert_eq!(decoder.decode(&mut buf), Err(FRAME_TOO_BIG));
        assert_eq!(FRAME_TOO_BIG.code, 1009);
        // The 16-bit form too, with only the header read.
        let encoded = frame(true, OP_TEXT, &[b'a'; 1001]);
        assert_eq!(
            Decoder::new(1000, BIG).decode(&mut BytesMut::from(&encoded[..8])),
            Err(FRAME_TOO_BIG)
        );
        // Exactly the limit is fine.
        let encoded = frame(true, OP_TEXT, &[b'a'; 1000]);
        assert!(
            Decoder::new(1000, 1000)
                .decode(&mut BytesMut::from(&encoded[..]))
                .is_ok()
        );
    }

    #[test]
    fn top_bit_of_the_64_bit_length_is_a_protocol_error() {
        let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, 1 << 63)[..]);
        assert_eq!(
            Decoder::new(usize::MAX, usize::MAX).decode(&mut buf),
            Err(BAD_LENGTH)
        );
        let mut buf = BytesMut::from(&header_only(0x80 | OP_BINARY, u64::MAX)[..]);
        assert_eq!(Decoder::new(BIG, BIG).decode(&mut buf), Err(BAD_LENGTH));
    }

    #[test]
    fn message_too_big_across_fragments() {
        let mut decoder = Decoder::new(100, 150);
        let mut bytes = frame(false, OP_TEXT, &[b'a'; 80]);
        bytes.extend(frame(false, OP_CONT, &[b'b'; 70]));
        // Only the header of a third fragment: one more byte is too much.
        bytes.extend(&frame(true, OP_CONT, &[b'c'; 1])[..6]);
        assert_eq!(decode_all(&mut decoder, &bytes), vec![Err(MESSAGE_TOO_BIG)]);
        assert_eq!(MESSAGE_TOO_BIG.code, 1009);
        // Binary as well, and an unfragmented message over the message limit.
        let mut bytes = frame(false, OP_BINARY, &[0; 100]);
        bytes.extend(&frame(true, OP_CONT, &[0; 51])[..6]);
        assert_eq!(
            decode_all(&mut Decoder::new(100, 150), &bytes),
            vec![Err(MESSAGE_TOO_BIG)]
        );
        let encoded = frame(true, OP_BINARY, &[0; 151]);
        assert_eq!(
            Decoder::new(1000, 150).decode(&mut BytesMut::from(&encoded[..8])),
            Err(MESSAGE_TOO_BIG)
        );
        // Exactly the limit, with control frames in between (not counted).
        let mut bytes = frame(false, OP_TEXT, &[b'a'; 100]);
        bytes.extend(frame(true, OP_PING, &[0; 90]));
        bytes.extend(frame(true, OP_CONT, &[b'b'; 50]));
        let out = decode_all(&mut Decoder::new(100, 150), &bytes);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[1], Ok(Incoming::Text(t)) if t.len() == 150));
    }

    #[test]
    fn close_payloads() {
        let close = |payload: &[u8]| decode_one(&frame(true, OP_CLOSE, payload));
        assert_eq!(close(b""), Ok(Some(Incoming::Close(None))));
        assert_eq!(close(&[0x03]), Err(CLOSE_ONE_BYTE));
        assert_eq!(CLOSE_ONE_BYTE.code, 1002);
        for code in [
            0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
        ] {
            assert_eq!(close(&code_bytes(code)), Err(BAD_CLOSE_CODE), "{code}");
        }
        for code in [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999] {
            assert_eq!(
                close(&code_bytes(code)),
                Ok(Some(Incoming::Close(Some((code, Utf8Bytes::from(""))))))
            );
        }
        assert_eq!(
            close(&close_payload(1000, "goodbye é")),
            Ok(Some(Incoming::Close(Some((
                1000,
                Utf8Bytes::from("goodbye é")
            )))))
        );
        let mut bad_reason = code_bytes(1000).to_vec();
        bad_reason.extend_from_slice(b"ok\xFF");
        assert_eq!(close(&bad_reason), Err(INVALID_UTF8));
    }

    fn code_bytes(code: u16) -> [u8; 2] {
        code.to_be_bytes()
    }

    #[test]
    fn valid_close_codes() {
        let valid: Vec<u16> = (0..=u16::MAX)
            .filter(|&code| valid_close_code(code))
            .collect();
        let expected: Vec<u16> = (1000..=1003)
            .chain(1007..=1014)
            .chain(3000..=4999)
            .collect();
        assert_eq!(valid, expected);
    }

    #[test]
    fn head_lengths() {
        assert_eq!(Head::new(OP_TEXT, 0).as_slice(), [0x81, 0]);
        assert_eq!(Head::new(OP_BINARY, 125).as_slice(), [0x82, 125]);
        assert_eq!(Head::new(OP_TEXT, 126).as_slice(), [0x81, 126, 0, 126]);
        assert_eq!(Head::new(OP_CLOSE, 2).as_slice(), [0x88, 2]);
        assert_eq!(
            Head::new(OP_PONG, 65535).as_slice(),
            [0x8A, 126, 0xFF, 0xFF]
        );
        assert_eq!(
            Head::new(OP_BINARY, 65536).as_slice(),
            [0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0]
        );
        assert_eq!(
            Head::new(OP_PING, 0x0102_0304_0506).as_slice(),
            [0x89, 127, 0, 0, 1, 2, 3, 4, 5, 6]
        );
    }

    #[test]
    fn head_agrees_with_needed() {
        for len in [0, 125, 126, 65535, 65536] {
            let head = Head::new(OP_BINARY, len);
            assert_eq!(
                Decoder::needed(head.as_slice()),
                Some(head.as_slice().len() + len)
            );
        }
    }

    #[test]
    fn close_payload_truncates_on_a_char_boundary() {
        assert_eq!(
            &close_payload(1001, "going away")[..],
            b"\x03\xE9going away"
        );
        assert_eq!(&close_payload(4000, "")[..], [0x0F, 0xA0]);
        // 122 ASCII bytes then "€" (3 bytes): 125 bytes would cut the "€".
        let reason = format!("{}€tail", "a".repeat(122));
        let payload = close_payload(1000, &reason);
        assert_eq!(payload.len(), 124);
        assert_eq!(&payload[2..], "a".repeat(122).as_bytes());
        // Exactly 123 bytes of reason fit.
        let reason = format!("{}€", "a".repeat(120));
        assert_eq!(close_payload(1000, &reason).len(), 125);
        // Always a valid close frame for the decoder.
        for n in 0..200 {
            let reason = "é".repeat(n);
            let payload = close_payload(1000, &reason);
            assert!(payload.len() <= 125);
            assert!(matches!(
                decode_one(&frame(true, OP_CLOSE, &payload)),
                Ok(Some(Incoming::Close(Some((1000, r))))) if reason.starts_with(r.as_str())
            ));
        }
    }

    #[test]
    fn needed_for_partial_and_complete_headers() {
        assert_eq!(Decoder::needed(&[]), None);
        assert_eq!(Decoder::needed(&[0x81]), None);
        assert_eq!(Decoder::needed(&[0x81, 0x85]), None, "mask key missing");
        assert_eq!(Decoder::needed(&[0x81, 0x85, 1, 2, 3]), None);
        assert_eq!(Decoder::needed(&[0x81, 0x85, 1, 2, 3, 4]), Some(11));
        assert_eq!(Decoder::needed(&[0x81, 0x85, 1, 2, 3, 4, 5, 6]), Some(11));
        assert_eq!(Decoder::needed(&[0x81, 0x05]), Some(7), "unmasked: no key");
        assert_eq!(Decoder::needed(&[0x82, 0xFE, 0x01]), None);
        assert_eq!(Decoder::needed(&[0x82, 0xFE, 0x01, 0x00, 9, 9, 9]), None);
        assert_eq!(
            Decoder::needed(&[0x82, 0xFE, 0x01, 0x00, 9, 9, 9, 9]),
            Some(8 + 256)
        );
        let header = header_only(0x82, 16 << 20);
        for end in 0..header.len() {
            assert_eq!(Decoder::needed(&header[..end]), None, "{end} bytes");
        }
        assert_eq!(Decoder::needed(&header), Some(14 + (16 << 20)));
        assert_eq!(
            Decoder::needed(&header_only(0x82, u64::MAX)),
            Some(usize::MAX)
        );
    }

    #[test]
    fn unmask_matches_the_byte_by_byte_reference() {
        let keys = [KEY, [0, 0, 0, 0], [0xFF, 0x01, 0x80, 0x7F]];
        let original: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(31) ^ (i >> 3)) as u8)
            .collect();
        for key in keys {
            for offset in 0..9 {
                for len in (0..40).chain([63, 64, 65, 127, 128, 129, 255, 291]) {
                    let mut buffer = original.clone();
                    let data = &mut buffer[offset..offset + len];
                    unmask(data, key);
                    let reference: Vec<u8> = original[offset..offset + len]
                        .iter()
                        .enumerate()
                        .map(|(i, b)| b ^ key[i % 4])
                        .collect();
                    assert_eq!(
                        &buffer[offset..offset + len],
                        &reference[..],
                        "len {len} offset {offset}"
                    );
                    assert_eq!(
                        &buffer[..offset],
                        &original[..offset],
                        "nothing before is touched"
                    );
                    assert_eq!(
                        &buffer[offset + len..],
                        &original[offset + len..],
                        "nor after"
                    );
                    unmask(&mut buffer[offset..offset + len], key);
                    assert_eq!(buffer, original, "unmask(mask(x)) == x");
                }
            }
        }
    }

    #[test]
    fn large_fragmented_message_in_small_chunks() {
        // 1 MiB of text in 64-byte fragments, fed to the decoder 1000 bytes at a time.
        let message: String = (0..(1 << 20))
            .map(|i| if i % 3 == 0 { 'é' } else { 'a' })
            .take(1 << 19)
            .collect();
        let bytes = message.as_bytes();
        let mut encoded = Vec::new();
        let chunks: Vec<&[u8]> = bytes.chunks(64).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
            encoded.extend(frame(i + 1 == chunks.len(), opcode, chunk));
        }
        let mut decoder = Decoder::new(BIG, 2 * BIG);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for piece in encoded.chunks(1000) {
            buf.extend_from_slice(piece);
            while let Some(message) = decoder.decode(&mut buf).unwrap() {
                out.push(message);
            }
        }
        assert_eq!(out, vec![text(&message)]);
        assert!(buf.is_empty());
    }

    #[test]
    fn no_panic_on_arbitrary_input() {
        // A cheap deterministic fuzz: random bytes, random frame-ish prefixes.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 64) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if let Some(first) = bytes.get_mut(0) {
                *first &= 0x8F;
            }
            if let Some(second) = bytes.get_mut(1) {
                *second |= 0x80;
            }
            let _ = Decoder::needed(&bytes);
            let mut decoder = Decoder::new(32, 48);
            let mut buf = BytesMut::from(&bytes[..]);
            while let Ok(Some(_)) = decoder.decode(&mut buf) {}
        }
    }
}
