//! RFC 6455: frames, the upgrade, the socket and the outbound queue. Knows no modules.

pub(crate) mod codec;
pub(crate) mod outbound;
pub(crate) mod transport;
