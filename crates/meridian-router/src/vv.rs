//! Version vectors as the router sees them: the session tokens of
//! `MERIDIAN.SESSION` (`v1:region=seq,...`), keyed by region name.
//!
//! The router never needs region ids: it only merges tokens (pointwise
//! maximum), compares them (does a region's point cover a session's?) and
//! prints them back for `MERIDIAN.WAITFOR`.
//!
//! ```
//! use meridian_router::vv::Vv;
//! let mut session = Vv::parse_token(b"v1:eu-london=7,us-east=2").unwrap();
//! let dublin = Vv::parse_token(b"v1:eu-london=6,us-east=9").unwrap();
//! assert!(!dublin.dominates(&session)); // Dublin lacks London's 7th op
//! session.merge(&dublin);
//! assert_eq!(session.to_token(), "v1:eu-london=7,us-east=9");
//! ```

use std::collections::BTreeMap;

/// Longest token accepted, in bytes: 64 regions (the core's
/// `REGIONS_MAX`) of 64-byte names and 20-digit sequences fit in 6 KiB.
/// A longer reply is not a token.
pub const TOKEN_BYTES_MAX: usize = 8 * 1024;

/// Longest region name, in bytes (the core's `REGION_NAME_BYTES_MAX`).
pub const REGION_NAME_BYTES_MAX: usize = 64;

/// The core's rule for region names: 1 to 64 bytes of a-z, 0-9, '-', '_'.
/// (Repeated here so the router does not depend on the core.)
pub fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= REGION_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A causal point: for each origin region, how many of its ops are covered.
/// Regions not named are at 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vv(BTreeMap<String, u64>);

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid session token (expected v1:region=seq,...): {0}")]
pub struct TokenError(pub String);

impl Vv {
    /// The empty point (covers nothing).
    pub fn new() -> Vv {
        Vv::default()
    }

    /// Parses `v1:region=seq,...` (what `MERIDIAN.SESSION` returns).
    pub fn parse_token(token: &[u8]) -> Result<Vv, TokenError> {
        let bad = |why: &str| TokenError(why.to_string());
        if token.len() > TOKEN_BYTES_MAX {
            return Err(bad("too long"));
        }
        let text = std::str::from_utf8(token).map_err(|_| bad("not UTF-8"))?;
        let body = text
            .strip_prefix("v1:")
            .ok_or_else(|| bad("no v1: prefix"))?;
        let mut vv = Vv::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            let (name, seq) = part.split_once('=').ok_or_else(|| bad(part))?;
            if !valid_region_name(name) {
                return Err(bad(name));
            }
            let seq: u64 = seq.parse().map_err(|_| bad(part))?;
            vv.set(name, seq);
        }
        Ok(vv)
    }

    /// The token text, regions in name order, zero entries left out.
    pub fn to_token(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(r, s)| format!("{r}={s}")).collect();
        format!("v1:{}", parts.join(","))
    }

    /// Ops of `region` covered.
    pub fn get(&self, region: &str) -> u64 {
        self.0.get(region).copied().unwrap_or(0)
    }

    /// Sets the entry of `region` (0 removes it).
    pub fn set(&mut self, region: &str, seq: u64) {
        if seq == 0 {
            self.0.remove(region);
        } else {
            self.0.insert(region.to_string(), seq);
        }
    }

    /// True if nothing is covered.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Pointwise maximum: afterwards `self` covers both points.
    pub fn merge(&mut self, other: &Vv) {
        for (r, s) in &other.0 {
            let e = self.0.entry(r.clone()).or_insert(0);
            *e = (*e).max(*s);
        }
    }

    /// True if `self` covers everything `other` covers.
    pub fn dominates(&self, other: &Vv) -> bool {
        other.0.iter().all(|(r, s)| self.get(r) >= *s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_server_prints() {
        assert_eq!(Vv::parse_token(b"v1:").unwrap(), Vv::new());
        let v = Vv::parse_token(b"v1:a=1,b-2=30").unwrap();
        assert_eq!((v.get("a"), v.get("b-2"), v.get("c")), (1, 30, 0));
        assert_eq!(v.to_token(), "v1:a=1,b-2=30");
        assert_eq!(Vv::new().to_token(), "v1:");
    }

    #[test]
    fn refuses_garbage() {
        for bad in [
            &b""[..],
            b"v2:a=1",
            b"v1:a",
            b"v1:a=x",
            b"v1:A=1",
            b"v1:a=-1",
            &[0xff, 0xfe],
        ] {
            assert!(Vv::parse_token(bad).is_err(), "{bad:?}");
        }
        assert!(Vv::parse_token(&vec![b'v'; TOKEN_BYTES_MAX + 1]).is_err());
    }

    #[test]
    fn merge_and_dominates() {
        let a = Vv::parse_token(b"v1:x=3,y=1").unwrap();
        let b = Vv::parse_token(b"v1:x=2,z=5").unwrap();
        assert!(!a.dominates(&b) && !b.dominates(&a));
        let mut m = a.clone();
        m.merge(&b);
        assert!(m.dominates(&a) && m.dominates(&b));
        assert_eq!(m.to_token(), "v1:x=3,y=1,z=5");
        assert!(a.dominates(&Vv::new()));
    }
}
