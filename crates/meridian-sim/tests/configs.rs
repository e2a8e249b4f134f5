//! Property: any sensible world passes every checker, whatever its size,
//! network, disk, faults and workload knobs.

use meridian_sim::{run_seed, FaultKind, Faults, Fsync, Latencies, SimConfig};
use proptest::prelude::*;

fn faults() -> impl Strategy<Value = Faults> {
    proptest::sample::subsequence(Faults::mixed().kinds().collect::<Vec<_>>(), 0..=11)
        .prop_map(|kinds: Vec<FaultKind>| kinds.into_iter().fold(Faults::NONE, Faults::with))
}

fn config() -> impl Strategy<Value = SimConfig> {
    let names = Latencies::builtin().regions();
    (
        proptest::sample::subsequence(names, 1..=5),
        prop_oneof![Just(None), (0u64..120).prop_map(Some)],
        (0u64..30, 0.0..=0.5f64, 0.0..=0.3f64, 0.0..=0.02f64),
        faults(),
        prop_oneof![Just(Fsync::Always), Just(Fsync::EverySec), Just(Fsync::No)],
        (100u64..8_000, 1u32..=3),
        (1u64..200, 1usize..40, 1usize..=8),
    )
        .prop_map(
            |(regions, base, (jitter, reorder, dup, loss), faults, fsync, time, load)| SimConfig {
                regions,
                base_latency_ms: base,
                jitter_ms: jitter,
                reorder_prob: reorder,
                dup_prob: dup,
                loss_prob: loss,
                faults,
                fsync,
                duration_ms: time.0,
                rounds: time.1,
                writes_per_sec_per_region: load.0,
                keys: load.1,
                pipeline_max: load.2,
                ..SimConfig::default()
            },
        )
}

proptest! {
    // Each case is a whole world; a couple of dozen keep the suite quick.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn any_world_passes(cfg in config(), seed in any::<u64>()) {
        if let Err(f) = run_seed(seed, &cfg) {
            prop_assert!(false, "{}", f);
        }
    }
}
