//! Commands: parse a request's arguments, run it against the node, build the
//! reply. One file per command family; each documents its wire format.

mod connection;
mod counters;
pub mod expire;
mod hashes;
mod keys;
mod lists;
mod meridian;
mod server;
mod sets;
mod strings;
pub mod table;
mod zsets;

use crate::conn::ConnState;
use crate::shared::Shared;
use bytes::Bytes;
use meridian_core::key::View;
use meridian_core::op::{KEY_BYTES_MAX, VALUE_BYTES_MAX};
use meridian_core::{FieldWrite, Kind, Node, Write};
use meridian_resp::{CommandError, Reply};

/// Redis's reply to a command on a key of another type.
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// The WRONGTYPE error.
pub fn wrongtype() -> CommandError {
    CommandError::new(WRONGTYPE)
}

/// Refuses a key over the size every region can carry.
pub fn check_key(key: &[u8]) -> Result<(), CommandError> {
    if key.len() > KEY_BYTES_MAX {
        return Err(CommandError::new(format!(
            "ERR key is {} bytes; the limit is {KEY_BYTES_MAX}",
            key.len()
        )));
    }
    Ok(())
}

/// Refuses a write whose arguments together exceed what one replicated op
/// may carry (every write is one op, shipped whole to every region).
pub fn check_total(args: &[Bytes]) -> Result<(), CommandError> {
    check_key(&args[1])?;
    let total: usize = args[2..].iter().map(|a| a.len()).sum();
    if total > VALUE_BYTES_MAX {
        return Err(CommandError::new(format!(
            "ERR arguments total {total} bytes; one write may carry at most {VALUE_BYTES_MAX}"
        )));
    }
    Ok(())
}

/// Copies request bytes (which share the connection's read buffer) so the
/// keyspace never pins a large buffer with a small value.
fn own(b: Bytes) -> Bytes {
    Bytes::copy_from_slice(&b)
}

fn own_write(write: Write) -> Write {
    match write {
        Write::Set {
            value,
            expire_at_ms,
        } => Write::Set {
            value: own(value),
            expire_at_ms,
        },
        Write::Fields { kind, writes } => Write::Fields {
            kind,
            writes: writes
                .into_iter()
                .map(|(f, w)| {
                    let w = match w {
                        FieldWrite::Set(v) => FieldWrite::Set(own(v)),
                        other => other,
                    };
                    (own(f), w)
                })
                .collect(),
        },
        Write::ListInsert { after, values } => Write::ListInsert {
            after,
            values: values.into_iter().map(own).collect(),
        },
        Write::ListSet { id, value } => Write::ListSet {
            id,
            value: own(value),
        },
        Write::Resolve { context, value } => Write::Resolve {
            context,
            value: own(value),
        },
        other => other,
    }
}

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
    /// Set by a command that must wait (MERIDIAN.WAITFOR,
    /// MERIDIAN.SNAPSHOT); the connection waits outside the state lock and
    /// then replies.
    pub wait: Option<Wait>,
}

/// What a command waits for outside the state lock.
pub enum Wait {
    /// MERIDIAN.WAITFOR: this region to reach a causal point.
    Applied {
        vv: meridian_core::VersionVector,
        timeout: std::time::Duration,
    },
    /// MERIDIAN.SNAPSHOT: a snapshot to be written (see `crate::snapshot`).
    Snapshot,
}

/// A command's result: a reply, or an error reply.
pub type CmdResult = Result<Reply, CommandError>;

impl Ctx<'_> {
    /// Makes a write: applies it, and appends its op to the log.
    pub fn write(&mut self, key: Bytes, write: Write) {
        let op = self.node.write(self.now_ms, own(key), own_write(write));
        self.log_op(&op);
    }

    /// Appends an op already applied to the log.
    pub fn log_op(&mut self, op: &meridian_core::Op) {
        self.record.clear();
        op.encode_into(&mut self.record);
        match self.shared.log.append(&self.record) {
            Ok(lsn) => self.lsn = lsn,
            // The op is applied in memory and cannot be taken back; running
            // on with state the log does not hold would lose it silently.
            Err(e) => panic!("log append failed, stopping: {e}"),
        }
    }

    /// The key as readers see it now.
    pub fn view(&self, key: &[u8]) -> Option<View<'_>> {
        self.node.view(key, self.now_ms)
    }

    /// The key if it holds `kind` (`None` if it holds nothing); WRONGTYPE if
    /// it holds another type.
    pub fn typed(&self, key: &[u8], kind: Kind) -> Result<Option<View<'_>>, CommandError> {
        match self.view(key) {
            None => Ok(None),
            Some(v) if v.kind == kind => Ok(Some(v)),
            Some(_) => Err(wrongtype()),
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
