//! Unit tests of the RFC 6455 decoder and encoder (`super`): one behaviour each, on hand-built
//! client frames.

use super::*;

#[cfg(feature = "deflate")]
mod deflate;
mod utf8;
mod violations;

/// The masking key of the test frames.
const KEY: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];
/// Limits big enough for every test that is not about limits.
const BIG: usize = 1 << 20;

/// A client frame: first byte `b0` as given, masked with `key` if any (byte by byte, the
/// reference masking), the length in its shortest form.
pub(crate) fn raw_frame(b0: u8, key: Option<[u8; 4]>, payload: &[u8]) -> Vec<u8> {
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
    Decoder::new(BIG, BIG, None).decode(&mut BytesMut::from(bytes))
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
    Incoming::Text(WireText::from(s))
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
    let message = Decoder::new(BIG, BIG, None).decode(&mut buf);
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
        let mut decoder = Decoder::new(BIG, BIG, None);
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
    let mut decoder = Decoder::new(BIG, BIG, None);
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
    let out = decode_all(&mut Decoder::new(BIG, BIG, None), &bytes);
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
    let out = decode_all(&mut Decoder::new(BIG, BIG, None), &bytes);
    assert_eq!(
        out,
        vec![
            Ok(Incoming::Close(Some((1000, WireText::from("bye"))))),
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
    let mut decoder = Decoder::new(BIG, BIG, None);
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
    let out = decode_all(&mut Decoder::new(BIG, BIG, None), &bytes);
    assert_eq!(out, vec![Ok(text("")), Ok(binary(b"x"))]);
}

#[test]
fn decoder_is_reusable_after_a_fragmented_message() {
    let mut decoder = Decoder::new(BIG, BIG, None);
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
            Ok(Some(Incoming::Close(Some((code, WireText::from(""))))))
        );
    }
    assert_eq!(
        close(&close_payload(1000, "goodbye é")),
        Ok(Some(Incoming::Close(Some((
            1000,
            WireText::from("goodbye é")
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
    let mut decoder = Decoder::new(BIG, 2 * BIG, None);
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
        let mut decoder = Decoder::new(32, 48, None);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = decoder.decode(&mut buf) {}
    }
}
