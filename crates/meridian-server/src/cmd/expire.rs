//! Active expiry: a periodic sweep that expires keys whose deadline has
//! passed, so that their memory is freed even if no client touches them.
//!
//! Reads already hide an expired key in every region, lazily; the sweep
//! makes it gone for good with a replicated expiry op (see
//! `meridian_core::expiry`). The region that wrote the winning deadline
//! sweeps the key; the others wait `EXPIRE_SWEEP_GRACE_MS` in case it is
//! down. The sweep also drops expiry tombstones once every region has seen
//! them.

use crate::shared::{now_ms, Shared};
use std::time::Duration;

/// How often the sweep runs. Redis runs its active expiry ten times a
/// second; expired keys are invisible meanwhile, so this only bounds how
/// long their memory stays.
pub const SWEEP_INTERVAL: Duration =
    Duration::from_millis(meridian_core::timing::SWEEP_INTERVAL_MS);

/// Most keys one sweep expires, so that a burst of deadlines never holds the
/// state lock long (Redis bounds its cycle the same way).
pub const SWEEP_KEYS_MAX: usize = 200;

/// Runs one sweep: makes the expiry ops, logs them, and writes them out.
pub fn sweep(shared: &Shared) {
    if shared.log.is_poisoned() {
        return;
    }
    let mut node = shared.node.lock();
    let ops = node.expire_due(now_ms(), SWEEP_KEYS_MAX);
    if ops.is_empty() {
        return;
    }
    let mut record = Vec::new();
    for op in &ops {
        record.clear();
        op.encode_into(&mut record);
        if let Err(e) = shared.log.append(&record) {
            // Applied in memory and not logged: stop, as a client write does.
            panic!("log append failed, stopping: {e}");
        }
    }
    drop(node);
    // No client waits for these; write them out now so that the links,
    // which ship only durable records, send them.
    if let Err(e) = shared.log.flush() {
        tracing::error!("writing expiry ops to the log: {e}");
    }
}
