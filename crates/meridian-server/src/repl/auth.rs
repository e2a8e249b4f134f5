//! Handshake proofs: each side of a replication link proves it knows the
//! cluster secret by an HMAC over both nonces and both region names, so the
//! secret never travels and a recorded handshake cannot be replayed.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Which side a proof speaks for; the two sides' proofs differ so one cannot
/// be reflected back as the other.
#[derive(Clone, Copy)]
pub enum Side {
    Dialer,
    Acceptor,
}

/// A fresh random nonce.
pub fn nonce() -> Vec<u8> {
    let mut n = vec![0u8; meridian_core::protocol::NONCE_BYTES];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// What a proof covers.
pub struct Transcript<'a> {
    pub cluster: &'a str,
    pub dialer: &'a str,
    pub acceptor: &'a str,
    pub dialer_nonce: &'a [u8],
    pub acceptor_nonce: &'a [u8],
}

fn mac(secret: &str, side: Side, t: &Transcript<'_>) -> HmacSha256 {
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|e| panic!("HMAC accepts keys of any length: {e}"));
    m.update(match side {
        Side::Dialer => b"meridian-v1 dialer\0",
        Side::Acceptor => b"meridian-v1 acceptor",
    });
    for part in [
        t.cluster.as_bytes(),
        t.dialer.as_bytes(),
        t.acceptor.as_bytes(),
        t.dialer_nonce,
        t.acceptor_nonce,
    ] {
        m.update(&(part.len() as u32).to_le_bytes());
        m.update(part);
    }
    m
}

/// The proof `side` sends.
pub fn prove(secret: &str, side: Side, t: &Transcript<'_>) -> Vec<u8> {
    mac(secret, side, t).finalize().into_bytes().to_vec()
}

/// Checks a proof in constant time.
pub fn verify(secret: &str, side: Side, t: &Transcript<'_>, proof: &[u8]) -> bool {
    mac(secret, side, t).verify_slice(proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_bind_secret_side_and_nonces() {
        let t = Transcript {
            cluster: "c",
            dialer: "eu-west",
            acceptor: "us-east",
            dialer_nonce: b"n1",
            acceptor_nonce: b"n2",
        };
        let p = prove("secret-1", Side::Dialer, &t);
        assert!(verify("secret-1", Side::Dialer, &t, &p));
        assert!(!verify("secret-2", Side::Dialer, &t, &p));
        assert!(!verify("secret-1", Side::Acceptor, &t, &p));
        let t2 = Transcript {
            acceptor_nonce: b"n3",
            ..t
        };
        assert!(!verify("secret-1", Side::Dialer, &t2, &p));
    }
}
