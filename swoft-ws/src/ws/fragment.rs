//! Reassembly of fragmented messages: the data frames of one message, copied into a buffer
//! that exists only while the message is in progress (the layer over the frame decoder, as in
//! fastwebsockets' `fragment.rs`). Text is validated as it arrives: a character split between
//! two fragments is carried over (at most 3 bytes), so invalid UTF-8 is refused at the
//! fragment that contains it, and each byte is validated once.

use crate::ws::WireText;
use bytes::BytesMut;

use crate::ws::frame::{INVALID_UTF8, Incoming, Violation};

/// A fragmented message being reassembled.
#[derive(Debug)]
pub(crate) enum Assembly {
    /// Text, validated as it arrives.
    Text(TextAssembly),
    /// Binary data.
    Binary(BytesMut),
}

/// Fragmented text: the validated part, and the start of a character whose remaining bytes are
/// expected in the next fragment.
#[derive(Debug, Default)]
pub(crate) struct TextAssembly {
    /// Everything received so far except `pending`: valid UTF-8.
    text: String,
    /// An incomplete (but so far valid) UTF-8 sequence at the end of the data received.
    pending: [u8; 4],
    /// How many bytes of `pending` are used (0 to 3).
    pending_len: u8,
}

impl Assembly {
    /// The reassembly of a text message whose first fragment holds `len` bytes.
    pub(crate) fn text(len: usize) -> Self {
        Assembly::Text(TextAssembly {
            text: String::with_capacity(len),
            ..TextAssembly::default()
        })
    }

    /// The reassembly of a binary message whose first fragment holds `len` bytes.
    pub(crate) fn binary(len: usize) -> Self {
        Assembly::Binary(BytesMut::with_capacity(len))
    }

    /// The payload bytes received so far.
    pub(crate) fn len(&self) -> usize {
        match self {
            Assembly::Text(text) => text.text.len() + usize::from(text.pending_len),
            Assembly::Binary(data) => data.len(),
        }
    }

    /// Adds the payload of one fragment.
    pub(crate) fn push(&mut self, payload: &[u8]) -> Result<(), Violation> {
        match self {
            Assembly::Text(text) => text.push(payload),
            Assembly::Binary(data) => {
                data.extend_from_slice(payload);
                Ok(())
            }
        }
    }

    /// The whole message, after its last fragment.
    pub(crate) fn finish(self) -> Result<Incoming, Violation> {
        match self {
            Assembly::Text(TextAssembly {
                pending_len: 1.., ..
            }) => Err(INVALID_UTF8),
            Assembly::Text(TextAssembly { text, .. }) => Ok(Incoming::Text(WireText::from(text))),
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
