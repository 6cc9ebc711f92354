//! Where the console's data comes from. Every view reads [`DataEvent`]s
//! and sends [`Command`]s; two sources speak that contract:
//!
//! - [`meshcon`]: a meshcon mesh's console API (the playground, or one
//!   started elsewhere and attached to);
//! - [`real`]: a real Istio or Linkerd mesh, assembled from its Prometheus
//!   (or direct scrapes of its proxies), trace receivers and kubectl.
//!
//! A source says up front what it cannot do ([`SourceInfo::missing`]), so
//! the console greys those features with a reason instead of failing.
//!
//! [`DataEvent`]: super::data::DataEvent
//! [`Command`]: super::data::Command

pub mod meshcon;
pub mod real;

pub use real::RealMesh;

/// The data source the console is opened on.
#[derive(Debug)]
pub enum Source {
    /// A meshcon mesh's console API at this address.
    Meshcon {
        /// HOST:PORT.
        addr: String,
    },
    /// A real mesh.
    Real(Box<RealMesh>),
}

/// A console feature a source may lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Breaking things on purpose (and the live drills built on it).
    Chaos,
    /// Scripted scenarios.
    Scenarios,
    /// "Why": a proxy's own account of a request's path.
    Why,
    /// Rolling back or diffing config versions.
    Versions,
    /// The live request tap.
    Tap,
    /// The control plane's event stream.
    Events,
}

impl Feature {
    /// What the feature is called on screen.
    pub fn name(self) -> &'static str {
        match self {
            Feature::Chaos => "chaos and live drills",
            Feature::Scenarios => "scenarios",
            Feature::Why => "Why",
            Feature::Versions => "rollback and diff",
            Feature::Tap => "the tap",
            Feature::Events => "events",
        }
    }
}

/// What the console is attached to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceInfo {
    /// What the footer says (`prometheus http://127.0.0.1:9090 · istio`).
    pub label: String,
    /// Whether this is a real mesh rather than a meshcon one.
    pub real: bool,
    /// Features this source cannot offer, each with a one-line reason.
    pub missing: Vec<(Feature, String)>,
}

impl SourceInfo {
    /// A meshcon mesh: everything is there.
    pub fn meshcon(addr: &str) -> SourceInfo {
        SourceInfo {
            label: addr.to_string(),
            real: false,
            missing: Vec::new(),
        }
    }

    /// Why `f` is not available here, if it is not.
    pub fn lacks(&self, f: Feature) -> Option<&str> {
        self.missing
            .iter()
            .find(|(m, _)| *m == f)
            .map(|(_, why)| why.as_str())
    }
}
