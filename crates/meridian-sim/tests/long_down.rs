//! A region down far longer than its peers keep their logs for: they snapshot
//! and truncate what it lacks, and when it returns it catches up by a full
//! state transfer (see `meridian_sim::snap`), under every checker.

use meridian_sim::{run_seed, FaultKind, Faults, SimConfig, Stats, World};

fn sweep(cfg: &SimConfig, seeds: std::ops::Range<u64>) -> Stats {
    let mut total = Stats::default();
    for seed in seeds {
        let r = run_seed(seed, cfg).unwrap_or_else(|f| panic!("{f}"));
        total.absorb(&r.stats);
    }
    total
}

#[test]
fn a_region_down_longer_than_the_retention_catches_up_by_a_state_transfer() {
    let cfg = SimConfig {
        faults: Faults::NONE.with(FaultKind::LongDown),
        ..SimConfig::small()
    };
    let t = sweep(&cfg, 0..6);
    // Every round has one, and each ends in at least one install.
    assert_eq!(t.faults.get(FaultKind::LongDown), 12, "{t:?}");
    assert!(t.snapshot_installs >= 12, "{t:?}");
    assert!(t.snapshot_offers >= t.snapshot_installs, "{t:?}");
    assert!(t.ops_brought > 0 && t.records_truncated > 0, "{t:?}");
    // A returning region's own ops that no peer had are re-applied on top
    // of the snapshot it installs.
    assert!(t.ops_reapplied > 0, "{t:?}");
    assert!(t.long_settle_ms_max <= t.long_bound_ms, "{t:?}");
}

/// Without long-downs, nothing is ever left behind: logs are truncated
/// behind acknowledged snapshots, and no state transfer happens.
#[test]
fn ordinary_faults_never_need_a_state_transfer() {
    let cfg = SimConfig {
        faults: Faults::mixed().without(FaultKind::LongDown),
        ..SimConfig::small()
    };
    let t = sweep(&cfg, 0..20);
    assert!(t.records_truncated > 0 && t.snapshots_written > 0, "{t:?}");
    assert_eq!(t.snapshot_offers, 0, "{t:?}");
}

/// A run with state transfers replays byte for byte: the snapshot's bytes
/// (whose key order is the core's hash map's, different in every map) are
/// not part of the history, and the simulator restores keys sorted.
#[test]
fn a_state_transfer_replays_byte_for_byte() {
    let cfg = SimConfig {
        faults: Faults::NONE.with(FaultKind::LongDown),
        rounds: 1,
        duration_ms: 3_000,
        ..SimConfig::small()
    };
    let trace = || {
        let mut w = World::with_trace(11, &cfg, true).unwrap();
        w.run().unwrap_or_else(|f| panic!("{f}"));
        (w.history_hash(), w.trace().unwrap().to_vec())
    };
    let (h1, t1) = trace();
    let (h2, t2) = trace();
    assert_eq!(h1, h2);
    assert_eq!(t1, t2);
    assert!(t1.iter().any(|l| l.contains("installs")), "no install");
}
