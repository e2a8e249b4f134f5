//! The pure core of Meridian: region identities, the hybrid logical clock,
//! version vectors, ops and their encoding, the replicated data types, and the
//! rules for applying local and remote writes.
//!
//! Nothing here performs I/O or reads a clock: time and messages come in as
//! arguments, ops and replies go out as values. That is what lets the
//! simulator run a whole multi-region world in one thread from a seed.
//!
//! ```
//! use meridian_core::{Node, Regions, Write};
//! use bytes::Bytes;
//!
//! let regions = Regions::new(["eu-west", "us-east"]).unwrap();
//! let mut eu = Node::new(regions.clone(), regions.id("eu-west").unwrap());
//! let mut us = Node::new(regions.clone(), regions.id("us-east").unwrap());
//!
//! // Both regions count page views at once; no increment is lost.
//! let a = eu.write(1_000, Bytes::from("views"), Write::IncrBy(2));
//! let b = us.write(1_000, Bytes::from("views"), Write::IncrBy(3));
//! us.receive(1_050, a).unwrap();
//! eu.receive(1_050, b).unwrap();
//! assert_eq!(eu.get(b"views", 1_100).unwrap(), "5");
//! assert_eq!(eu.digest(), us.digest());
//! ```

pub mod causal;
pub mod conflict;
pub mod counter;
pub mod expiry;
pub mod fields;
pub mod glob;
pub mod hlc;
pub mod key;
pub mod keyspace;
pub mod link;
pub mod list;
pub mod node;
pub mod num;
pub mod op;
pub mod protocol;
pub mod region;
pub mod snapshot;
pub mod string;
pub mod timing;
pub mod vv;
pub mod zset;

pub use hlc::{Hlc, HlcClock};
pub use node::{FieldWrite, Installed, Node, NodeStats, ReceiveError, Received, Write};
pub use op::{Kind, Op, OpBody};
pub use region::{RegionId, Regions};
pub use snapshot::{LogBase, Snapshot, SnapshotError};
pub use vv::{Dot, VersionVector};
