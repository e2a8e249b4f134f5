//! [`Wan`]: the set of directed links of a local world, keyed by region.
//!
//! Each directed pair `(from, to)` gets its own [`LinkProxy`]: region
//! `from` dials the returned address to reach region `to`. A link carries
//! the connections `from` opens, in both directions, so `cut(from, to)`
//! breaks those connections only; `cut_region` breaks every link into and
//! out of a region.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::proxy::{LinkConfig, LinkProxy, LinkState, LinkStats};
use crate::WanError;

/// One row of [`Wan::links`].
#[derive(Debug, Clone, PartialEq)]
pub struct LinkInfo {
    /// Region that dials.
    pub from: String,
    /// Region being dialled.
    pub to: String,
    /// Address `from` dials (the proxy).
    pub listen: SocketAddr,
    /// Address the proxy forwards to (`to`'s server).
    pub target: SocketAddr,
    /// Current one-way delay.
    pub delay: Duration,
    /// Up or cut.
    pub state: LinkState,
    /// Counters.
    pub stats: LinkStats,
}

/// A collection of delaying links between named regions.
#[derive(Debug, Default)]
pub struct Wan {
    links: BTreeMap<(String, String), LinkProxy>,
}

fn key(from: &str, to: &str) -> (String, String) {
    (from.to_string(), to.to_string())
}

impl Wan {
    /// An empty WAN.
    pub fn new() -> Wan {
        Wan::default()
    }

    /// Starts a proxy on `127.0.0.1:0` forwarding to `target` with `delay`
    /// each way, and returns the address `from` should dial to reach `to`.
    /// Fails if the directed link already exists, the delay is out of
    /// range, or the bind fails.
    pub async fn add_link(
        &mut self,
        from: &str,
        to: &str,
        target: SocketAddr,
        delay: Duration,
    ) -> Result<SocketAddr, WanError> {
        let k = key(from, to);
        if self.links.contains_key(&k) {
            return Err(WanError::DuplicateLink { from: k.0, to: k.1 });
        }
        let listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let proxy = LinkProxy::start(listen, target, LinkConfig::new(delay)).await?;
        let addr = proxy.local_addr();
        self.links.insert(k, proxy);
        Ok(addr)
    }

    /// The proxy for a directed link, if any.
    pub fn link(&self, from: &str, to: &str) -> Option<&LinkProxy> {
        self.links.get(&key(from, to))
    }

    /// The address `from` dials to reach `to`, if the link exists.
    pub fn addr(&self, from: &str, to: &str) -> Option<SocketAddr> {
        self.link(from, to).map(LinkProxy::local_addr)
    }

    fn get(&self, from: &str, to: &str) -> Result<&LinkProxy, WanError> {
        self.link(from, to).ok_or_else(|| WanError::UnknownLink {
            from: from.to_string(),
            to: to.to_string(),
        })
    }

    /// Changes one link's delay (see [`LinkProxy::set_delay`]).
    pub fn set_delay(&self, from: &str, to: &str, delay: Duration) -> Result<(), WanError> {
        self.get(from, to)?.set_delay(delay)
    }

    /// Cuts one directed link (see [`LinkProxy::cut`]).
    pub fn cut(&self, from: &str, to: &str) -> Result<(), WanError> {
        self.get(from, to)?.cut();
        Ok(())
    }

    /// Heals one directed link.
    pub fn heal(&self, from: &str, to: &str) -> Result<(), WanError> {
        self.get(from, to)?.heal();
        Ok(())
    }

    /// Cuts every link into and out of `region`; returns how many links
    /// that is. Fails (cutting nothing) if no link touches `region`.
    pub fn cut_region(&self, region: &str) -> Result<usize, WanError> {
        let touching: Vec<&LinkProxy> = self
            .links
            .iter()
            .filter(|((f, t), _)| f == region || t == region)
            .map(|(_, p)| p)
            .collect();
        if touching.is_empty() {
            return Err(WanError::UnknownRegion(region.to_string()));
        }
        for p in &touching {
            p.cut();
        }
        Ok(touching.len())
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        for p in self.links.values() {
            p.heal();
        }
    }

    /// Every link, sorted by `(from, to)`.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.links
            .iter()
            .map(|((from, to), p)| LinkInfo {
                from: from.clone(),
                to: to.clone(),
                listen: p.local_addr(),
                target: p.target(),
                delay: p.delay(),
                state: p.state(),
                stats: p.stats(),
            })
            .collect()
    }

    /// Stops and removes one link, waiting until its sockets are closed.
    pub async fn remove_link(&mut self, from: &str, to: &str) -> Result<(), WanError> {
        let proxy = self
            .links
            .remove(&key(from, to))
            .ok_or_else(|| WanError::UnknownLink {
                from: from.to_string(),
                to: to.to_string(),
            })?;
        proxy.shutdown().await;
        Ok(())
    }

    /// Stops every link, waiting until all sockets are closed.
    pub async fn shutdown(self) {
        for (_, proxy) in self.links {
            proxy.shutdown().await;
        }
    }
}
