//! LinkProxy behaviour over real loopback sockets.

mod common;

use std::time::Duration;

use common::{dial, echo_server, loopback0, random_bytes, sees_close, TestResult};
use meridian_wan::{LinkConfig, LinkProxy, LinkState, WanError, QUEUE_BYTES_MAX, READ_BUF_BYTES};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant};

/// Slack allowed above the configured round trip: tokio timers round up to
/// 1 ms per direction, the rest covers scheduling noise on shared CI.
const SLACK: Duration = Duration::from_millis(25);

async fn start(target: std::net::SocketAddr, ms: u64) -> Result<LinkProxy, WanError> {
    LinkProxy::start(
        loopback0(),
        target,
        LinkConfig::new(Duration::from_millis(ms)),
    )
    .await
}

/// Round trip of one small message.
async fn ping(s: &mut TcpStream, msg: &[u8]) -> Result<Duration, std::io::Error> {
    let mut back = vec![0u8; msg.len()];
    let t0 = Instant::now();
    s.write_all(msg).await?;
    s.read_exact(&mut back).await?;
    let rtt = t0.elapsed();
    assert_eq!(back, msg);
    Ok(rtt)
}

fn report(label: &str, base: Duration, mut rtts: Vec<Duration>) {
    rtts.sort();
    let added = |d: &Duration| d.saturating_sub(base).as_secs_f64() * 1e3;
    println!(
        "{label}: added beyond {base:?}: min {:.3} ms, median {:.3} ms, max {:.3} ms (n={})",
        added(&rtts[0]),
        added(&rtts[rtts.len() / 2]),
        added(&rtts[rtts.len() - 1]),
        rtts.len()
    );
    for r in &rtts {
        assert!(*r >= base, "{label}: rtt {r:?} below {base:?}");
        assert!(
            *r < base + SLACK,
            "{label}: rtt {r:?} above {base:?} + {SLACK:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_round_trip_is_twice_the_one_way_delay() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 30).await?;
    let mut s = dial(proxy.local_addr()).await?;
    let mut rtts = Vec::new();
    for i in 0..20u32 {
        rtts.push(ping(&mut s, &i.to_le_bytes().repeat(16)).await?);
    }
    report("sequential 30 ms", Duration::from_millis(60), rtts);

    // Delay is per chunk, not cumulative: a stream of messages sent 2 ms
    // apart each comes back ~60 ms after it was sent.
    let (mut rd, mut wr) = s.into_split();
    let n = 50usize;
    let sender = tokio::spawn(async move {
        let mut sent = Vec::with_capacity(n);
        for i in 0..n as u64 {
            sent.push(Instant::now());
            wr.write_all(&i.to_le_bytes()).await?;
            sleep(Duration::from_millis(2)).await;
        }
        Ok::<_, std::io::Error>((sent, wr))
    });
    let mut recv = Vec::with_capacity(n);
    let mut buf = [0u8; 8];
    for i in 0..n as u64 {
        rd.read_exact(&mut buf).await?;
        recv.push(Instant::now());
        assert_eq!(u64::from_le_bytes(buf), i);
    }
    let (sent, _wr) = sender.await??;
    let rtts = sent.iter().zip(&recv).map(|(s, r)| *r - *s).collect();
    report("pipelined 30 ms", Duration::from_millis(60), rtts);
    Ok(())
}

/// Sends `data` through `addr` (an echo path) while reading it back;
/// returns what came back and the elapsed time.
async fn echo_transfer(
    addr: std::net::SocketAddr,
    data: Vec<u8>,
) -> Result<(Vec<u8>, Vec<u8>, Duration), Box<dyn std::error::Error + Send + Sync>> {
    let s = dial(addr).await?;
    let (mut rd, mut wr) = s.into_split();
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        wr.write_all(&data).await?;
        wr.shutdown().await?;
        Ok::<_, std::io::Error>(data)
    });
    let mut back = Vec::new();
    rd.read_to_end(&mut back).await?;
    let elapsed = t0.elapsed();
    let data = writer.await??;
    Ok((data, back, elapsed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfer_is_byte_identical() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 30).await?;
    let (sent, back, elapsed) = echo_transfer(proxy.local_addr(), random_bytes(8 << 20, 7)).await?;
    assert_eq!(back.len(), sent.len());
    assert!(back == sent, "echoed bytes differ");
    let mb_s = 2.0 * sent.len() as f64 / 1e6 / elapsed.as_secs_f64();
    println!("8 MiB echo through 30 ms link: {elapsed:?} ({mb_s:.1} MB/s both ways)");
    assert!(elapsed >= Duration::from_millis(60));
    let st = proxy.stats();
    assert_eq!(st.bytes_to_target, sent.len() as u64);
    assert_eq!(st.bytes_to_client, sent.len() as u64);
    assert!(st.peak_in_flight_bytes <= QUEUE_BYTES_MAX as u64);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_delay_passes_data_and_eof_through() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 0).await?;
    let (sent, back, _) = echo_transfer(proxy.local_addr(), random_bytes(1 << 20, 3)).await?;
    assert!(back == sent, "echoed bytes differ");
    let mut s = dial(proxy.local_addr()).await?;
    let mut rtts = Vec::new();
    for _ in 0..20 {
        rtts.push(ping(&mut s, b"hello").await?);
    }
    report("zero delay", Duration::ZERO, rtts);
    let st = proxy.stats();
    assert_eq!(st.connections_accepted, 2);
    assert_eq!(st.bytes_to_target, (1 << 20) + 5 * 20);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn set_delay_applies_to_later_bytes() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 30).await?;
    let mut s = dial(proxy.local_addr()).await?;
    report(
        "before",
        Duration::from_millis(60),
        vec![ping(&mut s, b"a").await?],
    );
    proxy.set_delay(Duration::from_millis(5))?;
    assert_eq!(proxy.delay(), Duration::from_millis(5));
    report(
        "after",
        Duration::from_millis(10),
        vec![ping(&mut s, b"b").await?],
    );
    assert!(matches!(
        proxy.set_delay(Duration::from_secs(3600)),
        Err(WanError::Config(_))
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_drops_connections_until_heal() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 5).await?;
    let mut old = dial(proxy.local_addr()).await?;
    ping(&mut old, b"up").await?;
    assert_eq!(proxy.stats().connections_current, 1);

    proxy.cut();
    assert!(proxy.is_cut());
    assert_eq!(proxy.state(), LinkState::Cut);
    assert!(
        sees_close(&mut old, Duration::from_secs(2)).await,
        "old conn survived cut"
    );

    let mut fresh = dial(proxy.local_addr()).await?;
    let _ = fresh.write_all(b"anyone?").await;
    assert!(
        sees_close(&mut fresh, Duration::from_secs(2)).await,
        "new conn served while cut"
    );
    assert_eq!(proxy.stats().connections_current, 0);
    assert!(proxy.stats().connections_refused >= 1);

    proxy.heal();
    assert_eq!(proxy.state(), LinkState::Up);
    let mut healed = dial(proxy.local_addr()).await?;
    report(
        "healed",
        Duration::from_millis(10),
        vec![ping(&mut healed, b"back").await?],
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_consumer_bounds_in_flight_bytes() -> TestResult {
    const TOTAL: usize = 48 << 20;
    let listener = tokio::net::TcpListener::bind(loopback0()).await?;
    let target = listener.local_addr()?;
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    // The consumer accepts, reads nothing until told, then drains.
    let consumer = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await?;
        let _ = go_rx.await;
        let mut got = Vec::with_capacity(TOTAL);
        sock.read_to_end(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    });
    let proxy = start(target, 20).await?;
    let mut client = dial(proxy.local_addr()).await?;
    let producer = tokio::spawn(async move {
        client.write_all(&random_bytes(TOTAL, 11)).await?;
        client.shutdown().await?;
        Ok::<_, std::io::Error>(())
    });

    let bound = (QUEUE_BYTES_MAX + READ_BUF_BYTES) as u64;
    let mut max_seen = 0;
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        let st = proxy.stats();
        max_seen = max_seen.max(st.in_flight_to_target);
        assert!(st.in_flight_to_target <= bound, "{st:?}");
        sleep(Duration::from_millis(5)).await;
    }
    let peak = proxy.stats().peak_in_flight_bytes;
    println!("slow consumer: max in-flight seen {max_seen} B, peak {peak} B, bound {bound} B");
    assert!(peak <= bound, "peak {peak} above {bound}");
    // The queue really filled: the proxy stopped reading, not the kernel.
    assert!(
        peak >= (QUEUE_BYTES_MAX - READ_BUF_BYTES) as u64,
        "peak {peak}"
    );

    let _ = go_tx.send(());
    producer.await??;
    let got = consumer.await??;
    assert_eq!(got.len(), TOTAL);
    assert!(
        got == random_bytes(TOTAL, 11),
        "bytes differ after backpressure"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_listener_and_connections_without_leaking_tasks() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let metrics = tokio::runtime::Handle::current().metrics();
    let baseline = metrics.num_alive_tasks();
    let proxy = start(echo, 5).await?;
    let addr = proxy.local_addr();
    let mut conns = Vec::new();
    for _ in 0..3 {
        let mut s = dial(addr).await?;
        ping(&mut s, b"x").await?;
        conns.push(s);
    }
    assert!(metrics.num_alive_tasks() > baseline);
    proxy.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener still open"
    );
    for s in &mut conns {
        assert!(
            sees_close(s, Duration::from_secs(2)).await,
            "conn survived shutdown"
        );
    }
    // The echo server's per-connection tasks end once the proxy's upstream
    // sockets close; the proxy's own tasks are already gone.
    let until = Instant::now() + Duration::from_secs(2);
    while metrics.num_alive_tasks() > baseline && Instant::now() < until {
        sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(metrics.num_alive_tasks(), baseline, "tasks leaked");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_stops_the_proxy() -> TestResult {
    let (echo, _srv) = echo_server().await?;
    let proxy = start(echo, 0).await?;
    let addr = proxy.local_addr();
    let mut s = dial(addr).await?;
    ping(&mut s, b"x").await?;
    drop(proxy);
    assert!(sees_close(&mut s, Duration::from_secs(2)).await);
    let until = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < until, "listener still open after drop");
        sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test]
async fn unreachable_target_closes_client() -> TestResult {
    // Bind then drop to get a port that (almost surely) refuses.
    let dead = tokio::net::TcpListener::bind(loopback0())
        .await?
        .local_addr()?;
    let proxy = start(dead, 0).await?;
    let mut s = dial(proxy.local_addr()).await?;
    assert!(sees_close(&mut s, Duration::from_secs(2)).await);
    assert_eq!(proxy.stats().connections_current, 0);
    assert!(matches!(
        start(dead, meridian_wan::DELAY_MS_MAX + 1).await,
        Err(WanError::Config(_))
    ));
    Ok(())
}
