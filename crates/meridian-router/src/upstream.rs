//! One connection from the router to a region: send a pipeline, read its
//! replies, and say exactly how far it got when something fails.

use bytes::{Bytes, BytesMut};
use meridian_resp::{parse_reply, Reply};
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Size of one read from a region, in bytes. Replies are parsed from the
/// start of the buffer each time more arrives, so large reads keep the
/// rescans of a big reply few.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// One reply: its exact bytes (forwarded as they came) and its value.
#[derive(Clone, Debug)]
pub struct Answer {
    pub raw: Bytes,
    pub reply: Reply,
}

/// Why an exchange stopped before every reply came.
#[derive(Clone, Debug)]
pub struct Failure {
    pub why: String,
    /// Not one byte of this exchange reached the socket: nothing in it
    /// can have been applied.
    pub sent_nothing: bool,
    /// The region said nothing wrong; it was only slow (the request
    /// timeout passed).
    pub timed_out: bool,
}

/// What an exchange got: the replies that came, in order, and the failure
/// that stopped it, if any.
#[derive(Debug)]
pub struct Exchange {
    pub answers: Vec<Answer>,
    pub failure: Option<Failure>,
}

/// A connection to one region's client port.
pub struct Upstream {
    pub region: usize,
    stream: TcpStream,
    rbuf: BytesMut,
    /// The connection's setup (HELLO, AUTH, ...) is still to be replayed.
    pub needs_setup: bool,
}

impl Upstream {
    /// Connects to `addr` within `timeout`.
    pub async fn connect(
        region: usize,
        addr: &str,
        timeout: Duration,
    ) -> Result<Upstream, Failure> {
        let failure = |why: String| Failure {
            why,
            sent_nothing: true,
            timed_out: false,
        };
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(failure(format!("connect to {addr}: {e}"))),
            Err(_) => {
                return Err(failure(format!(
                    "connect to {addr}: no answer in {timeout:?}"
                )))
            }
        };
        // Requests are small and latency is the point: no Nagle.
        let _ = stream.set_nodelay(true);
        Ok(Upstream {
            region,
            stream,
            rbuf: BytesMut::with_capacity(READ_CHUNK_BYTES),
            needs_setup: true,
        })
    }

    /// Writes `out` and reads `expect` replies, until `deadline` or until
    /// `abort` completes. Writing and reading run together, so a pipeline
    /// larger than the socket buffers cannot deadlock against a region
    /// that answers while it reads. After a failure the connection is in
    /// an unknown state and must be dropped.
    pub async fn exchange(
        &mut self,
        out: &[u8],
        expect: usize,
        deadline: Instant,
        abort: impl Future<Output = ()>,
    ) -> Exchange {
        let mut answers = Vec::with_capacity(expect);
        let mut written = 0usize;
        let result = {
            let (mut rd, mut wr) = self.stream.split();
            let rbuf = &mut self.rbuf;
            let answers = &mut answers;
            let written = &mut written;
            let write = async move {
                while *written < out.len() {
                    let n = wr
                        .write(&out[*written..])
                        .await
                        .map_err(|e| e.to_string())?;
                    if n == 0 {
                        return Err(io::Error::from(io::ErrorKind::WriteZero).to_string());
                    }
                    *written += n;
                }
                Ok::<(), String>(())
            };
            let read = async move {
                while answers.len() < expect {
                    match parse_reply(rbuf) {
                        Ok(Some((reply, used))) => {
                            let raw = rbuf.split_to(used).freeze();
                            answers.push(Answer { raw, reply });
                            continue;
                        }
                        Ok(None) => {}
                        Err(e) => return Err(format!("unparseable reply: {e}")),
                    }
                    rbuf.reserve(READ_CHUNK_BYTES);
                    match rd.read_buf(rbuf).await {
                        Ok(0) => return Err("connection closed by the region".to_string()),
                        Ok(_) => {}
                        Err(e) => return Err(e.to_string()),
                    }
                }
                Ok(())
            };
            let both = async move {
                tokio::try_join!(
                    async { write.await.map_err(|e| format!("write: {e}")) },
                    read
                )
                .map(|_| ())
            };
            tokio::select! {
                r = both => r.map_err(|e| (e, false)),
                _ = abort => Err(("the region was declared down".to_string(), false)),
                _ = tokio::time::sleep_until(deadline) => Err(("no answer within the request timeout".to_string(), true)),
            }
        };
        Exchange {
            answers,
            failure: result.err().map(|(why, timed_out)| Failure {
                why,
                sent_nothing: written == 0,
                timed_out,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A fake region: answers each request line-count with canned bytes,
    /// then does what `then` says.
    async fn fake(
        reply: &'static [u8],
        close_after: bool,
    ) -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            s.write_all(reply).await.unwrap();
            if !close_after {
                std::future::pending::<()>().await;
            }
        });
        (addr, h)
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    #[tokio::test]
    async fn reads_exactly_the_expected_replies() {
        let (addr, _h) = fake(b"+OK\r\n$2\r\nhi\r\n:5\r\n", false).await;
        let mut up = Upstream::connect(0, &addr, Duration::from_secs(1))
            .await
            .unwrap();
        let ex = up
            .exchange(b"PING\r\n", 2, soon(), std::future::pending())
            .await;
        assert!(ex.failure.is_none());
        assert_eq!(ex.answers.len(), 2);
        assert_eq!(&ex.answers[1].raw[..], b"$2\r\nhi\r\n");
        assert_eq!(ex.answers[1].reply, Reply::bulk(Bytes::from_static(b"hi")));
    }

    #[tokio::test]
    async fn a_close_midway_keeps_what_came() {
        let (addr, _h) = fake(b"+OK\r\n", true).await;
        let mut up = Upstream::connect(0, &addr, Duration::from_secs(1))
            .await
            .unwrap();
        let ex = up
            .exchange(b"PING\r\n", 3, soon(), std::future::pending())
            .await;
        assert_eq!(ex.answers.len(), 1);
        let f = ex.failure.unwrap();
        assert!(!f.sent_nothing);
        assert!(f.why.contains("closed"), "{}", f.why);
    }

    #[tokio::test]
    async fn timeout_and_abort() {
        let (addr, _h) = fake(b"", false).await;
        let mut up = Upstream::connect(0, &addr, Duration::from_secs(1))
            .await
            .unwrap();
        let ex = up
            .exchange(
                b"PING\r\n",
                1,
                Instant::now() + Duration::from_millis(20),
                std::future::pending(),
            )
            .await;
        let f = ex.failure.unwrap();
        assert!(f.why.contains("timeout") && f.timed_out);
        let ex = up.exchange(b"PING\r\n", 1, soon(), async {}).await;
        assert!(ex.failure.unwrap().why.contains("down"));
    }

    #[tokio::test]
    async fn refused_connect_sent_nothing() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let f = Upstream::connect(0, &addr, Duration::from_secs(1))
            .await
            .err()
            .unwrap();
        assert!(f.sent_nothing);
    }
}
