//! Unit tests of the outbound queue (`super`): order, batching, partial writes, direct writes,
//! bounds, pongs.

use super::*;
use std::task::Waker;

fn text(s: &str) -> Message {
    Message::Text(s.into())
}

/// The wire bytes of an unmasked text frame.
fn wire_text(s: &str) -> Vec<u8> {
    let mut v = Head::new(codec::OP_TEXT, s.len()).as_slice().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

/// Drives `rx.poll_write` with a writer that takes at most `chunk` bytes per call; returns
/// what it stopped at, the bytes written and the number of write calls.
fn flush(rx: &OutboundRx, chunk: usize) -> (Poll<io::Result<()>>, Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut calls = 0;
    let mut cx = Context::from_waker(Waker::noop());
    let r = rx.poll_write(&mut cx, false, |_, bufs| {
        calls += 1;
        let mut n = 0;
        for b in bufs {
            let take = b.len().min(chunk - n);
            out.extend_from_slice(&b[..take]);
            n += take;
            if n == chunk {
                break;
            }
        }
        Ok(n)
    });
    (r, out, calls)
}

#[test]
fn queued_frames_go_out_in_order_in_one_vectored_write() {
    let (tx, rx) = queue(16, None, None);
    for s in ["a", "bb", "ccc"] {
        assert!(tx.try_send(text(s), usize::MAX, None).is_ok());
    }
    assert_eq!(tx.queued_bytes(), 6);
    let (r, out, calls) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    assert_eq!(
        out,
        [wire_text("a"), wire_text("bb"), wire_text("ccc")].concat()
    );
    assert_eq!(calls, 1);
    assert_eq!(tx.queued_bytes(), 0);
}

#[test]
fn a_partial_write_resumes_at_the_byte_where_it_stopped() {
    let (tx, rx) = queue(16, None, None);
    let long = "x".repeat(300);
    for s in ["hello", long.as_str(), "", "end"] {
        assert!(tx.try_send(text(s), usize::MAX, None).is_ok());
    }
    let (r, out, calls) = flush(&rx, 3);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    let want = [
        wire_text("hello"),
        wire_text(&long),
        wire_text(""),
        wire_text("end"),
    ]
    .concat();
    assert_eq!(out, want);
    assert_eq!(calls, want.len().div_ceil(3));
    assert_eq!(tx.queued_bytes(), 0);
}

#[test]
fn the_queue_is_bounded_in_frames_and_in_bytes_but_takes_one_large_frame_when_empty() {
    let (tx, rx) = queue(2, None, None);
    assert!(
        tx.try_send(text(&"x".repeat(100)), 10, None).is_ok(),
        "an empty queue takes it"
    );
    assert!(matches!(
        tx.try_send(text("y"), 10, None),
        Err(QueueError::Full)
    ));
    assert!(tx.try_send(text("y"), 1000, None).is_ok());
    assert!(
        matches!(tx.try_send(text("z"), 1000, None), Err(QueueError::Full)),
        "2 frames"
    );
    drop(rx);
    assert!(matches!(
        tx.try_send(text("z"), 1000, None),
        Err(QueueError::Closed)
    ));
    assert_eq!(tx.queued_bytes(), 0, "dropped with the receiver");
}

#[test]
fn clearing_keeps_a_frame_written_in_part_so_the_close_frame_never_follows_half_a_frame() {
    let (tx, rx) = queue(16, None, None);
    assert!(tx.try_send(text("abcdef"), usize::MAX, None).is_ok());
    assert!(tx.try_send(text("dropped"), usize::MAX, None).is_ok());
    let mut cx = Context::from_waker(Waker::noop());
    let mut first = true;
    let r = rx.poll_write(&mut cx, false, |_, _| {
        if std::mem::take(&mut first) {
            Ok(4)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        }
    });
    assert!(r.is_pending());
    tx.clear();
    assert_eq!(tx.queued_bytes(), 6);
    let (r, out, _) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    assert_eq!(out, wire_text("abcdef")[4..]);
}

#[tokio::test]
async fn senders_write_to_the_socket_directly_only_while_the_task_waits_with_nothing_queued() {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    server.writable().await.unwrap();
    let (tx, rx) = queue(16, Some(Arc::new(server)), None);
    let mut cx = Context::from_waker(Waker::noop());
    let write_nothing = |_: &mut Context<'_>, _: &[IoSlice<'_>]| -> io::Result<usize> {
        unreachable!("nothing is queued")
    };

    // Not open yet: queued.
    assert!(tx.try_send(text("queued"), usize::MAX, None).is_ok());
    assert_eq!(tx.queued_bytes(), 6);
    let (r, out, _) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    assert_eq!(out, wire_text("queued"));

    // Open: written by the sender, nothing queued.
    assert!(matches!(
        rx.poll_write(&mut cx, true, write_nothing),
        Poll::Ready(Ok(()))
    ));
    assert!(tx.try_send(text("direct"), usize::MAX, None).is_ok());
    assert_eq!(tx.queued_bytes(), 0);
    let mut got = vec![0; wire_text("direct").len()];
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        client.read_exact(&mut got),
    )
    .await
    .expect("the direct write arrives")
    .unwrap();
    assert_eq!(got, wire_text("direct"));

    // Busy again: queued.
    rx.shut_direct();
    assert!(tx.try_send(text("later"), usize::MAX, None).is_ok());
    assert_eq!(tx.queued_bytes(), 5);
}

fn wire_pong(p: &[u8]) -> Vec<u8> {
    let mut v = Head::new(codec::OP_PONG, p.len()).as_slice().to_vec();
    v.extend_from_slice(p);
    v
}

fn pong_of(i: u32) -> Bytes {
    Bytes::from(i.to_be_bytes().to_vec())
}

#[test]
fn every_ping_gets_its_pong_and_a_flood_keeps_a_bounded_number_with_the_latest_last() {
    let (tx, rx) = queue(4, None, None);
    assert!(tx.try_send(text("a"), usize::MAX, None).is_ok());
    for i in 0..10_000u32 {
        rx.push_pong(&pong_of(i));
    }
    assert_eq!(rx.0.lock().entries.len(), 1 + MAX_PONGS);
    // The queue still takes the app's replies: pongs do not count against its capacity.
    for s in ["b", "c", "d"] {
        assert!(tx.try_send(text(s), usize::MAX, None).is_ok());
    }
    let (r, out, _) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    let mut want = wire_text("a");
    for i in 0..15u32 {
        want.extend(wire_pong(&pong_of(i)));
    }
    want.extend(wire_pong(&pong_of(9_999)));
    for s in ["b", "c", "d"] {
        want.extend(wire_text(s));
    }
    assert_eq!(out, want);
    // Ten pings, ten pongs in order.
    for i in 0..10u32 {
        rx.push_pong(&pong_of(i));
    }
    let (_, out, _) = flush(&rx, usize::MAX);
    let want: Vec<u8> = (0..10u32).flat_map(|i| wire_pong(&pong_of(i))).collect();
    assert_eq!(out, want);
}

#[test]
fn a_pong_written_in_part_is_finished_and_never_replaced() {
    let (_tx, rx) = queue(4, None, None);
    rx.push_pong(b"first");
    // The socket takes 3 bytes, then nothing.
    let mut cx = Context::from_waker(Waker::noop());
    let mut out = Vec::new();
    let mut took = false;
    let r = rx.poll_write(&mut cx, false, |_, bufs| {
        if took {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        took = true;
        let all: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
        out.extend_from_slice(&all[..3]);
        Ok(3)
    });
    assert!(r.is_pending());
    for i in 1..=20u32 {
        rx.push_pong(&pong_of(i));
    }
    let (r, rest, _) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    out.extend(rest);
    let mut want = wire_pong(b"first");
    for i in 1..=14u32 {
        want.extend(wire_pong(&pong_of(i)));
    }
    want.extend(wire_pong(&pong_of(20)));
    assert_eq!(out, want);
}

/// A read buffer whose drop is seen.
struct ReadBuffer(Vec<u8>, Arc<std::sync::atomic::AtomicBool>);

impl AsRef<[u8]> for ReadBuffer {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ReadBuffer {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
    }
}

#[test]
fn small_payloads_that_stay_queued_on_a_full_socket_no_longer_pin_their_read_buffer() {
    let freed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let buffer = Bytes::from_owner(ReadBuffer(vec![b'x'; 4096], freed.clone()));
    let (tx, rx) = queue(1024, None, None);
    for i in 0..100 {
        let echo = buffer.slice(i * 4..i * 4 + 4);
        assert!(tx.try_send(Message::Binary(echo), usize::MAX, None).is_ok());
    }
    rx.push_pong(&buffer.slice(..8));
    drop(buffer);
    assert_eq!(tx.queued_bytes(), 400);
    assert!(
        !freed.load(Ordering::SeqCst),
        "queued slices hold the buffer"
    );
    // The client reads nothing: the socket is full.
    let mut cx = Context::from_waker(Waker::noop());
    let r = rx.poll_write(&mut cx, false, |_, _| Err(io::ErrorKind::WouldBlock.into()));
    assert!(r.is_pending());
    assert!(
        freed.load(Ordering::SeqCst),
        "the queued payloads were copied out: the 4 KiB read buffer is freed"
    );
    assert_eq!(tx.queued_bytes(), 400);
    let (r, out, _) = flush(&rx, usize::MAX);
    assert!(matches!(r, Poll::Ready(Ok(()))));
    assert_eq!(out.len(), 100 * (2 + 4) + 2 + 8);
    assert_eq!(tx.queued_bytes(), 0);
}
