//! The checkers catch real bugs: each deliberately broken variant of the
//! shell is reported within a bounded number of seeds, by the checker that
//! should catch it.

use meridian_sim::{run_seed, Broken, FaultKind, Faults, Fsync, SimConfig, SimFailure};

/// Seeds each variant gets. Every variant below is caught well within it
/// (most on the first seed); the bound keeps a checker that went blind
/// from hiding behind a long search.
const SEEDS_MAX: u64 = 20;

/// The first failure of `cfg` with `broken` on, within `SEEDS_MAX` seeds.
fn first_failure(broken: Broken, cfg: SimConfig) -> SimFailure {
    let cfg = SimConfig {
        broken: Some(broken),
        ..cfg
    };
    for seed in 0..SEEDS_MAX {
        if let Err(f) = run_seed(seed, &cfg) {
            assert_eq!(f.seed, seed);
            assert!(f.replay.contains(&format!("--seed {seed}")), "{f}");
            assert!(f.replay.contains(broken.name()), "{f}");
            return f;
        }
    }
    panic!("{} not caught in {SEEDS_MAX} seeds", broken.name());
}

fn assert_rule(f: &SimFailure, rules: &[&str]) {
    assert!(rules.contains(&f.violation.rule()), "{f}");
}

#[test]
fn a_resume_that_skips_one_op_is_caught() {
    // Relays repair a skipped op within about a second when a third
    // region has it, so the skip shows in a two-region world: the op
    // never arrives and everything after it waits for it forever.
    let cfg = SimConfig {
        regions: vec!["us-east".into(), "eu-west".into()],
        ..SimConfig::default()
    };
    let f = first_failure(Broken::ResumeSkipsOne, cfg);
    assert_rule(&f, &["liveness"]);
}

#[test]
fn a_reply_before_the_write_is_durable_is_caught() {
    let cfg = SimConfig {
        fsync: Fsync::Always,
        faults: Faults::NONE.with(FaultKind::Crash),
        ..SimConfig::small()
    };
    let f = first_failure(Broken::ReplyBeforeDurable, cfg);
    assert_rule(&f, &["durability"]);
}

#[test]
fn a_counter_read_as_the_max_instead_of_the_sum_is_caught() {
    let f = first_failure(Broken::CounterMax, SimConfig::small());
    assert_rule(&f, &["reference"]);
    assert!(f.to_string().contains("counter"), "{f}");
}

#[test]
fn a_delete_that_removes_unseen_values_is_caught() {
    let f = first_failure(Broken::DelRemovesUnseen, SimConfig::small());
    assert_rule(&f, &["convergence", "reference", "replay", "liveness"]);
}

#[test]
fn a_set_remove_that_removes_unseen_adds_is_caught() {
    let f = first_failure(Broken::SremRemovesUnseen, SimConfig::small());
    assert_rule(&f, &["convergence", "reference", "replay", "liveness"]);
}

#[test]
fn a_list_read_in_insertion_order_is_caught() {
    let f = first_failure(Broken::ListByInsertion, SimConfig::small());
    assert_rule(&f, &["reference"]);
    assert!(f.to_string().contains("list: the RGA order"), "{f}");
}

#[test]
fn a_lost_op_is_caught() {
    let f = first_failure(Broken::DropOneOp, SimConfig::small());
    assert_rule(&f, &["liveness"]);
}

#[test]
fn no_ack_when_held_ops_are_released_is_caught() {
    // Seen in worlds with many paths, where a held batch's ops are often
    // released by another link's batch.
    let f = first_failure(Broken::NoAckOnProgress, SimConfig::default());
    assert_rule(&f, &["liveness"]);
}

#[test]
fn shipping_unsynced_records_is_caught_under_power_loss() {
    // The design before links waited for the fsync: a region that loses
    // power loses ops its peers already hold, then gives their sequence
    // numbers to new ops. The fsync follows a write within 1-5 ms, so the
    // window is open only where an op reaches a peer faster than that
    // (nearby regions, or a slow disk): 1 ms links.
    let cfg = SimConfig {
        base_latency_ms: Some(1),
        faults: Faults::NONE.with(FaultKind::PowerLoss),
        fsync: Fsync::EverySec,
        writes_per_sec_per_region: 400,
        broken: Some(Broken::ShipUnsynced),
        ..SimConfig::small()
    };
    // 1 ms links have no `meridian sim` flag: the replay is a `run_seed`
    // call, not a command line, so `first_failure` does not fit.
    let f = (0..SEEDS_MAX)
        .find_map(|seed| run_seed(seed, &cfg).err())
        .expect("ship-unsynced not caught");
    assert!(f.replay.contains("ShipUnsynced"), "{f}");
    assert_rule(&f, &["seq-reuse"]);
}

/// A world whose only fault is a region down far longer than its peers
/// keep their logs: every round it returns to peers that truncated what it
/// lacks, and catches up by a state transfer.
fn long_down() -> SimConfig {
    SimConfig {
        faults: Faults::NONE.with(FaultKind::LongDown),
        ..SimConfig::small()
    }
}

#[test]
fn an_install_that_drops_its_own_log_is_caught() {
    // The returning region takes the peer's state instead of re-applying
    // its own log on top: its own ops that no peer had received when it
    // went down are lost. The install check sees its version vector fall
    // short of what it held and the snapshot brought.
    let f = first_failure(Broken::InstallWithoutReplay, long_down());
    assert_rule(&f, &["durability"]);
    assert!(f.to_string().contains("installed"), "{f}");
}

#[test]
fn serving_from_a_truncated_log_is_caught() {
    // Streaming from the first record still held skips what the peer
    // lacks: its later ops wait for those forever.
    let f = first_failure(Broken::ServeTruncated, long_down());
    assert_rule(&f, &["liveness"]);
}

#[test]
fn truncating_what_peers_lack_is_caught() {
    // Dropping the log behind every snapshot, acknowledged or not: a link
    // that reconnects after a partition finds its log lacking what the
    // peer lacks and offers a snapshot, which the peer refuses when it
    // dropped its own unshipped ops too, and the world never settles.
    let f = first_failure(Broken::TruncateUnacked, SimConfig::small());
    assert_rule(&f, &["liveness", "convergence", "delivery"]);
}

#[test]
fn waiting_for_a_peer_left_behind_is_caught() {
    // Nothing breaks but memory: the log grows for as long as the peer is
    // away (it is served from the log when it returns).
    let f = first_failure(Broken::NeverLeaveBehind, long_down());
    assert_rule(&f, &["memory"]);
}
