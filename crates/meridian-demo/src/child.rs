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
    pub cluster: &'a str,
    pub secret: &'a str,
}

/// A running region server. Dropping it kills the process and waits for it,
/// so no server outlives the demo, whichever way the demo ends.
pub struct RegionProcess {
    pub region: String,
    pub listen: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

impl RegionProcess {
    /// Starts `bin server ...` with stderr (the server's log) to `spec.log`.
    pub fn spawn(spec: &RegionSpec<'_>) -> anyhow::Result<RegionProcess> {
        let log = File::create(&spec.log)
            .with_context(|| format!("create log file {}", spec.log.display()))?;
        let mut cmd = Command::new(spec.bin);
        cmd.arg("server")
            .args(["--region", spec.region])
            .arg("--listen")
            .arg(spec.listen.to_string())
            .arg("--repl")
            .arg(spec.repl.to_string())
            .arg("--data")
            .arg(&spec.data)
            .args(["--fsync", spec.fsync, "--cluster", spec.cluster]);
        for (name, addr) in &spec.peers {
            cmd.arg("--peer").arg(format!("{name}={addr}"));
        }
        cmd.env(SECRET_ENV, spec.secret)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            // Its own process group: a Ctrl-C in the terminal reaches only
            // the demo, which then stops the workload and checks convergence
            // while the regions are still up.
            .process_group(0);
        let child = cmd
            .spawn()
            .with_context(|| format!("start {} server", spec.bin.display()))?;
        Ok(RegionProcess {
            region: spec.region.to_string(),
            listen: spec.listen,
            log: spec.log.clone(),
            child,
        })
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

fn read_tail(path: &Path) -> std::io::Result<String> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
