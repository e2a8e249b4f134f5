//! Connection commands.
//!
//! ```text
//! PING [message]            +PONG | $message
//! ECHO message              $message
//! HELLO [2|3 [SETNAME name]] map of server facts; switches RESP version
//! SELECT 0                  +OK (Meridian has one database)
//! CLIENT ID | GETNAME | SETNAME name
//! QUIT                      +OK, then the server closes the connection
//! ```

use super::{CmdResult, Ctx};
use bytes::Bytes;
use meridian_resp::{Args, CommandError, Protocol, Reply};

pub fn ping(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => Ok(Reply::simple("PONG")),
        2 => Ok(Reply::bulk(args[1].clone())),
        _ => Err(CommandError::new(meridian_resp::wrong_args("ping"))),
    }
}

pub fn echo(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    Ok(Reply::bulk(args[1].clone()))
}

pub fn select(_ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match meridian_core::num::parse_i64(&args[1]) {
        Some(0) => Ok(Reply::ok()),
        Some(_) => Err(CommandError::new("ERR DB index is out of range")),
        None => Err(CommandError::new(
            "ERR value is not an integer or out of range",
        )),
    }
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.conn.closing = true;
    Ok(Reply::ok())
}

pub fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut a = Args::new(args);
    let mut proto = ctx.conn.proto;
    let mut name = None;
    if a.remaining() > 0 {
        let v = a.next_i64().map_err(|_| {
            CommandError::new("ERR Protocol version is not an integer or out of range")
        })?;
        proto = Protocol::from_version(v)
            .ok_or_else(|| CommandError::new("NOPROTO unsupported protocol version"))?;
        while a.remaining() > 0 {
            if a.next_keyword_ci("SETNAME") {
                name = Some(client_name(a.next_bytes()?)?);
            } else if a.next_keyword_ci("AUTH") {
                return Err(CommandError::new(
                    "ERR AUTH called without any password configured for the default user",
                ));
            } else {
                let opt = String::from_utf8_lossy(a.next_bytes()?).to_string();
                return Err(CommandError::new(format!(
                    "ERR Syntax error in HELLO option '{opt}'"
                )));
            }
        }
    }
    ctx.conn.proto = proto;
    if name.is_some() {
        ctx.conn.name = name;
    }
    let version = match proto {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    };
    let s = |v: &str| Reply::bulk(Bytes::copy_from_slice(v.as_bytes()));
    Ok(Reply::Map(vec![
        (s("server"), s("meridian")),
        (s("version"), s(crate::REDIS_COMPAT_VERSION)),
        (s("proto"), Reply::integer(version)),
        (s("id"), Reply::integer(ctx.conn.id as i64)),
        (s("mode"), s("standalone")),
        (s("role"), s("master")),
        (s("modules"), Reply::Array(vec![])),
    ]))
}

fn client_name(b: &Bytes) -> Result<String, CommandError> {
    // Redis refuses spaces and newlines so that CLIENT LIST stays parseable.
    if b.iter().any(|&c| c <= b' ' || c > b'~') {
        return Err(CommandError::new(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(String::from_utf8_lossy(b).to_string())
}

pub fn client(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("id", 2) => Ok(Reply::integer(ctx.conn.id as i64)),
        ("getname", 2) => Ok(Reply::bulk_or_null(ctx.conn.name.clone().map(Bytes::from))),
        ("setname", 3) => {
            let name = client_name(&args[2])?;
            ctx.conn.name = if name.is_empty() { None } else { Some(name) };
            Ok(Reply::ok())
        }
        // Clients such as redis-py send these on connect; accept them.
        ("setinfo", 4) => Ok(Reply::ok()),
        ("info", 2) => Ok(Reply::bulk(Bytes::from(format!(
            "id={} addr={} name={} resp={}\n",
            ctx.conn.id,
            ctx.conn.addr,
            ctx.conn.name.as_deref().unwrap_or(""),
            if ctx.conn.proto == Protocol::Resp3 {
                3
            } else {
                2
            }
        )))),
        ("id" | "getname" | "setname" | "setinfo" | "info", _) => Err(CommandError::new(format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        ))),
        _ => Err(CommandError::new(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            String::from_utf8_lossy(&args[1])
        ))),
    }
}
