//! Region identities.
//!
//! Every region of a cluster is configured with the same set of region names.
//! Sorting that set gives every name a small index, the [`RegionId`], which is
//! the same in every region and is what version vectors, dots and tie-breaks
//! use. Comparing ids therefore compares names, so tie-breaks are deterministic
//! and human-explainable ("eu-west beats ap-southeast: later name wins").

use std::fmt;

/// Most regions one cluster may hold. Version vectors are dense arrays indexed
/// by region, so this bounds their size; seven regions is the largest world the
/// project measures, and 64 leaves room without letting a typo allocate huge
/// vectors.
pub const REGIONS_MAX: usize = 64;

/// Longest region name, in bytes. Names travel in every handshake and appear in
/// metrics labels, so they are kept short.
pub const REGION_NAME_BYTES_MAX: usize = 64;

/// Index of a region in the cluster's sorted list of names.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct RegionId(pub u16);

impl RegionId {
    /// The index as a `usize`, for indexing dense per-region arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for RegionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Errors in a set of region names.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegionError {
    #[error("region name {0:?} is invalid: use 1 to 64 characters from a-z, 0-9, '-' and '_'")]
    BadName(String),
    #[error("region {0:?} appears twice")]
    Duplicate(String),
    #[error("a cluster holds at most {REGIONS_MAX} regions, got {0}")]
    TooMany(usize),
    #[error("a cluster needs at least one region")]
    Empty,
    #[error("unknown region {0:?}")]
    Unknown(String),
}

/// The cluster's regions: a sorted list of unique names.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Regions {
    names: Vec<String>,
}

/// True if `name` is a valid region name.
pub fn valid_region_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= REGION_NAME_BYTES_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl Regions {
    /// Builds the region set from names in any order.
    ///
    /// Fails on an invalid or duplicate name, an empty set, or more than
    /// [`REGIONS_MAX`] names.
    pub fn new<I, S>(names: I) -> Result<Regions, RegionError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(RegionError::Empty);
        }
        if names.len() > REGIONS_MAX {
            return Err(RegionError::TooMany(names.len()));
        }
        if let Some(bad) = names.iter().find(|n| !valid_region_name(n)) {
            return Err(RegionError::BadName(bad.clone()));
        }
        names.sort();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(RegionError::Duplicate(w[0].clone()));
        }
        Ok(Regions { names })
    }

    /// Number of regions.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: a region set is never empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of `name`, or an error if it is not in the cluster.
    pub fn id(&self, name: &str) -> Result<RegionId, RegionError> {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .map(|i| RegionId(i as u16))
            .map_err(|_| RegionError::Unknown(name.to_string()))
    }

    /// The name of `id`. Panics on an id from another cluster: ids are only
    /// made by [`Regions::id`] and by decoding checked against `len()`.
    pub fn name(&self, id: RegionId) -> &str {
        &self.names[id.index()]
    }

    /// All names, sorted.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// All ids in order.
    pub fn ids(&self) -> impl Iterator<Item = RegionId> + '_ {
        (0..self.names.len()).map(|i| RegionId(i as u16))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_sorted_names() {
        let r = Regions::new(["us-east", "eu-west", "ap-southeast"]).unwrap();
        assert_eq!(r.id("ap-southeast").unwrap(), RegionId(0));
        assert_eq!(r.id("eu-west").unwrap(), RegionId(1));
        assert_eq!(r.id("us-east").unwrap(), RegionId(2));
        assert_eq!(r.name(RegionId(1)), "eu-west");
        assert!(r.id("mars").is_err());
    }

    #[test]
    fn rejects_bad_sets() {
        assert_eq!(Regions::new(Vec::<String>::new()), Err(RegionError::Empty));
        assert_eq!(
            Regions::new(["a", "a"]),
            Err(RegionError::Duplicate("a".into()))
        );
        assert!(matches!(
            Regions::new(["Bad Name"]),
            Err(RegionError::BadName(_))
        ));
        let many: Vec<String> = (0..65).map(|i| format!("r{i}")).collect();
        assert_eq!(Regions::new(many), Err(RegionError::TooMany(65)));
    }
}
