//! Property: any sensible world converges, whatever its size, network and
//! workload knobs.

use meridian_sim::{run_seed, Latencies, SimConfig};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = SimConfig> {
    let names = Latencies::builtin().regions();
    (
        proptest::sample::subsequence(names, 1..=5),
        prop_oneof![Just(None), (0u64..120).prop_map(Some)],
        0u64..30,
        0.0..=0.6f64,
        0.0..=0.5f64,
        any::<bool>(),
        100u64..1_500,
        (1u64..400, 1usize..40),
    )
        .prop_map(
            |(regions, base, jitter, reorder, dup, partitions, duration, (rate, keys))| SimConfig {
                regions,
                base_latency_ms: base,
                jitter_ms: jitter,
                reorder_prob: reorder,
                dup_prob: dup,
                partitions,
                duration_ms: duration,
                writes_per_sec_per_region: rate,
                keys,
                ..SimConfig::default()
            },
        )
}

proptest! {
    // Each case is a whole world; a few dozen keep the suite quick.
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn any_world_converges(cfg in config(), seed in any::<u64>()) {
        if let Err(f) = run_seed(seed, &cfg) {
            prop_assert!(false, "{}", f);
        }
    }
}
