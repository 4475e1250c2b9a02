//! The inter-node message format: a version, flags, a kind, the origin node and its instance
//! tag, then the kind's fields (u32-length-prefixed strings, big-endian integers), then — when
//! the flags say it is signed — a 32-byte HMAC-SHA256 of everything before it
//! ([`sign`](super::sign)). Read by [`Reader`], which fails on anything short or malformed
//! instead of panicking.

use crate::ws::{Message, WireText};
use bytes::{Buf, BufMut, Bytes, BytesMut};

/// The format's version (1: no flags, no instance tag; never read by this one).
pub(super) const VERSION: u8 = 2;
/// Flags: the message ends with a [`MAC_LEN`]-byte signature.
pub(super) const F_SIGNED: u8 = 1;
/// The length of a signature: HMAC-SHA256.
pub(super) const MAC_LEN: usize = 32;

// Message kinds on the wire.
pub(super) const K_HEARTBEAT: u8 = 1;
pub(super) const K_GOODBYE: u8 = 2;
pub(super) const K_BROADCAST: u8 = 3;
pub(super) const K_DISCONNECT: u8 = 4;
pub(super) const K_QUERY: u8 = 5;
pub(super) const K_ANSWER: u8 = 6;

pub(super) const P_PUSH: u8 = 0;
pub(super) const P_TEXT: u8 = 1;
pub(super) const P_BINARY: u8 = 2;

pub(super) fn put_str(b: &mut BytesMut, s: &[u8]) {
    b.put_u32(s.len() as u32);
    b.put_slice(s);
}

/// A reader of the wire format that fails (None) on anything short or malformed.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn u8(&mut self) -> Option<u8> {
        (self.0.remaining() >= 1).then(|| self.0.get_u8())
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        (self.0.remaining() >= 2).then(|| self.0.get_u16())
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        (self.0.remaining() >= 4).then(|| self.0.get_u32())
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        (self.0.remaining() >= 8).then(|| self.0.get_u64())
    }
    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    pub(super) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
}

/// What every message starts with.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub(super) flags: u8,
    pub(super) kind: u8,
    /// The node id of the sender.
    pub(super) origin: &'a str,
    /// The sending process's random tag ([`ClusterNode`](super::node::ClusterNode)'s instance):
    /// two processes with one node id tell themselves apart by it.
    pub(super) instance: u64,
    /// Where the kind's fields start.
    pub(super) len: usize,
}

impl<'a> Head<'a> {
    /// Reads the head of `msg`: None if it is not this version or is cut short.
    pub(super) fn read(msg: &'a [u8]) -> Option<Head<'a>> {
        let mut r = Reader(msg);
        if r.u8()? != VERSION {
            return None;
        }
        let (flags, kind, origin, instance) = (r.u8()?, r.u8()?, r.str()?, r.u64()?);
        Some(Head {
            flags,
            kind,
            origin,
            instance,
            len: msg.len() - r.0.len(),
        })
    }

    /// Writes a head; the flags say whether the message will be signed.
    pub(super) fn put(b: &mut BytesMut, flags: u8, kind: u8, origin: &str, instance: u64) {
        b.put_u8(VERSION);
        b.put_u8(flags);
        b.put_u8(kind);
        put_str(b, origin.as_bytes());
        b.put_u64(instance);
    }
}

pub(super) fn put_frame(b: &mut BytesMut, m: &Message) {
    match m {
        Message::Text(t) => {
            b.put_u8(P_TEXT);
            put_str(b, t.as_bytes());
        }
        Message::Binary(x) => {
            b.put_u8(P_BINARY);
            put_str(b, x);
        }
        _ => {
            b.put_u8(P_BINARY);
            put_str(b, &[]);
        }
    }
}

pub(super) fn get_frame(kind: u8, bytes: &[u8]) -> Option<Message> {
    match kind {
        P_TEXT => Some(Message::Text(WireText::from(
            std::str::from_utf8(bytes).ok()?,
        ))),
        P_BINARY => Some(Message::Binary(Bytes::copy_from_slice(bytes))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};

    #[test]
    fn the_reader_fails_on_anything_short() {
        let mut b = BytesMut::new();
        b.put_u8(7);
        put_str(&mut b, b"abc");
        b.put_u64(9);
        let full = b.freeze();
        let mut r = Reader(&full);
        assert_eq!(
            (r.u8(), r.str(), r.u64(), r.u8()),
            (Some(7), Some("abc"), Some(9), None)
        );
        for cut in 0..full.len() {
            let mut r = Reader(&full[..cut]);
            let parsed = (|| Some((r.u8()?, r.str()?, r.u64()?)))();
            assert!(parsed.is_none(), "cut at {cut}");
        }
        // A length larger than what is left.
        let mut r = Reader(&[0, 0, 1, 0, b'a']);
        assert_eq!(r.bytes(), None);
    }

    #[test]
    fn a_head_reads_back_and_fails_when_cut_or_of_another_version() {
        let mut b = BytesMut::new();
        Head::put(&mut b, F_SIGNED, K_QUERY, "node-1", 0xfeed);
        let n = b.len();
        b.put_u8(9);
        assert_eq!(
            Head::read(&b),
            Some(Head {
                flags: F_SIGNED,
                kind: K_QUERY,
                origin: "node-1",
                instance: 0xfeed,
                len: n,
            })
        );
        for cut in 0..n {
            assert_eq!(Head::read(&b[..cut]), None, "cut at {cut}");
        }
        b[0] = 1;
        assert_eq!(Head::read(&b), None, "version 1");
    }
}
