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
