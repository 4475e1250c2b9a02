//! Malformed upgrade requests (RFC 6455 section 4.2.1, RFC 7230): 400, and the valid variants 101.

use super::*;

/// The key of RFC 6455 section 1.3's example, and a second valid one.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const KEY2: &str = "eHh4eHh4eHh4eHh4eHh4eA==";

/// A handshake for `/bad` on `host`: the request line, these header lines (`{host}` replaced),
/// and the blank line.
fn upgrade_request(host: &str, lines: &[&str]) -> Vec<u8> {
    let mut r = String::from("GET /bad HTTP/1.1\r\n");
    for l in lines {
        r.push_str(&l.replace("{host}", host));
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// The usual header lines of a valid handshake, with `key`, less those named in `without`
/// (by header name, case-insensitively), plus `extra`.
fn upgrade_lines(key: &str, without: &[&str], extra: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = [
        "Host: {host}".to_owned(),
        "Connection: Upgrade".to_owned(),
        "Upgrade: websocket".to_owned(),
        "Sec-WebSocket-Version: 13".to_owned(),
        format!("Sec-WebSocket-Key: {key}"),
    ]
    .into_iter()
    .filter(|l| {
        let name = l.split(':').next().unwrap_or_default();
        !without.iter().any(|w| w.eq_ignore_ascii_case(name))
    })
    .collect();
    lines.extend(extra.iter().cloned());
    lines
}

/// The status of the answer to `bytes` written on a fresh TCP connection (read with a timeout).
async fn status_of(server: &TestServer, bytes: &[u8]) -> Result<u16, String> {
    let got = first_line(server, bytes, WAIT).await?;
    if got.is_empty() {
        return Err("closed without an answer".to_owned());
    }
    http_status(&got)
        .ok_or_else(|| format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&got)))
}

/// RFC 6455 section 4.2.1 and RFC 7230, one row per input: the request's header lines
/// (`{host}` is the server's address) and the status it must get. Every MUST: a header that
/// appears once is refused when repeated or malformed; the list headers are read as lists
/// over all their lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_malformed_upgrade_request_gets_400_and_the_valid_variants_get_101() {
    swoft_ws_tests::init_tracing();
    let app = App::builder().module::<BadModule>().build().unwrap();
    let server = TestServer::start(app).await;
    let host = server.addr().to_string();
    let none: &[String] = &[];
    let with = |extra: &[&str]| extra.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let key = |k: &str| upgrade_lines(k, &[], none);
    let long_key = "A".repeat(8 << 10);
    let rows: Vec<(&str, Vec<String>, u16)> = vec![
        ("the valid request", key(KEY), 101),
        // Sec-WebSocket-Key: base64 of exactly 16 bytes, once.
        ("key `x`", key("x"), 400),
        ("empty key", key(""), 400),
        (
            "key: base64 of 20 bytes",
            key("AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            400,
        ),
        (
            "key: 24 characters, not base64",
            key("!!!!!!!!!!!!!!!!!!!!!!!!"),
            400,
        ),
        (
            "key: 16 bytes without padding",
            key("dGhlIHNhbXBsZSBub25jZQ"),
            400,
        ),
        ("key: 8 KiB", key(&long_key), 400),
        (
            "two keys",
            upgrade_lines(KEY, &[], &with(&[&format!("Sec-WebSocket-Key: {KEY2}")])),
            400,
        ),
        // Host: once, host[:port].
        ("no Host", upgrade_lines(KEY, &["host"], none), 400),
        (
            "two Hosts",
            upgrade_lines(KEY, &[], &with(&["Host: {host}"])),
            400,
        ),
        (
            "Host `a b c`",
            upgrade_lines(KEY, &["host"], &with(&["Host: a b c"])),
            400,
        ),
        (
            "Host with a port that is not one",
            upgrade_lines(KEY, &["host"], &with(&["Host: 127.0.0.1:notaport"])),
            400,
        ),
        (
            "a second Host to pass the same-origin check",
            upgrade_lines(
                KEY,
                &["host"],
                &with(&[
                    "Host: evil.example",
                    "Host: {host}",
                    "Origin: http://evil.example",
                ]),
            ),
            400,
        ),
        // Origin: once, a serialized origin; checked against the one Host.
        (
            "own Origin",
            upgrade_lines(KEY, &[], &with(&["Origin: http://{host}"])),
            101,
        ),
        (
            "other Origin",
            upgrade_lines(KEY, &[], &with(&["Origin: http://evil.example"])),
            403,
        ),
        (
            "two Origins",
            upgrade_lines(
                KEY,
                &[],
                &with(&["Origin: http://{host}", "Origin: http://{host}"]),
            ),
            400,
        ),
        (
            "Origin that is not one",
            upgrade_lines(KEY, &[], &with(&["Origin: {host}"])),
            400,
        ),
        // Sec-WebSocket-Version and Upgrade: once.
        (
            "two versions",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Version: 13"])),
            400,
        ),
        (
            "version 8",
            upgrade_lines(
                KEY,
                &["sec-websocket-version"],
                &with(&["Sec-WebSocket-Version: 8"]),
            ),
            426,
        ),
        (
            "two Upgrade lines",
            upgrade_lines(KEY, &[], &with(&["Upgrade: websocket"])),
            400,
        ),
        (
            "Upgrade: WebSocket",
            upgrade_lines(KEY, &["upgrade"], &with(&["Upgrade: WebSocket"])),
            101,
        ),
        (
            "Upgrade: h2c",
            upgrade_lines(KEY, &["upgrade"], &with(&["Upgrade: h2c"])),
            400,
        ),
        // List headers: lists over all their lines, case-insensitive, spaces allowed.
        (
            "Connection over two lines",
            upgrade_lines(
                KEY,
                &["connection"],
                &with(&["Connection: keep-alive", "Connection: UPGRADE"]),
            ),
            101,
        ),
        (
            "Connection with spaces and empty elements",
            upgrade_lines(
                KEY,
                &["connection"],
                &with(&["Connection: ,keep-alive ,  upgrade ,"]),
            ),
            101,
        ),
        (
            "Connection without upgrade",
            upgrade_lines(KEY, &["connection"], &with(&["Connection: keep-alive"])),
            400,
        ),
        (
            "Connection that is not a list of tokens",
            upgrade_lines(KEY, &[], &with(&["Connection: up grade"])),
            400,
        ),
        (
            "protocols over two lines",
            upgrade_lines(
                KEY,
                &[],
                &with(&[
                    "Sec-WebSocket-Protocol: chat, v1",
                    "Sec-WebSocket-Protocol: v2",
                ]),
            ),
            101,
        ),
        (
            "a protocol that is not a token",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Protocol: a b"])),
            400,
        ),
        (
            "extensions with parameters",
            upgrade_lines(
                KEY,
                &[],
                &with(&[
                    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x; y=\"1,2\"",
                ]),
            ),
            101,
        ),
        // A malformed extension offer is declined, never refused (RFC 7692 section 5; the
        // answers are in compression.rs).
        (
            "an extension that is not one",
            upgrade_lines(KEY, &[], &with(&["Sec-WebSocket-Extensions: ; x"])),
            101,
        ),
    ];
    let mut failures = Vec::new();
    for (name, lines, want) in &rows {
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        match status_of(&server, &upgrade_request(&host, &lines)).await {
            Ok(got) if got == *want => {}
            Ok(got) => failures.push(format!("{name}: expected {want}, got {got}")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "rows failed:\n{}", failures.join("\n"));
    server.wait_idle().await;
}
