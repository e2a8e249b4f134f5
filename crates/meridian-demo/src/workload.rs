//! The mixed workload: paced clients in every region, some of them writing
//! the same keys at the same time.
//!
//! Every key carries a per-run prefix, so a kept `--data` directory from an
//! earlier run does not disturb this run's checks. Per command:
//!
//! | share | command | keys | what it shows |
//! |---|---|---|---|
//! | 30% | SET | hot keys, shared by every region | last-write-wins conflicts |
//! | 20% | INCR / INCRBY | hot counters, shared | no increment lost |
//! | 25% | SET | this region's own keys | plain replication |
//! | 5% | DEL | own keys, sometimes a hot key | observed-remove deletes |
//! | 12% | GET | own or hot key | local reads |
//! | 8% | MGET | own, hot and counter keys | multi-key reads |
//!
//! `--rate` paces writes; reads come on top.

use crate::probe::REQUEST_TIMEOUT;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use redis::aio::MultiplexedConnection;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

/// How often a client sends what its pace owes, as one pipeline. Short, so
/// writes are spread evenly rather than in bursts.
pub const TICK: Duration = Duration::from_millis(5);

/// Most writes in one pipeline. A client that fell behind (the machine
/// stalled) forgives the rest of its debt instead of bursting to catch up,
/// which would show up as lag that the links did not cause.
pub const PIPELINE_WRITES_MAX: u64 = 64;

/// Longest wait for the clients to finish their last pipeline when asked
/// to stop; those still running after it are aborted.
pub const STOP_TIMEOUT: Duration = REQUEST_TIMEOUT;

/// Pause between attempts to reconnect to a region that went away (one
/// killed with the `kill` command, until `restart`).
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// Largest INCRBY increment.
const INCRBY_MAX: i64 = 10;

/// Keys of one run.
#[derive(Clone, Debug)]
pub struct KeySpace {
    /// `demo:<run id>:`.
    pub prefix: String,
    /// Own keys per region.
    pub keys: u64,
    /// Hot keys, and hot counters, shared by every region.
    pub hot: u64,
}

impl KeySpace {
    pub fn hot_key(&self, i: u64) -> String {
        format!("{}hot:{i}", self.prefix)
    }
    pub fn counter(&self, i: u64) -> String {
        format!("{}ctr:{i}", self.prefix)
    }
    pub fn own_key(&self, region: &str, i: u64) -> String {
        format!("{}{region}:{i}", self.prefix)
    }
    /// Every counter key.
    pub fn counters(&self) -> Vec<String> {
        (0..self.hot).map(|i| self.counter(i)).collect()
    }
}

/// Acknowledged commands of one region's clients.
#[derive(Default, Debug)]
pub struct RegionCounters {
    /// Every acknowledged command, reads and writes.
    pub ops: AtomicU64,
    pub writes: AtomicU64,
    pub reads: AtomicU64,
    /// Commands in pipelines that failed (not counted above).
    pub errors: AtomicU64,
    /// Sum of acknowledged INCR/INCRBY increments.
    pub increments: AtomicI64,
}

/// The running clients of every region.
pub struct Workload {
    tasks: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
    /// Per region, in plan order.
    pub counters: Arc<Vec<RegionCounters>>,
    /// The first error a client met, for the summary.
    pub first_error: Arc<Mutex<Option<String>>>,
}

/// One client's settings.
struct Client {
    region: String,
    addr: std::net::SocketAddr,
    conn: MultiplexedConnection,
    /// The connection failed: reconnect (at most every
    /// [`RECONNECT_PAUSE`]) before sending more.
    broken: Option<Instant>,
    writes_per_s: f64,
    keys: KeySpace,
    rng: StdRng,
    counters: Arc<Vec<RegionCounters>>,
    index: usize,
    first_error: Arc<Mutex<Option<String>>>,
}

impl Workload {
    /// Opens `clients` connections to each `(region, client address)` and
    /// starts them, each writing `rate / clients` writes/s.
    pub async fn start(
        regions: &[(String, std::net::SocketAddr)],
        clients: usize,
        rate: u64,
        keys: &KeySpace,
    ) -> anyhow::Result<Workload> {
        let (stop, stop_rx) = watch::channel(false);
        let counters: Arc<Vec<RegionCounters>> =
            Arc::new(regions.iter().map(|_| RegionCounters::default()).collect());
        let first_error = Arc::new(Mutex::new(None));
        let mut tasks = Vec::new();
        for (index, (region, addr)) in regions.iter().enumerate() {
            for _ in 0..clients {
                let c = Client {
                    region: region.clone(),
                    addr: *addr,
                    conn: crate::probe::connect(*addr).await?,
                    broken: None,
                    writes_per_s: rate as f64 / clients as f64,
                    keys: keys.clone(),
                    rng: StdRng::from_entropy(),
                    counters: counters.clone(),
                    index,
                    first_error: first_error.clone(),
                };
                tasks.push(tokio::spawn(c.run(stop_rx.clone())));
            }
        }
        Ok(Workload {
            tasks,
            stop,
            counters,
            first_error,
        })
    }

    /// Stops the clients after their current pipeline, so every write
    /// they count was acknowledged and no write is in flight afterwards.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let deadline = Instant::now() + STOP_TIMEOUT;
        for t in self.tasks {
            let abort = t.abort_handle();
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// The commands of one pipeline and what they count for.
#[derive(Default)]
struct Batch {
    pipe: redis::Pipeline,
    writes: u64,
    reads: u64,
    increments: i64,
}

impl Client {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let started = Instant::now();
        let mut paid = 0u64;
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            let due = (started.elapsed().as_secs_f64() * self.writes_per_s) as u64;
            // Forgive debt beyond one full pipeline (see PIPELINE_WRITES_MAX).
            paid = paid.max(due.saturating_sub(PIPELINE_WRITES_MAX));
            let owed = due.saturating_sub(paid);
            if owed == 0 {
                continue;
            }
            paid += owed;
            if !self.reconnected().await {
                // The region is away: what falls due meanwhile fails.
                self.counters[self.index]
                    .errors
                    .fetch_add(owed, Ordering::Relaxed);
                continue;
            }
            let batch = self.batch(owed);
            self.send(batch).await;
        }
    }

    /// Whether the connection is usable, reconnecting if it failed and
    /// the pause since the last attempt is over.
    async fn reconnected(&mut self) -> bool {
        let Some(since) = self.broken else {
            return true;
        };
        if since.elapsed() < RECONNECT_PAUSE {
            return false;
        }
        match crate::probe::connect(self.addr).await {
            Ok(c) => {
                self.conn = c;
                self.broken = None;
                true
            }
            Err(_) => {
                self.broken = Some(Instant::now());
                false
            }
        }
    }

    async fn send(&mut self, b: Batch) {
        let c = &self.counters[self.index];
        let sent = b.pipe.query_async::<redis::Value>(&mut self.conn);
        match tokio::time::timeout(REQUEST_TIMEOUT, sent).await {
            Ok(Ok(_)) => {
                c.writes.fetch_add(b.writes, Ordering::Relaxed);
                c.reads.fetch_add(b.reads, Ordering::Relaxed);
                c.ops.fetch_add(b.writes + b.reads, Ordering::Relaxed);
                c.increments.fetch_add(b.increments, Ordering::Relaxed);
            }
            Ok(Err(e)) => self.failed(&b, e.to_string()),
            Err(_) => self.failed(&b, format!("no answer in {REQUEST_TIMEOUT:?}")),
        }
    }

    fn failed(&mut self, b: &Batch, why: String) {
        self.broken = Some(Instant::now());
        let c = &self.counters[self.index];
        c.errors.fetch_add(b.writes + b.reads, Ordering::Relaxed);
        let mut first = self
            .first_error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if first.is_none() {
            tracing::warn!(region = %self.region, "workload pipeline failed: {why}");
            *first = Some(format!("{}: {why}", self.region));
        }
    }

    /// Commands until `writes` writes are in, with reads mixed in.
    fn batch(&mut self, writes: u64) -> Batch {
        let mut b = Batch::default();
        while b.writes < writes {
            self.command(&mut b);
        }
        b
    }

    fn command(&mut self, b: &mut Batch) {
        let k = &self.keys;
        let r = &mut self.rng;
        let roll = r.gen_range(0..100u32);
        let hot = r.gen_range(0..k.hot);
        let own = r.gen_range(0..k.keys);
        let value = format!("{}:{}", self.region, r.gen::<u32>());
        match roll {
            0..=29 => {
                b.pipe.cmd("SET").arg(k.hot_key(hot)).arg(value);
                b.writes += 1;
            }
            30..=49 => {
                let by = if roll < 40 {
                    b.pipe.cmd("INCR").arg(k.counter(hot));
                    1
                } else {
                    let by = r.gen_range(1..=INCRBY_MAX);
                    b.pipe.cmd("INCRBY").arg(k.counter(hot)).arg(by);
                    by
                };
                b.increments += by;
                b.writes += 1;
            }
            50..=74 => {
                b.pipe
                    .cmd("SET")
                    .arg(k.own_key(&self.region, own))
                    .arg(value);
                b.writes += 1;
            }
            75..=79 => {
                let key = if roll == 79 {
                    k.hot_key(hot)
                } else {
                    k.own_key(&self.region, own)
                };
                b.pipe.cmd("DEL").arg(key);
                b.writes += 1;
            }
            80..=91 => {
                let key = if roll < 86 {
                    k.own_key(&self.region, own)
                } else {
                    k.hot_key(hot)
                };
                b.pipe.cmd("GET").arg(key);
                b.reads += 1;
            }
            _ => {
                b.pipe
                    .cmd("MGET")
                    .arg(k.own_key(&self.region, own))
                    .arg(k.own_key(&self.region, (own + 1) % k.keys))
                    .arg(k.hot_key(hot))
                    .arg(k.counter(hot));
                b.reads += 1;
            }
        }
    }
}
