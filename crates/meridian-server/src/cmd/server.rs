//! Server commands.
//!
//! ```text
//! INFO [section ...]      $text: server, clients, memory, persistence, stats,
//!                         replication, keyspace
//! COMMAND                 array describing every command
//! COMMAND COUNT | LIST | INFO name ... | DOCS [name ...]
//! ```

use super::table::{Spec, COMMANDS};
use super::{CmdResult, Ctx};
use crate::shared::{now_ms, LinkState};
use bytes::Bytes;
use meridian_resp::{CommandError, Reply};
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

fn describe(s: &Spec) -> Reply {
    Reply::Array(vec![
        Reply::bulk(s.name),
        Reply::integer(s.arity as i64),
        Reply::Set(s.flags.iter().map(|f| Reply::simple(*f)).collect()),
        Reply::integer(s.first_key as i64),
        Reply::integer(s.last_key as i64),
        Reply::integer(s.step as i64),
    ])
}

pub fn command(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        return Ok(Reply::Array(COMMANDS.iter().map(describe).collect()));
    }
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match sub.as_str() {
        "count" => Ok(Reply::integer(COMMANDS.len() as i64)),
        "list" => Ok(Reply::Array(
            COMMANDS.iter().map(|s| Reply::bulk(s.name)).collect(),
        )),
        "info" => Ok(Reply::Array(
            args[2..]
                .iter()
                .map(|n| super::table::lookup(n).map_or(Reply::NullArray, describe))
                .collect(),
        )),
        // redis-cli asks for docs to show hints; we have none to give.
        "docs" => Ok(Reply::Map(Vec::new())),
        _ => Err(CommandError::new(format!(
            "ERR unknown subcommand '{}'. Try COMMAND HELP.",
            String::from_utf8_lossy(&args[1])
        ))),
    }
}

const SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "keyspace",
];

pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let wanted: Vec<String> = args[1..]
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let all = wanted.is_empty()
        || wanted
            .iter()
            .any(|w| w == "all" || w == "everything" || w == "default");
    let mut out = String::new();
    for section in SECTIONS {
        if all || wanted.iter().any(|w| w == section) {
            if !out.is_empty() {
                out.push_str("\r\n");
            }
            section_text(ctx, section, &mut out);
        }
    }
    Ok(Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(out),
    })
}

fn section_text(ctx: &Ctx<'_>, section: &str, out: &mut String) {
    let sh = ctx.shared;
    let c = &sh.counters;
    let _ = match section {
        "server" => write!(
            out,
            "# Server\r\nredis_version:{}\r\nmeridian_version:{}\r\nredis_mode:active-active\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n",
            crate::REDIS_COMPAT_VERSION,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            std::process::id(),
            sh.client_addr.port(),
            sh.started.elapsed().as_secs(),
        ),
        "clients" => write!(
            out,
            "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\n",
            c.connected_clients.load(Ordering::Relaxed),
            crate::conn::CLIENTS_MAX
        ),
        "memory" => {
            let used = crate::alloc::allocated_bytes();
            write!(
                out,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{:.2}M\r\nkey_states:{}\r\n",
                used as f64 / (1024.0 * 1024.0),
                ctx.node.keys().states()
            )
        }
        "stats" => {
            let s = ctx.node.stats();
            let log = sh.log.stats();
            write!(
                out,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nprotocol_errors:{}\r\nops_local:{}\r\nops_remote:{}\r\nops_duplicate:{}\r\nconflicts:{}\r\nconflicts_dropped:{}\r\nexpired_keys_swept:{}\r\nexpiry_tombstones:{}\r\nexpiry_tombstones_collected:{}\r\nlist_tombstones_collected:{}\r\nlog_records_written:{}\r\nlog_fsyncs:{}\r\nlog_bytes_on_disk:{}\r\n",
                c.connections_received.load(Ordering::Relaxed),
                c.commands.load(Ordering::Relaxed),
                c.rejected_connections.load(Ordering::Relaxed),
                c.protocol_errors.load(Ordering::Relaxed),
                s.ops_local,
                s.ops_remote,
                s.duplicates,
                s.conflicts,
                s.conflicts_dropped,
                s.expired_swept,
                ctx.node.keys().tombstones(),
                s.tombstones_collected,
                s.list_tombstones_collected,
                log.records_written,
                log.fsyncs,
                log.disk_bytes,
            )
        }
        "persistence" => persistence(ctx, out),
        "replication" => replication(ctx, out),
        "keyspace" => {
            let n = ctx.node.keys().live_keys();
            let expires = ctx.node.keys().volatile_keys();
            if n > 0 {
                write!(out, "# Keyspace\r\ndb0:keys={n},expires={expires},avg_ttl=0\r\n")
            } else {
                write!(out, "# Keyspace\r\n")
            }
        }
        _ => Ok(()),
    };
}

/// Snapshots and the log behind them (see `crate::snapshot`).
fn persistence(ctx: &Ctx<'_>, out: &mut String) -> std::fmt::Result {
    let sh = ctx.shared;
    let st = sh.snapshots.state.lock().clone();
    let log = sh.log.stats();
    let regions = ctx.node.regions();
    let base: Vec<String> = regions
        .ids()
        .map(|id| format!("{}={}", regions.name(id), st.base.0.get(id)))
        .collect();
    write!(
        out,
        "# Persistence\r\nloading:0\r\nsnapshot_lsn:{}\r\nsnapshot_bytes:{}\r\nsnapshots_written:{}\r\nlast_snapshot_pause_ms:{:.1}\r\nlast_snapshot_write_ms:{:.1}\r\nsnapshot_log_mb:{}\r\nlog_retention_secs:{}\r\nlog_first_lsn:{}\r\nlog_last_lsn:{}\r\nlog_segments:{}\r\nlog_records_truncated:{}\r\nlog_base:{}\r\nlast_snapshot_kept_log:{}\r\n",
        st.lsn,
        st.file_bytes,
        st.written,
        st.last_pause_us as f64 / 1000.0,
        st.last_write_us as f64 / 1000.0,
        sh.args.snapshot_log_mb,
        sh.args.log_retention_secs,
        log.first_lsn,
        log.last_lsn,
        log.segments,
        st.records_truncated,
        base.join(","),
        if st.held.is_empty() {
            "no".to_string()
        } else {
            st.held.replace(['\r', '\n'], " ")
        },
    )
}

fn replication(ctx: &Ctx<'_>, out: &mut String) -> std::fmt::Result {
    let sh = ctx.shared;
    let node = &*ctx.node;
    let regions = node.regions();
    let vv: Vec<String> = regions
        .ids()
        .map(|id| format!("{}={}", regions.name(id), node.vv().get(id)))
        .collect();
    write!(
        out,
        "# Replication\r\nrole:active-active\r\nregion:{}\r\ncluster:{}\r\nregions:{}\r\nconnected_peers:{}\r\nversion_vector:{}\r\ncausal_pending:{}\r\nfsync:{}\r\n",
        sh.args.region,
        sh.args.cluster,
        regions.len(),
        sh.peers
            .iter()
            .filter(|p| matches!(p.out.lock().state, LinkState::Connected))
            .count(),
        vv.join(","),
        node.pending(),
        sh.args.fsync,
    )?;
    let t = &sh.snapshots;
    write!(
        out,
        "state_transfers_sent:{}\r\nstate_transfers_received:{}\r\nstate_transfers_refused:{}\r\nstate_transfer_offers_refused:{}\r\nstate_transfer_in_progress:{}\r\nsnapshots_installed:{}\r\n",
        t.transfers_sent.load(Ordering::Relaxed),
        t.transfers_received.load(Ordering::Relaxed),
        t.transfers_refused.load(Ordering::Relaxed),
        t.offers_refused.load(Ordering::Relaxed),
        u8::from(t.receiving.load(Ordering::Relaxed)),
        node.stats().snapshots_installed,
    )?;
    let lag = sh.lag.lock();
    let now = now_ms();
    for p in &sh.peers {
        let o = p.out.lock().clone();
        let l = lag
            .get(p.id.index())
            .map(|l| l.summary())
            .unwrap_or_default();
        // Ops from this peer that we know exist (it told us in a batch) but
        // have not applied are not knowable here; what we show is our
        // outgoing backlog and the measured lag of its ops arriving here.
        write!(
            out,
            "peer_{}:link={},addr={},ops_behind={},ops_relayed={},lag_ms={:.1},lag_p50_ms={:.1},lag_p99_ms={:.1},ops_received={},inbound_links={},clock_ahead_holds={},connects={},snapshots_sent={},silent_s={:.1}",
            p.name,
            o.state.label(),
            p.addr,
            o.ops_behind,
            o.ops_relayed,
            l.last_ms,
            l.p50_ms,
            l.p99_ms,
            p.ops_received.load(Ordering::Relaxed),
            p.inbound_connections.load(Ordering::Relaxed),
            p.clock_ahead_holds.load(Ordering::Relaxed),
            o.connects,
            o.snapshots_sent,
            sh.silent_ms(p) as f64 / 1000.0,
        )?;
        if let LinkState::Refused(why) | LinkState::Down(why) = &o.state {
            write!(out, ",last_error={}", why.replace([',', '\r', '\n'], " "))?;
        }
        out.push_str("\r\n");
    }
    let _ = now;
    Ok(())
}
