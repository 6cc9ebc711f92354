//! Istio's reference material (samples, analyzer and validation test
//! inputs), kept outside the repository in `../shared/peers` or wherever
//! `MESHCON_PEERS` points. Tests that compare with it run when it is there;
//! on a clone without it they say on stderr that they were skipped, and why,
//! instead of failing.

use std::path::PathBuf;

/// Where the material is expected: `MESHCON_PEERS`, else `../shared/peers`
/// next to the repository.
pub fn root() -> PathBuf {
    std::env::var_os("MESHCON_PEERS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/peers"))
}

/// The material's root when present; otherwise `None`, after telling stderr
/// that the calling test was skipped.
pub fn find() -> Option<PathBuf> {
    let root = root();
    // SOURCES.md marks a complete copy; a bare directory is not one.
    if root.join("SOURCES.md").exists() {
        return Some(root);
    }
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("test");
    eprintln!(
        "{test}: skipped: Istio reference material not found at {} (set MESHCON_PEERS)",
        root.display()
    );
    None
}

/// Istio's files in the reference material, for the tests that compare
/// with them.
pub struct Istio {
    /// `istio/` inside the material: Istio's own tree, paths as there.
    pub root: PathBuf,
}

impl Istio {
    /// The material, or `None` when it is missing and the test is skipped
    /// (the skip is reported on stderr).
    pub fn find() -> Option<Self> {
        find().map(|p| Istio {
            root: p.join("istio"),
        })
    }

    /// A file of Istio's tree, by its path there.
    pub fn read(&self, rel: &str) -> String {
        let path = self.root.join(rel);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}
