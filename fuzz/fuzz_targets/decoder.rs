//! Fuzzes the RFC 6455 decoder every connection uses (`swoft_ws::__private::codec`): any bytes,
//! cut into reads of any size, must give messages and control frames within the limits or one
//! violation with a close code of 1002, 1007 or 1009, and never a panic, a hang or an
//! allocation past the limits.
//!
//! The first input byte is the read size (1 to 256), the rest is what the client sends.
//! Run with `cargo +nightly fuzz run decoder` from the repository root.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use swoft_ws::__private::codec::{Frame, FrameDecoder};

/// Small limits, so that the fuzzer reaches them.
const MAX_FRAME: usize = 4096;
const MAX_MESSAGE: usize = 16384;

fuzz_target!(|data: &[u8]| {
    let Some((&read, stream)) = data.split_first() else {
        return;
    };
    let read = usize::from(read) + 1;
    let mut decoder = FrameDecoder::new(MAX_FRAME, MAX_MESSAGE);
    let mut buf = BytesMut::new();
    for chunk in stream.chunks(read) {
        buf.extend_from_slice(chunk);
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => check(&frame),
                Ok(None) => break,
                Err(v) => {
                    assert!(matches!(v.code, 1002 | 1007 | 1009), "{v:?}");
                    return;
                }
            }
        }
        // An incomplete frame waits in the buffer: never more than one frame's worth.
        assert!(
            buf.len() <= MAX_FRAME + 14 + read,
            "{} bytes held",
            buf.len()
        );
    }
});

/// What the decoder hands on is within the limits and the protocol.
fn check(frame: &Frame) {
    match frame {
        Frame::Text(t) => assert!(t.len() <= MAX_MESSAGE),
        Frame::Binary(b) => assert!(b.len() <= MAX_MESSAGE),
        Frame::Ping(p) | Frame::Pong(p) => assert!(p.len() <= 125),
        Frame::Close(Some((code, reason))) => {
            assert!(
                matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999),
                "{code}"
            );
            assert!(reason.len() <= 123);
        }
        Frame::Close(None) => {}
    }
}
