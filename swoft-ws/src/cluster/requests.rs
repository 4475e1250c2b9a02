//! Requests to clients on other nodes ([`Broadcast::request`](crate::Broadcast::request)
//! across a cluster), over the query mechanism of `node.rs` (`ClusterNode::ask_with`): the
//! asking node publishes one question (`Question::Request`: the timeout, the target, the
//! exceptions, the command and the data); each node asks its own receivers (one request
//! number, one frame per parser) in a task of its own, and answers once with every result
//! (answer kind 2). The asker waits for the live nodes up to the timeout plus the cluster's
//! `query_timeout`.
//!
//! Also here: how a broadcast's exceptions are written and its target read (shared with
//! `K_BROADCAST`; the target is written by `node::put_target`).

use std::time::Duration;

use bytes::{BufMut, BytesMut};

use crate::cluster::node::{Answer, ClusterNode, Question, put_target};
use crate::cluster::packet::*;
use crate::runtime::ack::AckError;
use crate::runtime::broadcast::Broadcast;
use crate::runtime::fd::Fd;
use crate::runtime::remote::{ConnAddr, NodeId, WireTarget};
use crate::runtime::server::Server;

/// The answer kind that carries a node's request results.
pub(super) const A_ACKS: u8 = 2;

/// A target as read off the wire, with the exceptions on this node.
pub(super) struct TargetIn<'a> {
    tag: u8,
    name: &'a str,
    fds: Vec<Fd>,
    except: Vec<Fd>,
}

impl TargetIn<'_> {
    /// The broadcast to this node's receivers of the target.
    pub(super) fn local<'s>(&'s self, server: &'s Server) -> Broadcast<'s> {
        let b = match self.tag {
            0 => Broadcast::room(server, self.name),
            1 => Broadcast::all(server),
            2 => Broadcast::module(server, self.name),
            _ => Broadcast::fds(server, &self.fds),
        };
        b.local().except_all(self.except.iter().copied())
    }
}

/// Reads a target's exceptions on every node, from `r` at the start of the target (read
/// again by [`ClusterNode::read_target`]). `None` for none.
pub(super) fn read_except_all(r: &mut Reader<'_>) -> Option<std::sync::Arc<[ConnAddr]>> {
    match r.u8()? {
        0 | 2 => {
            r.str()?;
        }
        1 => {}
        3 => {
            let n = r.u32()? as usize;
            for _ in 0..n.min(r.0.len() / 4) {
                r.u32()?;
            }
        }
        _ => return None,
    }
    let n = r.u32()? as usize;
    let mut except = Vec::new();
    for _ in 0..n.min(r.0.len() / 8) {
        let node = r.str()?;
        let fd = r.u32()?;
        except.push(ConnAddr {
            node: NodeId::from_wire(node),
            fd: Fd::new(fd),
        });
    }
    (!except.is_empty()).then(|| except.into())
}

impl ClusterNode {
    /// Writes the exceptions on other nodes than this one (node, fd).
    pub(super) fn put_except(&self, b: &mut BytesMut, except: &[ConnAddr]) {
        let except: Vec<&ConnAddr> = except.iter().filter(|a| a.node != self.id).collect();
        b.put_u32(except.len() as u32);
        for a in except {
            put_str(b, a.node.as_str().as_bytes());
            b.put_u32(a.fd.get());
        }
    }

    /// Reads a target and its exceptions (keeping those on this node); `None` if malformed.
    pub(super) fn read_target<'a>(&self, r: &mut Reader<'a>) -> Option<TargetIn<'a>> {
        let tag = r.u8()?;
        let mut fds = Vec::new();
        let name = match tag {
            0 | 2 => r.str()?,
            1 => "",
            3 => {
                let n = r.u32()? as usize;
                for _ in 0..n.min(r.0.len() / 4) {
                    fds.push(Fd::new(r.u32()?));
                }
                ""
            }
            _ => return None,
        };
        let n = r.u32()? as usize;
        let mut except = Vec::new();
        for _ in 0..n.min(r.0.len() / 8) {
            let node = r.str()?;
            let fd = r.u32()?;
            if node == self.id.as_str() {
                except.push(Fd::new(fd));
            }
        }
        Some(TargetIn {
            tag,
            name,
            fds,
            except,
        })
    }

    /// Asks the receivers of `target` on the other live nodes (or on `to`), and gathers their
    /// answers (up to `timeout` plus the query timeout).
    pub(super) async fn request(
        &self,
        to: Option<&NodeId>,
        target: WireTarget<'_>,
        except: &[ConnAddr],
        command: &str,
        data: &str,
        timeout: Duration,
    ) -> Vec<(ConnAddr, Result<String, AckError>)> {
        let wait = timeout + self.query_timeout();
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let answers = self
            .ask_with(to, wait, |b| {
                b.put_u8(Question::Request as u8);
                b.put_u64(ms);
                put_target(b, target);
                self.put_except(b, except);
                put_str(b, command.as_bytes());
                put_str(b, data.as_bytes());
            })
            .await;
        let mut v = Vec::new();
        for (node, a) in answers {
            if let Answer::Acks(results) = a {
                v.extend(results.into_iter().map(|(fd, r)| {
                    let addr = ConnAddr {
                        node: node.clone(),
                        fd,
                    };
                    (addr, r)
                }));
            }
        }
        v
    }

    /// A request from `origin` (query `id`): this node's receivers are asked in a task of
    /// their own, which answers with all their results.
    pub(super) fn on_request(&self, origin: &NodeId, id: u64, mut r: Reader<'_>) -> Option<()> {
        let timeout = Duration::from_millis(r.u64()?);
        let target = self.read_target(&mut r)?;
        let command = r.str()?.to_owned();
        let data = r.str()?.to_owned();
        let server = self.server()?;
        let members = target.local(&server).local_receivers();
        let node = self.me.upgrade()?;
        let origin = origin.clone();
        tokio::spawn(async move {
            let results = crate::runtime::ack::request_all(members, &command, &data, timeout).await;
            let mut b = node.header(K_ANSWER, 16 + results.len() * 16);
            b.put_u64(id);
            b.put_u8(A_ACKS);
            put_acks(&mut b, &results);
            node.publish(Some(&origin), b);
        });
        Some(())
    }
}

/// Writes a node's results: their count, then per receiver its fd, an outcome tag and the
/// outcome's fields.
fn put_acks(b: &mut BytesMut, results: &[(Fd, Result<String, AckError>)]) {
    b.put_u32(results.len() as u32);
    for (fd, r) in results {
        b.put_u32(fd.get());
        match r {
            Ok(data) => {
                b.put_u8(0);
                put_str(b, data.as_bytes());
            }
            Err(AckError::Rejected { code, message }) => {
                b.put_u8(3);
                put_str(b, code.as_bytes());
                put_str(b, message.as_bytes());
            }
            Err(AckError::Decode(m)) => {
                b.put_u8(7);
                put_str(b, m.as_bytes());
            }
            Err(AckError::Encode(m)) => {
                b.put_u8(8);
                put_str(b, m.as_bytes());
            }
            Err(e) => b.put_u8(match e {
                AckError::Timeout => 1,
                AckError::TooManyPending => 4,
                AckError::Unsupported => 5,
                AckError::QueueFull => 6,
                _ => 2,
            }),
        }
    }
}

/// Reads what [`put_acks`] wrote; `None` if malformed.
pub(super) fn read_acks(r: &mut Reader<'_>) -> Option<Answer> {
    let n = r.u32()? as usize;
    let mut v = Vec::with_capacity(n.min(r.0.len() / 5));
    for _ in 0..n {
        let fd = Fd::new(r.u32()?);
        let result = match r.u8()? {
            0 => Ok(r.str()?.to_owned()),
            1 => Err(AckError::Timeout),
            2 => Err(AckError::Closed),
            3 => Err(AckError::Rejected {
                code: r.str()?.to_owned(),
                message: r.str()?.to_owned(),
            }),
            4 => Err(AckError::TooManyPending),
            5 => Err(AckError::Unsupported),
            6 => Err(AckError::QueueFull),
            7 => Err(AckError::Decode(r.str()?.to_owned())),
            8 => Err(AckError::Encode(r.str()?.to_owned())),
            _ => return None,
        };
        v.push((fd, result));
    }
    Some(Answer::Acks(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_survive_the_wire_and_a_cut_message_is_refused() {
        let results = vec![
            (Fd::new(1), Ok(r#"{"a":1}"#.to_owned())),
            (Fd::new(2), Err(AckError::Timeout)),
            (Fd::new(3), Err(AckError::Closed)),
            (
                Fd::new(4),
                Err(AckError::Rejected {
                    code: "busy".to_owned(),
                    message: "later".to_owned(),
                }),
            ),
            (Fd::new(5), Err(AckError::TooManyPending)),
            (Fd::new(6), Err(AckError::Unsupported)),
            (Fd::new(7), Err(AckError::QueueFull)),
            (Fd::new(8), Err(AckError::Decode("d".to_owned()))),
            (Fd::new(9), Err(AckError::Encode("e".to_owned()))),
        ];
        let mut b = BytesMut::new();
        put_acks(&mut b, &results);
        let Some(Answer::Acks(back)) = read_acks(&mut Reader(&b)) else {
            panic!("read back")
        };
        assert_eq!(back, results);
        for cut in 0..b.len() {
            assert!(read_acks(&mut Reader(&b[..cut])).is_none(), "cut at {cut}");
        }
        let mut bad = BytesMut::new();
        bad.put_u32(1);
        bad.put_u32(1);
        bad.put_u8(99);
        assert!(read_acks(&mut Reader(&bad)).is_none());
    }
}
