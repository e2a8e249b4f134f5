//! Sub-millisecond sleeps for the delay pipes.
//!
//! Tokio's timer rounds every deadline up to a whole millisecond tick and
//! parks its driver in whole milliseconds, which measured ~1.4 ms late per
//! sleep here. This module keeps one process-wide thread that waits on a
//! condvar (a futex with a nanosecond timeout, ~50 µs timer slack) for the
//! earliest pending deadline and wakes the sleeping task, so a delivery is
//! typically well under 0.2 ms late.
//!
//! Contract: [`sleep_until`] never completes before `deadline` (real
//! monotonic time; Tokio's paused test clock does not apply). If the timer
//! thread cannot be started, it falls back to `tokio::time::sleep_until`.
//! The thread is started on first use and lives for the process; cancelled
//! sleeps leave an inert entry until their deadline passes.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// Shared between a [`Sleep`] and the timer thread.
struct Slot {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

struct Entry {
    deadline: Instant,
    seq: u64,
    slot: Arc<Slot>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Queue {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
}

#[derive(Default)]
struct Timer {
    queue: Mutex<Queue>,
    cv: Condvar,
}

impl Timer {
    fn register(&self, deadline: Instant, slot: Arc<Slot>) {
        let mut q = self.queue.lock();
        let earliest = q.heap.peek().is_none_or(|Reverse(e)| deadline < e.deadline);
        let seq = q.seq;
        q.seq += 1;
        q.heap.push(Reverse(Entry {
            deadline,
            seq,
            slot,
        }));
        if earliest {
            self.cv.notify_one();
        }
    }

    fn run(&self) {
        let mut q = self.queue.lock();
        loop {
            let now = Instant::now();
            while q.heap.peek().is_some_and(|Reverse(e)| e.deadline <= now) {
                if let Some(Reverse(e)) = q.heap.pop() {
                    e.slot.fired.store(true, Ordering::Release);
                    if let Some(w) = e.slot.waker.lock().take() {
                        w.wake();
                    }
                }
            }
            match q.heap.peek().map(|Reverse(e)| e.deadline) {
                Some(next) => {
                    self.cv.wait_until(&mut q, next);
                }
                None => self.cv.wait(&mut q),
            }
        }
    }
}

fn timer() -> Option<&'static Timer> {
    static TIMER: OnceLock<Option<&'static Timer>> = OnceLock::new();
    *TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::default());
        let spawned = std::thread::Builder::new()
            .name("meridian-wan-timer".into())
            .spawn(move || t.run());
        match spawned {
            Ok(_) => Some(t),
            Err(e) => {
                tracing::warn!(error = %e, "no precise timer thread; using tokio timers");
                None
            }
        }
    })
}

/// Completes at (not before) `deadline`.
pub(crate) fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline,
        state: State::Idle,
    }
}

enum State {
    Idle,
    Precise(Arc<Slot>),
    Coarse(Pin<Box<tokio::time::Sleep>>),
}

/// Future returned by [`sleep_until`].
pub(crate) struct Sleep {
    deadline: Instant,
    state: State,
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            return Poll::Ready(());
        }
        match &mut this.state {
            State::Idle => {
                this.state = match timer() {
                    Some(t) => {
                        let slot = Arc::new(Slot {
                            fired: AtomicBool::new(false),
                            waker: Mutex::new(Some(cx.waker().clone())),
                        });
                        t.register(this.deadline, slot.clone());
                        State::Precise(slot)
                    }
                    None => {
                        let mut s = Box::pin(tokio::time::sleep_until(this.deadline.into()));
                        if s.as_mut().poll(cx).is_ready() {
                            return Poll::Ready(());
                        }
                        State::Coarse(s)
                    }
                };
                Poll::Pending
            }
            State::Precise(slot) => {
                *slot.waker.lock() = Some(cx.waker().clone());
                if slot.fired.load(Ordering::Acquire) {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                }
            }
            State::Coarse(s) => s.as_mut().poll(cx),
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let State::Precise(slot) = &self.state {
            // Release the task's waker now rather than at the deadline.
            slot.waker.lock().take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn never_early_and_rarely_late() {
        let mut late = Vec::new();
        for i in 0..20u64 {
            let d = Instant::now() + Duration::from_micros(1_000 + 137 * i);
            sleep_until(d).await;
            let now = Instant::now();
            assert!(now >= d);
            late.push(now - d);
        }
        late.sort();
        println!(
            "precise timer lateness: median {:?}, max {:?}",
            late[10], late[19]
        );
        assert!(late[10] < Duration::from_millis(1), "median {:?}", late[10]);
    }

    #[tokio::test]
    async fn out_of_order_deadlines_all_fire() {
        let now = Instant::now();
        let a = sleep_until(now + Duration::from_millis(30));
        let b = sleep_until(now + Duration::from_millis(5));
        let (ra, rb) = tokio::join!(
            async {
                a.await;
                Instant::now()
            },
            async {
                b.await;
                Instant::now()
            }
        );
        assert!(rb >= now + Duration::from_millis(5) && rb < ra);
        assert!(ra >= now + Duration::from_millis(30));
    }
}
