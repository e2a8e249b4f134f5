//! Questions the demo asks a region server, over RESP with the `redis` crate.

use anyhow::{anyhow, bail, Context};
use redis::aio::MultiplexedConnection;
use redis::Value;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// Longest wait for one request or one connection to a region on loopback.
/// Generous: a 2-core machine running a whole world can stall for a while,
/// but a region that does not answer in this long is stuck, not slow.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens a connection to the region server at `addr`.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}/"))?;
    tokio::time::timeout(REQUEST_TIMEOUT, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| anyhow!("connecting to {addr} timed out"))?
        .with_context(|| format!("connect to {addr}"))
}

/// Runs `cmd` with [`REQUEST_TIMEOUT`].
pub async fn query<T: redis::FromRedisValue>(
    conn: &mut MultiplexedConnection,
    cmd: &redis::Cmd,
) -> anyhow::Result<T> {
    tokio::time::timeout(REQUEST_TIMEOUT, cmd.query_async(conn))
        .await
        .map_err(|_| anyhow!("no answer in {REQUEST_TIMEOUT:?}"))?
        .map_err(Into::into)
}

/// `INFO section` as text.
pub async fn info(conn: &mut MultiplexedConnection, section: &str) -> anyhow::Result<String> {
    query(conn, redis::cmd("INFO").arg(section)).await
}

/// The value of `field:value` in INFO text.
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
}

/// `(peer, link state)` from the `peer_<name>:link=<state>,...` lines of
/// INFO replication.
pub fn peer_links(info: &str) -> Vec<(String, String)> {
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("peer_")?.split_once(':')?;
            let state = rest.split(',').find_map(|kv| kv.strip_prefix("link="))?;
            Some((name.to_string(), state.trim().to_string()))
        })
        .collect()
}

/// `(peer, {field: value})` from the `peer_<name>:k=v,k=v,...` lines of
/// INFO replication (`link`, `ops_behind`, `lag_ms`, `lag_p99_ms`, ...).
pub fn peer_fields(info: &str) -> Vec<(String, BTreeMap<String, String>)> {
    info.lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("peer_")?.split_once(':')?;
            let fields = rest
                .split(',')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
            Some((name.to_string(), fields))
        })
        .collect()
}

/// `MERIDIAN.VV`: what the region has applied, per origin region.
pub async fn vv(conn: &mut MultiplexedConnection) -> anyhow::Result<Vec<(String, u64)>> {
    query(conn, &redis::cmd("MERIDIAN.VV")).await
}

/// `MERIDIAN.DIGEST`: equal in two regions exactly when their states are.
pub async fn digest(conn: &mut MultiplexedConnection) -> anyhow::Result<String> {
    query(conn, &redis::cmd("MERIDIAN.DIGEST")).await
}

/// `MERIDIAN.LAG RESET`.
pub async fn lag_reset(conn: &mut MultiplexedConnection) -> anyhow::Result<()> {
    query::<()>(conn, redis::cmd("MERIDIAN.LAG").arg("RESET")).await
}

/// Lag of one origin's ops applied in the region asked, in ms.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LagRow {
    pub origin: String,
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// `MERIDIAN.LAG`: one row per other origin region.
pub async fn lag(conn: &mut MultiplexedConnection) -> anyhow::Result<Vec<LagRow>> {
    let v: Value = query(conn, &redis::cmd("MERIDIAN.LAG")).await?;
    let Value::Array(rows) = v else {
        bail!("MERIDIAN.LAG: expected an array, got {v:?}");
    };
    rows.iter().map(lag_row).collect()
}

/// `[name, count, last_ms, p50_ms, p99_ms, max_ms]`.
fn lag_row(v: &Value) -> anyhow::Result<LagRow> {
    let bad = || anyhow!("MERIDIAN.LAG: malformed row {v:?}");
    let Value::Array(f) = v else {
        return Err(bad());
    };
    if f.len() != 6 {
        return Err(bad());
    }
    let origin: String = redis::from_redis_value(&f[0]).map_err(|_| bad())?;
    let num = |i: usize| number(&f[i]).ok_or_else(bad);
    Ok(LagRow {
        origin,
        count: num(1)? as u64,
        p50_ms: num(3)?,
        p99_ms: num(4)?,
        max_ms: num(5)?,
    })
}

/// A number sent as a RESP3 double, an integer, or (RESP2) a string.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Double(d) => Some(*d),
        Value::Int(i) => Some(*i as f64),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        Value::SimpleString(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "# Replication\r\nrole:active-active\r\nregion:eu-west\r\n\
        version_vector:eu-west=3,us-east=5\r\n\
        peer_us-east:link=connected,addr=127.0.0.1:1,ops_behind=0\r\n\
        peer_ap-southeast:link=connecting,addr=127.0.0.1:2\r\n";

    #[test]
    fn parses_info_replication() {
        assert_eq!(info_field(INFO, "region"), Some("eu-west"));
        assert_eq!(info_field(INFO, "regio"), None);
        assert_eq!(
            peer_links(INFO),
            [
                ("us-east".to_string(), "connected".to_string()),
                ("ap-southeast".to_string(), "connecting".to_string())
            ]
        );
        let peers = peer_fields(INFO);
        assert_eq!(peers[0].0, "us-east");
        assert_eq!(peers[0].1["ops_behind"], "0");
        assert_eq!(peers[1].1["link"], "connecting");
        assert!(!peers[1].1.contains_key("ops_behind"));
    }

    #[test]
    fn parses_lag_rows_in_either_protocol() {
        let s = |x: &str| Value::BulkString(x.as_bytes().to_vec());
        let row = Value::Array(vec![
            s("us-east"),
            Value::Int(10),
            s("38.5"),
            Value::Double(38.2),
            s("39.1"),
            Value::Double(40.0),
        ]);
        let r = lag_row(&row).unwrap();
        assert_eq!((r.origin.as_str(), r.count), ("us-east", 10));
        assert_eq!((r.p50_ms, r.p99_ms, r.max_ms), (38.2, 39.1, 40.0));
        assert!(lag_row(&Value::Array(vec![s("x")])).is_err());
    }
}
