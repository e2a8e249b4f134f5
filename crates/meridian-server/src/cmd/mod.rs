//! Commands: parse a request's arguments, run it against the node, build the
//! reply. One file per command family; each documents its wire format.

mod connection;
mod counters;
mod keys;
mod meridian;
mod server;
mod strings;
pub mod table;

use crate::conn::ConnState;
use crate::shared::Shared;
use bytes::Bytes;
use meridian_core::{Node, Write};
use meridian_resp::{CommandError, Reply};

/// What a command runs with.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub node: &'a mut Node,
    pub conn: &'a mut ConnState,
    /// Wall-clock time for this pipeline, in milliseconds.
    pub now_ms: u64,
    /// Highest log position written by this pipeline (0 if none).
    pub lsn: u64,
    /// Scratch buffer for encoding ops, reused across one pipeline.
    pub record: Vec<u8>,
    /// Set by a command that must wait (MERIDIAN.WAITFOR); the connection
    /// waits outside the state lock and then replies.
    pub wait: Option<Wait>,
}

/// A wait for this region to reach a causal point.
pub struct Wait {
    pub vv: meridian_core::VersionVector,
    pub timeout: std::time::Duration,
}

/// A command's result: a reply, or an error reply.
pub type CmdResult = Result<Reply, CommandError>;

impl Ctx<'_> {
    /// Makes a write: applies it, and appends its op to the log.
    pub fn write(&mut self, key: Bytes, write: Write) {
        // Request arguments share the connection's read buffer; the keyspace
        // keeps its own copies so a small value never pins a large buffer.
        let key = Bytes::copy_from_slice(&key);
        let write = match write {
            Write::Set {
                value,
                expire_at_ms,
            } => Write::Set {
                value: Bytes::copy_from_slice(&value),
                expire_at_ms,
            },
            other => other,
        };
        let op = self.node.write(self.now_ms, key, write);
        self.record.clear();
        op.encode_into(&mut self.record);
        match self.shared.log.append(&self.record) {
            Ok(lsn) => self.lsn = lsn,
            // The op is applied in memory and cannot be taken back; running
            // on with state the log does not hold would lose it silently.
            Err(e) => panic!("log append failed, stopping: {e}"),
        }
    }

    /// Refuses writes when the log cannot take them, before anything is
    /// applied.
    pub fn check_writable(&self) -> Result<(), CommandError> {
        if self.shared.log.is_poisoned() {
            return Err(CommandError::new(
                "MISCONF Meridian cannot write its log; writes are refused until it is fixed",
            ));
        }
        Ok(())
    }
}

/// Runs one request; `args[0]` is the command name.
pub fn dispatch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Reply {
    let Some(spec) = table::lookup(&args[0]) else {
        return Reply::error(unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return Reply::error(meridian_resp::wrong_args(spec.name));
    }
    if spec.write {
        if let Err(e) = ctx.check_writable() {
            return e.into();
        }
    }
    (spec.run)(ctx, args).unwrap_or_else(Reply::from)
}

fn unknown_command(args: &[Bytes]) -> String {
    let name = String::from_utf8_lossy(&args[0]);
    let shown: Vec<String> = args[1..]
        .iter()
        .take(8)
        .map(|a| format!("'{}'", String::from_utf8_lossy(&a[..a.len().min(64)])))
        .collect();
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        &name[..name.len().min(128)],
        shown.join(" ")
    )
}
