//! The retry rule at the router's boundary, against fake regions: when
//! the region dies holding a batch, reads and idempotent writes are served
//! by the next region, and a non-idempotent write gets an error saying it
//! may or may not have been applied.
//!
//! A fake region answers GET with its own name, so the test sees who
//! served each read.

use bytes::{Bytes, BytesMut};
use meridian_resp::{encode, parse_request_bytes, Protocol, Reply};
use meridian_router::{Policy, RouterArgs};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A fake region.
struct Fake {
    addr: SocketAddr,
    name: &'static str,
    /// When set, the region dies on the next client command: it closes
    /// that connection without a reply (it died holding the batch), and
    /// from then on every connection, probes included.
    dying: Arc<AtomicBool>,
    /// Client commands (not probes) it received.
    commands: Arc<AtomicU64>,
}

async fn fake(name: &'static str) -> Fake {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let dying = Arc::new(AtomicBool::new(false));
    let dead = Arc::new(AtomicBool::new(false));
    let commands = Arc::new(AtomicU64::new(0));
    let (d, c) = (dying.clone(), commands.clone());
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            if dead.load(Ordering::SeqCst) {
                drop(s);
                continue;
            }
            let state = State {
                dying: d.clone(),
                dead: dead.clone(),
                commands: c.clone(),
            };
            tokio::spawn(serve(s, name, state));
        }
    });
    Fake {
        addr,
        name,
        dying,
        commands,
    }
}

struct State {
    dying: Arc<AtomicBool>,
    dead: Arc<AtomicBool>,
    commands: Arc<AtomicU64>,
}

async fn serve(mut s: TcpStream, name: &'static str, st: State) {
    let mut buf = BytesMut::new();
    loop {
        if s.read_buf(&mut buf).await.unwrap_or(0) == 0 {
            return;
        }
        let mut out = BytesMut::new();
        while let Ok(Some(req)) = parse_request_bytes(&mut buf) {
            let cmd = String::from_utf8_lossy(&req.args[0]).to_ascii_uppercase();
            let probe = cmd == "MERIDIAN.SESSION";
            if !probe {
                st.commands.fetch_add(1, Ordering::SeqCst);
                if st.dying.load(Ordering::SeqCst) {
                    st.dead.store(true, Ordering::SeqCst);
                }
            }
            if st.dead.load(Ordering::SeqCst) {
                return; // died holding the batch
            }
            let reply = match cmd.as_str() {
                "MERIDIAN.SESSION" => Reply::bulk(Bytes::from_static(b"v1:")),
                "GET" => Reply::bulk(Bytes::from(name)),
                "INCR" => Reply::integer(1),
                _ => Reply::ok(),
            };
            encode(&reply, Protocol::Resp2, &mut out);
        }
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn resp(args: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    v
}

async fn replies(s: &mut TcpStream, n: usize) -> Vec<Reply> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    while out.len() < n {
        if let Some((r, used)) = meridian_resp::parse_reply(&buf).unwrap() {
            buf.drain(..used);
            out.push(r);
            continue;
        }
        let mut chunk = [0u8; 4096];
        let k = tokio::time::timeout(Duration::from_secs(10), s.read(&mut chunk))
            .await
            .expect("reply in time")
            .unwrap();
        assert!(k > 0, "router closed the connection");
        buf.extend_from_slice(&chunk[..k]);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dying_region_s_batch_is_retried_by_the_rule() {
    let near = fake("near").await;
    let far = fake("far").await;
    let args = RouterArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        regions: vec![
            (near.name.into(), near.addr.to_string()),
            (far.name.into(), far.addr.to_string()),
        ],
        near: None,
        rtt: vec![("far".into(), 10.0)],
        session: Policy::Strict,
        session_wait_ms: 100,
        request_timeout_ms: 1000,
        metrics: None,
    };
    let router = meridian_router::start(args.config().unwrap())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while router.snapshot().primary.as_deref() != Some("near")
        || router.snapshot().regions.iter().any(|r| r.health != "up")
    {
        assert!(tokio::time::Instant::now() < deadline, "{}", router.info());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut c = TcpStream::connect(router.addr()).await.unwrap();
    c.write_all(&resp(&["GET", "k"])).await.unwrap();
    assert_eq!(
        replies(&mut c, 1).await,
        [Reply::bulk(Bytes::from_static(b"near"))]
    );

    near.dying.store(true, Ordering::SeqCst);
    let batch = [
        resp(&["GET", "k"]),
        resp(&["SET", "k", "v"]),
        resp(&["INCR", "n"]),
        resp(&["SET", "k", "v", "NX"]),
        resp(&["DEL", "k"]),
        resp(&["GET", "k"]),
    ]
    .concat();
    c.write_all(&batch).await.unwrap();
    let got = replies(&mut c, 6).await;
    let far_name = Reply::bulk(Bytes::from_static(b"far"));
    assert_eq!(got[0], far_name, "the read is served by far");
    assert_eq!(got[1], Reply::ok(), "SET is idempotent: retried");
    for i in [2, 3] {
        let Reply::Error(e) = &got[i] else {
            panic!("reply {i}: {:?}", got[i])
        };
        assert!(e.contains("may or may not have been applied"), "{e}");
    }
    assert_eq!(got[4], Reply::ok(), "DEL is idempotent: retried");
    assert_eq!(got[5], far_name);
    assert!(far.commands.load(Ordering::SeqCst) >= 4);

    // The failed batch woke the prober, whose probes now fail too.
    while router.snapshot().primary.as_deref() != Some("far") {
        assert!(tokio::time::Instant::now() < deadline, "{}", router.info());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let s = router.snapshot();
    assert_eq!(
        (s.reads_retried, s.writes_retried, s.writes_unknown),
        (2, 2, 2)
    );
    assert_eq!(s.failovers, 1);
    // The next batch goes straight to far.
    c.write_all(&resp(&["GET", "k"])).await.unwrap();
    assert_eq!(replies(&mut c, 1).await, [far_name]);
}
