//! permessage-deflate settings (RFC 7692): what a module lets a client negotiate.

/// permessage-deflate (RFC 7692): whether a module negotiates per-message compression with
/// clients that offer it, and on what terms. Server-wide in [`Config::compression`](crate::Config::compression)
/// (off by default), per module with `#[ws_module(compression = deflate(...))]` or
/// [`ModuleLimits::compression`](crate::config::ModuleLimits::compression).
///
/// ```
/// use swoft_ws::config::Compression;
///
/// // Level 6, messages of 512 bytes and more; the rest as the defaults.
/// const DEFLATE: Compression = Compression::deflate().level(6).min_size(512);
/// ```
///
/// The defaults ([`Compression::deflate`]) keep memory low and let a broadcast be compressed
/// once: **no context takeover either way** (RFC 7692 §7.1.1), so no compressor or inflater
/// is kept per connection between messages, and a message compresses to the same bytes for
/// every member that agreed to the same window; level 1; windows of 15 bits; messages under
/// 256 bytes are sent uncompressed. With context takeover (`server_no_context_takeover(false)`)
/// each connection keeps its own compressor (about 370 KiB with a 15-bit window, measured
/// with zlib-rs: its window, hash chains and buffer) and every message, broadcasts included,
/// is compressed once per member; `client_no_context_takeover(false)` keeps an inflater per
/// connection (about 46 KiB) for clients that use theirs (RFC 7692 §7.1.1).
///
/// Values out of range are clamped: level to 0–9, window bits to 9–15 (zlib's raw deflate
/// has no 256-byte window, so a client asking the server for `server_max_window_bits=8` is
/// declined, RFC 7692 §7.1.2.1 lets it offer something else).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compression {
    /// Whether offers are accepted at all.
    pub enabled: bool,
    /// The deflate level, 0 (stored) to 9 (smallest); 1 by default.
    pub level: u8,
    /// Messages shorter than this many bytes go out uncompressed (RSV1 clear, RFC 7692 §6);
    /// 256 by default.
    pub min_size: usize,
    /// The server starts every message with an empty window (RFC 7692 §7.1.1.1); true by
    /// default. Required for a broadcast to be compressed once for all its members.
    pub server_no_context_takeover: bool,
    /// The client is asked to start every message with an empty window (RFC 7692
    /// §7.1.1.2); true by default, so no inflater is kept per connection between messages.
    pub client_no_context_takeover: bool,
    /// The largest window the server compresses with, 9–15 bits (RFC 7692 §7.1.2.1); 15 by
    /// default. A client may ask for less.
    pub server_max_window_bits: u8,
    /// The largest window the client is asked to compress with, 9–15 bits (RFC 7692
    /// §7.1.2.2), when its offer allows the server to say (`client_max_window_bits`); 15 by
    /// default.
    pub client_max_window_bits: u8,
}

impl Default for Compression {
    fn default() -> Self {
        Compression::OFF
    }
}

impl Compression {
    /// No compression: every offer is declined (the default).
    pub const OFF: Compression = Compression {
        enabled: false,
        ..Compression::deflate()
    };

    /// permessage-deflate with the defaults: level 1, messages from 256 bytes, no context
    /// takeover either way, 15-bit windows.
    pub const fn deflate() -> Self {
        Compression {
            enabled: true,
            level: 1,
            min_size: 256,
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }

    /// The deflate level (clamped to 0–9).
    pub const fn level(mut self, level: u8) -> Self {
        self.level = if level > 9 { 9 } else { level };
        self
    }

    /// Messages shorter than `bytes` go out uncompressed.
    pub const fn min_size(mut self, bytes: usize) -> Self {
        self.min_size = bytes;
        self
    }

    /// Whether the server starts every message with an empty window (true: a broadcast is
    /// compressed once; false: each connection keeps a compressor and its window).
    pub const fn server_no_context_takeover(mut self, yes: bool) -> Self {
        self.server_no_context_takeover = yes;
        self
    }

    /// Whether the client is asked to start every message with an empty window.
    pub const fn client_no_context_takeover(mut self, yes: bool) -> Self {
        self.client_no_context_takeover = yes;
        self
    }

    /// The largest window the server compresses with (clamped to 9–15 bits).
    pub const fn server_max_window_bits(mut self, bits: u8) -> Self {
        self.server_max_window_bits = clamp_bits(bits);
        self
    }

    /// The largest window the client is asked to use (clamped to 9–15 bits).
    pub const fn client_max_window_bits(mut self, bits: u8) -> Self {
        self.client_max_window_bits = clamp_bits(bits);
        self
    }

    /// The settings with every value in its range (fields set directly may be out of it).
    pub(crate) const fn clamped(self) -> Self {
        self.level(self.level)
            .server_max_window_bits(self.server_max_window_bits)
            .client_max_window_bits(self.client_max_window_bits)
    }
}

const fn clamp_bits(bits: u8) -> u8 {
    if bits < 9 {
        9
    } else if bits > 15 {
        15
    } else {
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_values_are_clamped() {
        assert!(!Compression::default().enabled);
        let c = Compression::deflate()
            .level(12)
            .server_max_window_bits(8)
            .client_max_window_bits(20);
        assert_eq!((c.level, c.server_max_window_bits), (9, 9));
        assert_eq!(c.client_max_window_bits, 15);
        let raw = Compression {
            level: 99,
            server_max_window_bits: 0,
            ..Compression::deflate()
        };
        assert_eq!(raw.clamped().level, 9);
        assert_eq!(raw.clamped().server_max_window_bits, 9);
    }
}
