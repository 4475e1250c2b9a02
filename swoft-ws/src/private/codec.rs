//! **Test hook: not API; may change or go away at any time** (feature `__codec`).
//!
//! The RFC 6455 frame decoder the connections use (`ws::codec::Decoder`), with plain types in
//! and out, for the differential test against tungstenite (`tests/tests/codec_diff/`) and
//! the fuzz target (`fuzz/fuzz_targets/decoder.rs`). Nothing else uses it.

use bytes::BytesMut;

use crate::ws::codec::{Decoder, Incoming};

/// What the decoder took off the buffer: a whole message (fragments reassembled) or a control
/// frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong and its payload.
    Pong(Vec<u8>),
    /// A close frame: its code and reason, `None` for an empty payload.
    Close(Option<(u16, String)>),
}

/// The client broke the protocol: the close code the server answers with, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Violation {
    /// 1002, 1007 or 1009.
    pub code: u16,
    /// The reason, as sent in the close frame.
    pub reason: &'static str,
}

/// A client-frame decoder with a connection's limits.
#[derive(Debug)]
pub struct FrameDecoder {
    inner: Decoder,
}

impl FrameDecoder {
    /// A decoder that refuses frames over `max_frame_size` and messages over
    /// `max_message_size` payload bytes (close 1009).
    pub fn new(max_frame_size: usize, max_message_size: usize) -> FrameDecoder {
        FrameDecoder {
            inner: Decoder::new(max_frame_size, max_message_size, None),
        }
    }

    /// The same decoder on a connection that agreed permessage-deflate (RFC 7692): messages
    /// whose first frame has RSV1 are inflated, the inflated size counted against
    /// `max_message_size`. `client_no_context_takeover`: the client starts each message with
    /// an empty window; `client_max_window_bits`: 8–15, the window the client compresses with.
    #[cfg(feature = "deflate")]
    pub fn with_deflate(
        max_frame_size: usize,
        max_message_size: usize,
        client_no_context_takeover: bool,
        client_max_window_bits: u8,
    ) -> FrameDecoder {
        let params = crate::ws::deflate::Params {
            level: 1,
            min_size: 0,
            server_no_context_takeover: true,
            client_no_context_takeover,
            server_max_window_bits: 15,
            client_max_window_bits,
        };
        let inflate = crate::ws::deflate::Inflate::new(&params);
        FrameDecoder {
            inner: Decoder::new(max_frame_size, max_message_size, Some(inflate)),
        }
    }

    /// Takes the next message or control frame off the front of `buf` (as a connection does
    /// after each read); `Ok(None)`: more bytes are needed.
    ///
    /// # Errors
    /// The [`Violation`] the connection would close with; the decoder is not to be used after.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Violation> {
        let frame = self.inner.decode(buf).map_err(|v| Violation {
            code: v.code,
            reason: v.reason,
        })?;
        Ok(frame.map(|f| match f {
            Incoming::Text(t) => Frame::Text(t.as_str().to_owned()),
            Incoming::Binary(b) => Frame::Binary(b.to_vec()),
            Incoming::Ping(b) => Frame::Ping(b.to_vec()),
            Incoming::Pong(b) => Frame::Pong(b.to_vec()),
            Incoming::Close(c) => Frame::Close(c.map(|(code, r)| (code, r.as_str().to_owned()))),
        }))
    }
}
