//! Seed sweeps: the simulated world converges under the default faults, runs
//! are reproducible, and the checker notices a lost op.

use meridian_sim::{run_seed, SimConfig, SimReport, Violation};

/// Seeds in the default sweep, as the issue asks: each takes a few ms in a
/// debug build, so the sweep stays well under a few seconds.
const SWEEP_SEEDS: u64 = 200;

fn pass(seed: u64, cfg: &SimConfig) -> SimReport {
    run_seed(seed, cfg).unwrap_or_else(|f| panic!("{f}"))
}

#[test]
fn two_hundred_seeds_with_default_faults_converge() {
    let cfg = SimConfig::default();
    let mut totals = SimReport {
        seed: 0,
        regions: 0,
        writes: 0,
        deliveries: 0,
        duplicates_delivered: 0,
        messages_sent: 0,
        messages_duplicated: 0,
        messages_dropped: 0,
        partitions: 0,
        link_cuts: 0,
        conflicts: 0,
        pending_max: 0,
        events: 0,
        simulated_ms: 0,
        digest: String::new(),
    };
    for seed in 0..SWEEP_SEEDS {
        let r = pass(seed, &cfg);
        totals.writes += r.writes;
        totals.duplicates_delivered += r.duplicates_delivered;
        totals.messages_duplicated += r.messages_duplicated;
        totals.messages_dropped += r.messages_dropped;
        totals.partitions += r.partitions;
        totals.conflicts += r.conflicts;
        totals.pending_max = totals.pending_max.max(r.pending_max);
    }
    // The sweep must actually exercise what it claims to: faults, reordering
    // (ops held for their causes), duplicates, and concurrent writes.
    assert!(totals.writes > SWEEP_SEEDS * 500, "{totals:?}");
    assert!(totals.partitions >= SWEEP_SEEDS, "{totals:?}");
    assert!(
        totals.messages_dropped > 0 && totals.messages_duplicated > 0,
        "{totals:?}"
    );
    assert!(
        totals.duplicates_delivered > 0 && totals.pending_max > 0,
        "{totals:?}"
    );
    assert!(totals.conflicts > totals.writes / 10, "{totals:?}");
}

#[test]
fn a_seed_replays_exactly() {
    let cfg = SimConfig::default();
    for seed in [0, 1, 0xDEAD_BEEF, u64::MAX] {
        assert_eq!(pass(seed, &cfg), pass(seed, &cfg), "seed {seed}");
    }
}

#[test]
fn different_seeds_make_different_runs() {
    let cfg = SimConfig::default();
    let digests: std::collections::BTreeSet<String> =
        (0..8).map(|s| pass(s, &cfg).digest).collect();
    assert_eq!(digests.len(), 8);
}

#[test]
fn seven_regions_with_measured_latencies_converge() {
    let cfg = SimConfig::seven_regions();
    for seed in 0..4 {
        let r = pass(seed, &cfg);
        assert_eq!(r.regions, 7);
        // The slowest path (sa-east to ap-southeast) is 170 ms one way.
        assert!(r.simulated_ms > cfg.duration_ms + 170, "{r:?}");
    }
}

#[test]
fn calm_and_tiny_worlds_converge() {
    let calm = SimConfig {
        partitions: false,
        dup_prob: 0.0,
        reorder_prob: 0.0,
        jitter_ms: 0,
        ..SimConfig::default()
    };
    let r = pass(3, &calm);
    assert_eq!(
        (r.messages_dropped, r.duplicates_delivered, r.partitions),
        (0, 0, 0)
    );
    let alone = SimConfig {
        regions: vec!["eu-west".into()],
        ..SimConfig::default()
    };
    assert_eq!(pass(3, &alone).deliveries, 0);
    let one_key = SimConfig {
        keys: 1,
        base_latency_ms: Some(1),
        ..SimConfig::default()
    };
    pass(3, &one_key);
}

#[test]
fn the_checker_reports_a_lost_op() {
    let cfg = SimConfig {
        skip_one_delivery: true,
        ..SimConfig::default()
    };
    for seed in 0..3 {
        let f = run_seed(seed, &cfg).expect_err("a lost op must fail the run");
        assert_eq!(f.seed, seed);
        assert!(
            matches!(
                *f.violation,
                Violation::Pending { .. } | Violation::VersionVector { .. }
            ),
            "{f}"
        );
        let text = f.to_string();
        assert!(text.contains(&format!("seed {seed}")), "{text}");
        assert!(
            text.contains(&format!("run_seed({seed}, &SimConfig")),
            "{text}"
        );
    }
}

/// Regression (found by the first version of this simulator): a receiver
/// that acknowledges only in reply to a batch never acknowledges ops it held
/// and released later, so their sender's window fills and it stops for good.
#[test]
fn acking_only_batches_deadlocks_a_sender() {
    let cfg = SimConfig {
        ack_batches_only: true,
        ..SimConfig::default()
    };
    let failed = (0..20).filter(|&s| run_seed(s, &cfg).is_err()).count();
    assert!(
        failed > 0,
        "the deadlock no longer shows: is the window unbounded?"
    );
    pass(8, &SimConfig::default());
}

#[test]
fn a_bad_config_is_a_failure_not_a_panic() {
    let cfg = SimConfig {
        keys: 0,
        ..SimConfig::default()
    };
    let f = run_seed(1, &cfg).unwrap_err();
    assert!(matches!(*f.violation, Violation::BadConfig(_)), "{f}");
}
