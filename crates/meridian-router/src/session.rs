//! Sessions: the causal point of what one client connection has written
//! and read, and when a region may serve it.
//!
//! After every batch that touched data, the router asks the region that
//! served it for `MERIDIAN.SESSION` (pipelined behind the batch, so it
//! costs a few bytes, not a round trip) and merges the token into the
//! session. Before a batch that reads data runs on a region, the region
//! must cover the session ([`Session::gate`]): known to (it served the
//! session last, or its last probe already covered the token), or made to
//! by `MERIDIAN.WAITFOR token ms`. If the wait times out, the policy
//! decides ([`Policy::on_timeout`]).
//!
//! Together these give read-your-writes and monotonic reads across any
//! number of region changes (see `tests/session_sim.rs`), because:
//! - the token only grows (merge, never replace), and covers every write
//!   the client made and the whole state of every region it read from;
//! - a read runs only on a region whose state covers the token.
//!
//! Blind writes are never held back: a batch of idempotent writes only
//! (SET, DEL, HSET...) runs at once on the new region. (Its op then does
//! not depend on the client's earlier writes; last-write-wins by hybrid
//! clock still orders them by time.) Commands that return data — reads,
//! but also INCR, GETSET and commands the router does not know — wait like
//! reads (`Kind::reads_data`).

/// What to do when a region does not catch up with a session in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Policy {
    /// Refuse the batch with a TRYAGAIN error: never read older data than
    /// the session has seen.
    Strict,
    /// Serve it anyway and count the stale read.
    Available,
}

impl Policy {
    pub fn label(self) -> &'static str {
        match self {
            Policy::Strict => "strict",
            Policy::Available => "available",
        }
    }

    /// The verdict on a batch whose region did not catch up in time.
    pub fn on_timeout(self) -> Verdict {
        match self {
            Policy::Strict => Verdict::Refuse,
            Policy::Available => Verdict::ServeStale,
        }
    }
}

/// Whether a batch that reads may run on a region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Gate {
    /// The region covers the session.
    Go,
    /// Ask the region to wait for this token first.
    Wait(Vv),
}

/// What happens to a batch after a wait timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Refuse,
    ServeStale,
}

use crate::vv::Vv;

/// One client connection's session.
#[derive(Clone, Debug, Default)]
pub struct Session {
    token: Vv,
    /// The region known to cover `token`, if any.
    covered_on: Option<usize>,
    /// Times the token had to be estimated (see [`Session::gap`]).
    gaps: u64,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    /// The causal point reached so far.
    pub fn token(&self) -> &Vv {
        &self.token
    }

    /// Whether a batch that reads may run on `region` now, given the
    /// region's point at its last probe (`probed`), if known.
    pub fn gate(&mut self, region: usize, probed: Option<&Vv>) -> Gate {
        if self.token.is_empty() || self.covered_on == Some(region) {
            return Gate::Go;
        }
        if probed.is_some_and(|vv| vv.dominates(&self.token)) {
            self.covered_on = Some(region);
            return Gate::Go;
        }
        Gate::Wait(self.token.clone())
    }

    /// `region` answered `MERIDIAN.WAITFOR` for the current token with 1.
    pub fn caught_up(&mut self, region: usize) {
        self.covered_on = Some(region);
    }

    /// A batch ran on `region`, whose point right after it was `vv`.
    pub fn observed(&mut self, region: usize, vv: &Vv) {
        // After the merge the region covers the token exactly when it
        // covered the old one; no other region is known to.
        self.covered_on = vv.dominates(&self.token).then_some(region);
        self.token.merge(vv);
    }

    /// `region` acknowledged a write and then failed before reporting its
    /// point. The write's op is past both the session's entry for the
    /// region (the region's point after the previous batch) and the
    /// region's last probed point if that probe was older; so the session
    /// now asks for one op of `region` beyond the larger of the two. This
    /// may ask for more than the write (a later probe already held it):
    /// strict mode then refuses reads it could have served, never the
    /// other way round.
    pub fn gap(&mut self, region: &str, estimate: Option<&Vv>) {
        self.gaps += 1;
        if let Some(vv) = estimate {
            self.token.merge(vv);
        }
        let next = self.token.get(region).saturating_add(1);
        self.token.set(region, next);
        self.covered_on = None;
    }

    /// How many times [`Session::gap`] was needed.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vv(t: &str) -> Vv {
        Vv::parse_token(t.as_bytes()).unwrap()
    }

    #[test]
    fn a_fresh_session_goes_anywhere() {
        let mut s = Session::new();
        assert_eq!(s.gate(0, None), Gate::Go);
        assert_eq!(s.gate(1, None), Gate::Go);
    }

    #[test]
    fn after_writing_in_one_region_another_must_catch_up() {
        let mut s = Session::new();
        s.observed(0, &vv("v1:a=5"));
        assert_eq!(s.gate(0, None), Gate::Go);
        assert_eq!(s.gate(1, Some(&vv("v1:a=4"))), Gate::Wait(vv("v1:a=5")));
        assert_eq!(s.gate(1, Some(&vv("v1:a=5,b=1"))), Gate::Go);
        // Known now; no probe needed.
        assert_eq!(s.gate(1, None), Gate::Go);
    }

    #[test]
    fn the_token_grows_and_coverage_follows_it() {
        let mut s = Session::new();
        s.observed(0, &vv("v1:a=5"));
        s.caught_up(1);
        s.observed(1, &vv("v1:a=5,b=2"));
        assert_eq!(s.token(), &vv("v1:a=5,b=2"));
        // Region 0 has not seen b's writes.
        assert_eq!(s.gate(0, Some(&vv("v1:a=9"))), Gate::Wait(vv("v1:a=5,b=2")));
        // A write-only batch on a region behind the session: merged, and
        // the region is not taken to cover the older part.
        let mut s = Session::new();
        s.observed(0, &vv("v1:a=5"));
        s.observed(1, &vv("v1:a=3,b=1"));
        assert_eq!(s.token(), &vv("v1:a=5,b=1"));
        assert_eq!(s.gate(1, None), Gate::Wait(vv("v1:a=5,b=1")));
    }

    #[test]
    fn a_gap_merges_the_estimate_and_forgets_coverage() {
        let mut s = Session::new();
        s.observed(0, &vv("v1:a=5"));
        s.gap("a", Some(&vv("v1:a=7,b=2")));
        assert_eq!(s.gaps(), 1);
        assert_eq!(s.gate(0, None), Gate::Wait(vv("v1:a=8,b=2")));
        s.gap("c", None);
        assert_eq!(s.token(), &vv("v1:a=8,b=2,c=1"));
    }

    #[test]
    fn policies() {
        assert_eq!(Policy::Strict.on_timeout(), Verdict::Refuse);
        assert_eq!(Policy::Available.on_timeout(), Verdict::ServeStale);
    }
}
