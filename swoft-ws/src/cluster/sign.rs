//! Signatures of the messages between nodes: with a shared secret
//! ([`ClusterSettings::secret`](super::ClusterSettings), feature `redis`), a node appends an
//! HMAC-SHA256 of each message it publishes — once per message, whatever the number of its
//! receivers — and checks it, in constant time, on each message it receives. What is rejected
//! here, and why, is [`Rejected`].

use bytes::BytesMut;

use crate::cluster::packet::{F_SIGNED, MAC_LEN};

/// Why a node dropped a message from the transport without acting on it: the `reason` of
/// `swoft_ws_cluster_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Rejected {
    /// Not this format (another version, garbage) or cut short.
    Malformed,
    /// This node has a secret; the message is not signed.
    Unsigned,
    /// The signature does not match: another secret, or the message was altered.
    BadSignature,
    /// Signed, but this node has no secret to check it with (the nodes disagree on the secret).
    NoSecret,
    /// From another process that uses this node's id.
    NodeIdCollision,
}

impl Rejected {
    /// Every reason, in the order of [`index`](Self::index).
    pub(super) const ALL: [Rejected; 5] = [
        Rejected::Malformed,
        Rejected::Unsigned,
        Rejected::BadSignature,
        Rejected::NoSecret,
        Rejected::NodeIdCollision,
    ];

    /// The metric's label.
    pub(super) fn label(self) -> &'static str {
        match self {
            Rejected::Malformed => "malformed",
            Rejected::Unsigned => "unsigned",
            Rejected::BadSignature => "bad_signature",
            Rejected::NoSecret => "no_secret",
            Rejected::NodeIdCollision => "node_id_collision",
        }
    }

    /// Its place in [`ALL`](Self::ALL), for per-reason counters.
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The keyed HMAC of a cluster's secret (its `Debug` shows nothing of it).
#[cfg(feature = "redis")]
#[derive(Clone)]
pub(crate) struct Secret {
    mac: hmac::Hmac<sha2::Sha256>,
    len: usize,
}

/// Without the feature `redis` there is no secret: this type has no value.
#[cfg(not(feature = "redis"))]
#[derive(Clone, Debug)]
pub(crate) enum Secret {}

#[cfg(feature = "redis")]
impl Secret {
    pub(crate) fn new(key: &[u8]) -> Self {
        use hmac::Mac;
        Secret {
            mac: hmac::Hmac::new_from_slice(key).expect("HMAC takes keys of any length"),
            len: key.len(),
        }
    }

    /// The secret's length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The HMAC-SHA256 of `msg`.
    fn tag(&self, msg: &[u8]) -> [u8; MAC_LEN] {
        use hmac::Mac;
        let mut mac = self.mac.clone();
        mac.update(msg);
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the HMAC-SHA256 of `msg`, compared in constant time: how much of a
    /// forged tag matches is not observable.
    fn verifies(&self, msg: &[u8], tag: &[u8]) -> bool {
        use hmac::Mac;
        let mut mac = self.mac.clone();
        mac.update(msg);
        mac.verify_slice(tag).is_ok()
    }
}

#[cfg(not(feature = "redis"))]
impl Secret {
    fn tag(&self, _: &[u8]) -> [u8; MAC_LEN] {
        match *self {}
    }

    fn verifies(&self, _: &[u8], _: &[u8]) -> bool {
        match *self {}
    }
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes, redacted)", self.len)
    }
}

/// Signs what a node publishes and checks what it receives; without a secret, signs nothing
/// and takes only unsigned messages.
pub(super) struct Signer {
    secret: Option<Secret>,
}

impl Signer {
    /// The signer of this secret (the cluster settings'), if any.
    pub(super) fn new(secret: Option<Secret>) -> Self {
        Signer { secret }
    }

    /// The head's flags for what this node publishes.
    pub(super) fn flags(&self) -> u8 {
        if self.secret.is_some() { F_SIGNED } else { 0 }
    }

    /// Appends the signature of `msg` (whose head has [`flags`](Self::flags)), if there is a
    /// secret.
    pub(super) fn sign(&self, msg: &mut BytesMut) {
        if let Some(s) = &self.secret {
            let tag = s.tag(msg);
            msg.extend_from_slice(&tag);
        }
    }

    /// Checks `msg` (whose head has `flags`) and returns it without its signature.
    pub(super) fn verify<'a>(&self, msg: &'a [u8], flags: u8) -> Result<&'a [u8], Rejected> {
        let signed = flags & F_SIGNED != 0;
        let Some(s) = &self.secret else {
            return if signed {
                Err(Rejected::NoSecret)
            } else {
                Ok(msg)
            };
        };
        if !signed {
            return Err(Rejected::Unsigned);
        }
        let Some(cut) = msg.len().checked_sub(MAC_LEN) else {
            return Err(Rejected::Malformed);
        };
        let (body, tag) = msg.split_at(cut);
        if s.verifies(body, tag) {
            Ok(body)
        } else {
            Err(Rejected::BadSignature)
        }
    }
}

#[cfg(test)]
#[cfg(feature = "redis")]
mod tests {
    use super::*;
    use crate::cluster::ClusterSettings;

    fn signer(secret: Option<&str>) -> Signer {
        Signer::new(secret.map(|s| Secret::new(s.as_bytes())))
    }

    fn signed_by(s: &Signer, body: &[u8]) -> BytesMut {
        let mut b = BytesMut::from(body);
        s.sign(&mut b);
        b
    }

    #[test]
    fn a_signed_message_verifies_only_under_the_same_secret_and_unaltered() {
        let one = signer(Some("0123456789abcdef-one"));
        let msg = signed_by(&one, b"hello");
        assert_eq!(msg.len(), 5 + MAC_LEN);
        assert_eq!(one.verify(&msg, F_SIGNED), Ok(&b"hello"[..]));
        let other = signer(Some("0123456789abcdef-two"));
        assert_eq!(other.verify(&msg, F_SIGNED), Err(Rejected::BadSignature));
        for i in 0..msg.len() {
            let mut bad = msg.clone();
            bad[i] ^= 1;
            assert_eq!(
                one.verify(&bad, F_SIGNED),
                Err(Rejected::BadSignature),
                "byte {i}"
            );
        }
        assert_eq!(
            one.verify(&msg[..MAC_LEN + 2], F_SIGNED),
            Err(Rejected::BadSignature)
        );
        assert_eq!(one.verify(&msg[..3], F_SIGNED), Err(Rejected::Malformed));
    }

    #[test]
    fn unsigned_and_unexpectedly_signed_messages_are_rejected() {
        let with = signer(Some("0123456789abcdef"));
        let without = signer(None);
        assert_eq!(with.flags(), F_SIGNED);
        assert_eq!(without.flags(), 0);
        assert_eq!(with.verify(b"hello", 0), Err(Rejected::Unsigned));
        assert_eq!(without.verify(b"hello", 0), Ok(&b"hello"[..]));
        let msg = signed_by(&with, b"hello");
        assert_eq!(without.verify(&msg, F_SIGNED), Err(Rejected::NoSecret));
        assert_eq!(
            signed_by(&without, b"hello"),
            &b"hello"[..],
            "no secret: no signature"
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        let settings = ClusterSettings::default().secret("hunter2-hunter2-hunter2");
        let shown = format!("{settings:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
}
