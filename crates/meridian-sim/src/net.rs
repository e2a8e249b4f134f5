//! The network between regions: delays, cuts, spikes, and the faults that
//! strike single messages.
//!
//! Replication links are TCP connections, and the model keeps what TCP
//! promises and what it does not:
//!
//! - Messages of one connection and direction arrive in order: jitter
//!   delays a message but never lets a later one overtake it. Only the
//!   **reorder** fault holds one back so that later ones overtake it
//!   (stronger than TCP, to test that receivers do not depend on order).
//! - A **cut** direction delivers nothing, but loses nothing either: what
//!   arrives at a cut is parked, as TCP keeps retransmitting, and arrives
//!   after the heal. A connection that hears nothing for the links'
//!   silence timeout is closed by the world, and what was parked for it is
//!   dropped when it arrives on the dead connection.
//! - A **lost** message resets its connection, as a real loss that TCP
//!   cannot repair does: both ends drop it and the dialer reconnects.
//! - **Duplicated** batches and acks arrive twice (stronger than TCP, to
//!   test idempotence).

use crate::rng::SimRng;

/// Per ordered pair of regions `(from, to)`: index `from * n + to`.
fn pair_index(n: usize, from: usize, to: usize) -> usize {
    from * n + to
}

/// A message parked at a cut, waiting for the heal.
pub struct Parked<M> {
    pub link: usize,
    pub epoch: u64,
    pub forward: bool,
    pub msg: M,
}

/// The state of the network.
pub struct Net<M> {
    n: usize,
    rng: SimRng,
    jitter_ms: u64,
    base_ms: Vec<u64>,
    cuts: Vec<u32>,
    cut_since_ms: Vec<u64>,
    spike_ms: Vec<u64>,
    parked: Vec<Vec<Parked<M>>>,
    /// Per link and direction (0 forward, 1 back): arrival time of the last
    /// message that must not be overtaken.
    last_arrival_ms: Vec<[u64; 2]>,
    /// The latest arrival of a message slowed by a spike: a spike's end
    /// does not speed up what is already on its way.
    spiked_until_ms: u64,
}

impl<M> Net<M> {
    /// A healthy network of `n` regions with one-way delays `delay(a, b)`.
    pub fn new(n: usize, rng: SimRng, jitter_ms: u64, delay: impl Fn(usize, usize) -> u64) -> Self {
        let mut base_ms = vec![0; n * n];
        for a in 0..n {
            for b in 0..n {
                base_ms[pair_index(n, a, b)] = if a == b { 0 } else { delay(a, b) };
            }
        }
        Net {
            n,
            rng,
            jitter_ms,
            base_ms,
            cuts: vec![0; n * n],
            cut_since_ms: vec![0; n * n],
            spike_ms: vec![0; n * n],
            parked: (0..n * n).map(|_| Vec::new()).collect(),
            last_arrival_ms: vec![[0; 2]; n * n],
            spiked_until_ms: 0,
        }
    }

    /// The random stream of the network.
    pub fn rng(&mut self) -> &mut SimRng {
        &mut self.rng
    }

    /// The one-way delay from `a` to `b` without jitter or spikes.
    pub fn base_ms(&self, a: usize, b: usize) -> u64 {
        self.base_ms[pair_index(self.n, a, b)]
    }

    /// The longest one-way delay of any pair.
    pub fn max_base_ms(&self) -> u64 {
        self.base_ms.iter().copied().max().unwrap_or(0)
    }

    /// True while messages from `a` to `b` are cut.
    pub fn is_cut(&self, a: usize, b: usize) -> bool {
        self.cuts[pair_index(self.n, a, b)] > 0
    }

    /// Since when `a -> b` has been cut (meaningful while it is).
    pub fn cut_since_ms(&self, a: usize, b: usize) -> u64 {
        self.cut_since_ms[pair_index(self.n, a, b)]
    }

    /// A fault episode cuts `a -> b`. Returns true if it just went down.
    pub fn cut(&mut self, a: usize, b: usize, now_ms: u64) -> bool {
        let i = pair_index(self.n, a, b);
        self.cuts[i] += 1;
        if self.cuts[i] == 1 {
            self.cut_since_ms[i] = now_ms;
        }
        self.cuts[i] == 1
    }

    /// A fault episode ends its cut of `a -> b`. If the direction is whole
    /// again, returns the parked messages (in arrival order) to deliver.
    pub fn heal(&mut self, a: usize, b: usize) -> Vec<Parked<M>> {
        let i = pair_index(self.n, a, b);
        assert!(self.cuts[i] > 0, "heal of a direction that is not cut");
        self.cuts[i] -= 1;
        if self.cuts[i] == 0 {
            std::mem::take(&mut self.parked[i])
        } else {
            Vec::new()
        }
    }

    /// Ends every cut and spike; returns every parked message.
    pub fn heal_all(&mut self) -> Vec<Parked<M>> {
        self.cuts.iter_mut().for_each(|c| *c = 0);
        self.spike_ms.iter_mut().for_each(|s| *s = 0);
        self.parked.iter_mut().flat_map(std::mem::take).collect()
    }

    /// Parks a message that arrived at the cut `a -> b`.
    pub fn park(&mut self, a: usize, b: usize, parked: Parked<M>) {
        self.parked[pair_index(self.n, a, b)].push(parked);
    }

    /// Messages parked anywhere.
    pub fn parked(&self) -> usize {
        self.parked.iter().map(Vec::len).sum()
    }

    /// Adds (or with `on == false` removes) a delay spike on `a -> b`.
    pub fn spike(&mut self, a: usize, b: usize, extra_ms: u64, on: bool) {
        let s = &mut self.spike_ms[pair_index(self.n, a, b)];
        *s = if on {
            *s + extra_ms
        } else {
            s.saturating_sub(extra_ms)
        };
    }

    /// A new connection on `link`: nothing of it is in flight yet.
    pub fn reset_order(&mut self, link: usize) {
        self.last_arrival_ms[link] = [0; 2];
    }

    /// When a message sent now from `a` to `b` on `link` arrives: the delay,
    /// any spike and jitter, after every earlier message of its connection
    /// and direction unless `overtaken_by_ms > 0` holds it back that much
    /// more (then later messages may pass it).
    pub fn arrival_ms(
        &mut self,
        now_ms: u64,
        link: usize,
        forward: bool,
        (a, b): (usize, usize),
        overtaken_by_ms: u64,
    ) -> u64 {
        let i = pair_index(self.n, a, b);
        let jitter = self.rng.range(0, self.jitter_ms);
        let t = now_ms + self.base_ms[i] + self.spike_ms[i] + jitter;
        let last = &mut self.last_arrival_ms[link][usize::from(!forward)];
        let at = if overtaken_by_ms > 0 {
            t.max(*last) + overtaken_by_ms
        } else {
            *last = t.max(*last);
            *last
        };
        if self.spike_ms[i] > 0 {
            self.spiked_until_ms = self.spiked_until_ms.max(at);
        }
        at
    }

    /// When the last message slowed by a spike arrives.
    pub fn spiked_until_ms(&self) -> u64 {
        self.spiked_until_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_never_reorders_a_connection() {
        let mut net: Net<()> = Net::new(2, SimRng::new(9), 50, |_, _| 10);
        let mut last = 0;
        for t in 0..200 {
            let at = net.arrival_ms(t, 1, true, (0, 1), 0);
            assert!(at >= last && at >= t + 10);
            last = at;
        }
        let held = net.arrival_ms(200, 1, true, (0, 1), 500);
        assert!(held >= last + 500);
        assert!(net.arrival_ms(201, 1, true, (0, 1), 0) < held);
    }

    #[test]
    fn a_cut_parks_until_the_last_heal() {
        let mut net: Net<u32> = Net::new(2, SimRng::new(1), 0, |_, _| 10);
        assert!(net.cut(0, 1, 5));
        assert!(!net.cut(0, 1, 6));
        net.park(
            0,
            1,
            Parked {
                link: 1,
                epoch: 0,
                forward: true,
                msg: 7,
            },
        );
        assert!(net.heal(0, 1).is_empty());
        assert!(net.is_cut(0, 1));
        let back = net.heal(0, 1);
        assert_eq!(back.len(), 1);
        assert!(!net.is_cut(0, 1));
    }
}
