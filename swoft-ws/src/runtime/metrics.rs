//! Metrics, through the [`metrics`](https://docs.rs/metrics) facade: install any recorder (for
//! Prometheus, `metrics-exporter-prometheus`) **before building the app** and these series
//! appear. Handles are registered once at build time, so counting costs nothing on the message
//! path beyond the recorder's own atomic add — and nothing at all without a recorder.
//!
//! | series | kind | labels | what |
//! |---|---|---|---|
//! | `swoft_ws_connections` | gauge | `module` | live connections |
//! | `swoft_ws_handshakes_total` | counter | `module`, `outcome` (`accepted`, `rejected`, `failed`, `full`: no fd or over `max_connections`, `busy`: shutting down, `forbidden_origin`, `bad_request`: not a valid WebSocket handshake — 400, 405, 426, or 431: a request head over `max_handshake_head`) | handshakes |
//! | `swoft_ws_messages_in_total` | counter | `module`, `command` (`<unmapped>` for commands no handler maps) | messages received |
//! | `swoft_ws_messages_out_total` | counter | `module`, `command` (`<push>` for server pushes) | replies and pushes queued |
//! | `swoft_ws_error_replies_total` | counter | `module`, `code` | error replies sent |
//! | `swoft_ws_handler_seconds` | histogram | `module`, `command` | time from a frame's arrival to its reply |
//! | `swoft_ws_outbound_dropped_total` | counter | `module`, `reason` (`queue_full`: dropped under `DropNewest`; `disconnect`: not queued, and the connection closed under `Disconnect`) | frames not queued for slow consumers |
//! | `swoft_ws_limited_total` | counter | `module`, `limit` (`rate`, `rate_abuse`, `handler_timeout`, `idle`, `handshake_timeout`, `rooms`) | limits crossed: rate-limited messages, connections closed for abuse, handler timeouts, idle closes, joins past `max_rooms_per_connection`; handshake timeouts with `module` = `` |
//! | `swoft_ws_tls_handshake_failures_total` | counter | `reason` (`error`: not TLS, or a TLS alert or protocol error, e.g. a plain-HTTP client on the TLS port; `timeout`: not done within `handshake_timeout`) | TLS handshakes that failed (feature `tls`); the connection is dropped |
//! | `swoft_ws_deflate_offers_total` | counter | `module`, `outcome` (`accepted`: permessage-deflate agreed; `declined`: an offer declined as malformed or not allowed, RFC 7692 §5) | permessage-deflate offers, on modules with compression on |
//! | `swoft_ws_protocol_violations_total` | counter | `module`, `code` (`1002`, `1007`, `1009`) | connections closed for breaking RFC 6455 or RFC 7692 (a bad frame, invalid UTF-8 or compressed data, a message too big) |
//! | `swoft_ws_module_info` | gauge | `module`, `name` | 1 per module: its path (`module`, as in every other series) and its name (`#[ws_module(name = "chat")]`, else the type's name) |
//! | `swoft_ws_rooms` | gauge | | rooms that exist |
//! | `swoft_ws_requests_total` | counter | `module`, `outcome` (`ok`, `rejected`: the client's error answer, `timeout`, `closed`, `decode`: an answer that did not fit its type, `too_many_pending`, `unsupported`: a text protocol, `queue_full`, `encode`) | requests to clients ([`Connection::request`](crate::Connection::request)), by how they ended |
//! | `swoft_ws_resumes_total` | counter | `module`, `outcome` (`resumed`, `unknown`, `expired`, `evicted`, `malformed`: a token that is not 32 hex digits or an offset that is not plain decimal digits, answered `unknown`) | resumes of recovery modules' sessions |
//! | `swoft_ws_acks_ignored_total` | counter | `module`, `reason` (`malformed`: not a valid `$ack`; `unmatched`: no request waits for its number — a duplicate, a late answer, an unknown number) | `$ack` frames ignored |
//! | `swoft_ws_cluster_published_total` | counter | | messages published to the other nodes |
//! | `swoft_ws_cluster_received_total` | counter | | messages received from the other nodes |
//! | `swoft_ws_cluster_dropped_total` | counter | `reason` (`unavailable`: the store is down; `queue_full`: the publish queue is full; `no_subscriber`: fewer nodes listened than are live) | messages that could not be delivered to the other nodes |
//! | `swoft_ws_cluster_query_timeouts_total` | counter | | membership queries some live node did not answer in time |
//! | `swoft_ws_cluster_peers` | gauge | | other nodes this node considers live |
//! | `swoft_ws_cluster_reconnects_total` | counter | | times the cluster adapter lost its store and connected again |
//! | `swoft_ws_cluster_rejected_total` | counter | `reason` (`malformed`: not the format or cut short; `unsigned`: no signature, and this node has a secret; `bad_signature`: signed with another secret, or altered; `no_secret`: signed, and this node has no secret; `node_id_collision`: from another process using this node's id) | messages from the transport dropped without being acted on |
//! | `swoft_ws_cluster_node_id_collisions_total` | counter | | other processes heard using this node's id (each once) |
//!
//! The names are the contract (dashboards and alerts use them); this table is their reference.
//! The `module` label is the module's path (`/chat`, `/rooms/{id}` for a path with variables);
//! a module's name is not added to the other series (that would change their label sets) but
//! given once by `swoft_ws_module_info`, to join on `module` (the Prometheus "info" idiom).

use metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};

/// Live connections.
pub(crate) const CONNECTIONS: &str = "swoft_ws_connections";
/// Handshakes by outcome.
pub(crate) const HANDSHAKES: &str = "swoft_ws_handshakes_total";
/// Messages received.
pub(crate) const MESSAGES_IN: &str = "swoft_ws_messages_in_total";
/// Replies and pushes queued.
pub(crate) const MESSAGES_OUT: &str = "swoft_ws_messages_out_total";
/// Error replies by code.
pub(crate) const ERROR_REPLIES: &str = "swoft_ws_error_replies_total";
/// Handler latency.
pub(crate) const HANDLER_SECONDS: &str = "swoft_ws_handler_seconds";
/// Frames not queued because a receiver's queue was full.
pub(crate) const OUTBOUND_DROPPED: &str = "swoft_ws_outbound_dropped_total";
/// Limits crossed, by module and limit.
pub(crate) const LIMITED: &str = "swoft_ws_limited_total";
/// TLS handshakes that failed, by reason.
#[cfg(feature = "tls")]
pub(crate) const TLS_FAILED: &str = "swoft_ws_tls_handshake_failures_total";
/// permessage-deflate offers by outcome.
pub(crate) const DEFLATE_OFFERS: &str = "swoft_ws_deflate_offers_total";
/// Connections closed for a protocol violation, by close code.
pub(crate) const VIOLATIONS: &str = "swoft_ws_protocol_violations_total";
/// One series per module: its path and name.
pub(crate) const MODULE_INFO: &str = "swoft_ws_module_info";
/// Rooms that exist.
pub(crate) const ROOMS: &str = "swoft_ws_rooms";

/// Requests to clients, by outcome.
pub(crate) const REQUESTS: &str = "swoft_ws_requests_total";
/// `$ack` frames ignored, by reason.
pub(crate) const ACKS_IGNORED: &str = "swoft_ws_acks_ignored_total";

/// Counts a request to a client by its outcome (labels built here: requests are not the
/// message path).
pub(crate) fn request_outcome(path: &str, outcome: &'static str) {
    counter!(REQUESTS, "module" => path.to_owned(), "outcome" => outcome).increment(1);
}

/// Resumes by outcome.
pub(crate) const RESUMES: &str = "swoft_ws_resumes_total";

/// Counts a resume by its outcome.
pub(crate) fn resume(path: &str, outcome: &'static str) {
    counter!(RESUMES, "module" => path.to_owned(), "outcome" => outcome).increment(1);
}

/// Counts an ignored `$ack`.
pub(crate) fn ack_ignored(path: &str, reason: &'static str) {
    counter!(ACKS_IGNORED, "module" => path.to_owned(), "reason" => reason).increment(1);
}

/// The label value for messages no handler maps.
const UNMAPPED: &str = "<unmapped>";

/// A module's handles.
#[derive(Debug)]
pub(crate) struct ModuleMetrics {
    path: &'static str,
    pub(crate) connections: Gauge,
    pub(crate) accepted: Counter,
    pub(crate) rejected: Counter,
    pub(crate) failed: Counter,
    pub(crate) full: Counter,
    pub(crate) pushes_out: Counter,
    pub(crate) dropped_full: Counter,
    pub(crate) dropped_disconnect: Counter,
    pub(crate) rate_limited: Counter,
    pub(crate) timeouts: Counter,
    pub(crate) closed_idle: Counter,
    pub(crate) closed_abuse: Counter,
    pub(crate) rooms_limited: Counter,
    pub(crate) refused_origin: Counter,
    pub(crate) refused_busy: Counter,
    pub(crate) bad_request: Counter,
    pub(crate) deflate_accepted: Counter,
    pub(crate) deflate_declined: Counter,
    /// By close code: 1002, 1007, 1009.
    violations: [Counter; 3],
    pub(crate) unmapped: CommandMetrics,
}

/// One command's handles.
#[derive(Debug)]
pub(crate) struct CommandMetrics {
    pub(crate) messages_in: Counter,
    pub(crate) messages_out: Counter,
    pub(crate) latency: Histogram,
}

impl ModuleMetrics {
    pub(crate) fn new(path: &'static str, name: &'static str) -> Self {
        gauge!(MODULE_INFO, "module" => path, "name" => name).set(1.0);
        let hs =
            |outcome: &'static str| counter!(HANDSHAKES, "module" => path, "outcome" => outcome);
        ModuleMetrics {
            path,
            connections: gauge!(CONNECTIONS, "module" => path),
            accepted: hs("accepted"),
            rejected: hs("rejected"),
            failed: hs("failed"),
            full: hs("full"),
            pushes_out: counter!(MESSAGES_OUT, "module" => path, "command" => "<push>"),
            dropped_full: counter!(OUTBOUND_DROPPED, "module" => path, "reason" => "queue_full"),
            dropped_disconnect: counter!(OUTBOUND_DROPPED, "module" => path, "reason" => "disconnect"),
            rate_limited: counter!(LIMITED, "module" => path, "limit" => "rate"),
            timeouts: counter!(LIMITED, "module" => path, "limit" => "handler_timeout"),
            closed_idle: counter!(LIMITED, "module" => path, "limit" => "idle"),
            closed_abuse: counter!(LIMITED, "module" => path, "limit" => "rate_abuse"),
            rooms_limited: counter!(LIMITED, "module" => path, "limit" => "rooms"),
            refused_origin: hs("forbidden_origin"),
            refused_busy: hs("busy"),
            bad_request: hs("bad_request"),
            deflate_accepted: counter!(DEFLATE_OFFERS, "module" => path, "outcome" => "accepted"),
            deflate_declined: counter!(DEFLATE_OFFERS, "module" => path, "outcome" => "declined"),
            violations: ["1002", "1007", "1009"]
                .map(|code| counter!(VIOLATIONS, "module" => path, "code" => code)),
            unmapped: CommandMetrics::new(path, UNMAPPED),
        }
    }

    /// Counts a connection closed for a protocol violation with this close code.
    pub(crate) fn violation(&self, code: u16) {
        let i = match code {
            1007 => 1,
            1009 => 2,
            _ => 0,
        };
        if let Some(c) = self.violations.get(i) {
            c.increment(1);
        }
    }

    /// Counts an error reply (labels built here: the error path only).
    pub(crate) fn error_reply(&self, code: &str) {
        counter!(ERROR_REPLIES, "module" => self.path, "code" => code.to_owned()).increment(1);
    }
}

impl CommandMetrics {
    pub(crate) fn new(path: &'static str, command: &str) -> Self {
        let command = command.to_owned();
        CommandMetrics {
            messages_in: counter!(MESSAGES_IN, "module" => path, "command" => command.clone()),
            messages_out: counter!(MESSAGES_OUT, "module" => path, "command" => command.clone()),
            latency: histogram!(HANDLER_SECONDS, "module" => path, "command" => command),
        }
    }
}

/// The rooms gauge.
pub(crate) fn set_rooms(n: usize) {
    gauge!(ROOMS).set(n as f64);
}

// ---- the cluster's series ----

/// Messages that could not be delivered to the other nodes, by `reason` (`unavailable`: the
/// store is down; `queue_full`: the publish queue is full; `no_subscriber`: published, but
/// fewer nodes were listening than are live — e.g. one is re-subscribing after an outage, or
/// the addressed node is gone).
pub(crate) const CLUSTER_DROPPED: &str = "swoft_ws_cluster_dropped_total";
/// Messages published to the other nodes.
pub(crate) const CLUSTER_PUBLISHED: &str = "swoft_ws_cluster_published_total";
/// Messages received from the other nodes.
pub(crate) const CLUSTER_RECEIVED: &str = "swoft_ws_cluster_received_total";
/// Membership queries that some live node did not answer in time.
pub(crate) const CLUSTER_QUERY_TIMEOUTS: &str = "swoft_ws_cluster_query_timeouts_total";
/// Other nodes this node considers live.
pub(crate) const CLUSTER_PEERS: &str = "swoft_ws_cluster_peers";
/// Times the adapter lost its store and connected again.
pub(crate) const CLUSTER_RECONNECTS: &str = "swoft_ws_cluster_reconnects_total";

/// Messages from the transport dropped without being acted on, by `reason`.
pub(crate) const CLUSTER_REJECTED: &str = "swoft_ws_cluster_rejected_total";
/// Other processes heard using this node's id.
pub(crate) const CLUSTER_NODE_ID_COLLISIONS: &str = "swoft_ws_cluster_node_id_collisions_total";

/// The handle of `swoft_ws_cluster_rejected_total{reason}`.
pub(crate) fn cluster_rejected(reason: &'static str) -> Counter {
    counter!(CLUSTER_REJECTED, "reason" => reason)
}

/// Handles for the cluster's metrics, registered once.
pub(crate) struct ClusterMetrics {
    pub(crate) published: Counter,
    pub(crate) received: Counter,
    pub(crate) query_timeouts: Counter,
    pub(crate) peers: Gauge,
    pub(crate) reconnects: Counter,
    pub(crate) node_id_collisions: Counter,
}

impl ClusterMetrics {
    pub(crate) fn new() -> Self {
        ClusterMetrics {
            published: counter!(CLUSTER_PUBLISHED),
            received: counter!(CLUSTER_RECEIVED),
            query_timeouts: counter!(CLUSTER_QUERY_TIMEOUTS),
            peers: gauge!(CLUSTER_PEERS),
            reconnects: counter!(CLUSTER_RECONNECTS),
            node_id_collisions: counter!(CLUSTER_NODE_ID_COLLISIONS),
        }
    }
}
