//! One region server running as a child process, killed when dropped.

use anyhow::Context;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// How much of a failed region's log an error message quotes, in bytes.
pub const LOG_TAIL_BYTES: u64 = 4 * 1024;

/// Environment variable the server reads its cluster secret from; passing
/// it there keeps the secret out of `ps` output.
const SECRET_ENV: &str = "MERIDIAN_CLUSTER_SECRET";

/// What a region server is started with.
pub struct RegionSpec<'a> {
    pub bin: &'a Path,
    pub region: &'a str,
    pub listen: SocketAddr,
    pub repl: SocketAddr,
    /// `(peer name, address this region dials to reach it)`.
    pub peers: Vec<(String, SocketAddr)>,
    pub data: PathBuf,
    pub log: PathBuf,
    pub fsync: &'a str,
    /// `--siblings` patterns.
    pub siblings: &'a [String],
    /// `--log-retention-secs`, if given.
    pub log_retention_secs: Option<u64>,
    pub cluster: &'a str,
    pub secret: &'a str,
}

/// A running region server. Dropping it kills the process and waits for it,
/// so no server outlives the demo, whichever way the demo ends.
pub struct RegionProcess {
    pub region: String,
    pub listen: SocketAddr,
    pub log: PathBuf,
    bin: PathBuf,
    args: Vec<String>,
    secret: String,
    child: Child,
}

impl RegionProcess {
    /// Starts `bin server ...` with stderr (the server's log) to `spec.log`.
    pub fn spawn(spec: &RegionSpec<'_>) -> anyhow::Result<RegionProcess> {
        let mut args: Vec<String> = vec![
            "server".into(),
            "--region".into(),
            spec.region.into(),
            "--listen".into(),
            spec.listen.to_string(),
            "--repl".into(),
            spec.repl.to_string(),
            "--data".into(),
            spec.data.display().to_string(),
            "--fsync".into(),
            spec.fsync.into(),
            "--cluster".into(),
            spec.cluster.into(),
        ];
        for pattern in spec.siblings {
            args.push("--siblings".into());
            args.push(pattern.clone());
        }
        if let Some(secs) = spec.log_retention_secs {
            args.push("--log-retention-secs".into());
            args.push(secs.to_string());
        }
        for (name, addr) in &spec.peers {
            args.push("--peer".into());
            args.push(format!("{name}={addr}"));
        }
        let child = start(spec.bin, &args, spec.secret, &spec.log, false)?;
        Ok(RegionProcess {
            region: spec.region.to_string(),
            listen: spec.listen,
            log: spec.log.clone(),
            bin: spec.bin.to_path_buf(),
            args,
            secret: spec.secret.to_string(),
            child,
        })
    }

    /// Starts the server again with the same flags and data directory
    /// (after [`RegionProcess::kill`]), appending to its log.
    pub fn respawn(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.child = start(&self.bin, &self.args, &self.secret, &self.log, true)?;
        Ok(())
    }

    /// `Some(description)` if the process has ended.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            Ok(None) => None,
            Err(e) => Some(format!("unknown state ({e})")),
        }
    }

    /// The end of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        match read_tail(&self.log) {
            Ok(t) if t.trim().is_empty() => "(the log is empty)".to_string(),
            Ok(t) => t,
            Err(e) => format!("(cannot read the log: {e})"),
        }
    }

    /// Kills the process (if still running) and reaps it.
    pub fn kill(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            if let Err(e) = self.child.kill() {
                tracing::warn!(region = %self.region, "cannot kill region server: {e}");
            }
        }
        if let Err(e) = self.child.wait() {
            tracing::warn!(region = %self.region, "cannot reap region server: {e}");
        }
    }
}

impl Drop for RegionProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn start(
    bin: &Path,
    args: &[String],
    secret: &str,
    log: &Path,
    append: bool,
) -> anyhow::Result<Child> {
    let file = File::options()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(log)
        .with_context(|| format!("create log file {}", log.display()))?;
    Command::new(bin)
        .args(args)
        .env(SECRET_ENV, secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(file)
        // Its own process group: a Ctrl-C in the terminal reaches only
        // the demo, which then stops the workload and checks convergence
        // while the regions are still up.
        .process_group(0)
        .spawn()
        .with_context(|| format!("start {} server", bin.display()))
}

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
