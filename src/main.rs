//! The `meshcon` binary: everything lives in the library (`src/lib.rs`).

fn main() -> std::process::ExitCode {
    // One process holds every listener and connection of the mesh: with the
    // usual soft limit (often 1024) a few thousand idle clients would use up
    // the descriptors and stop every port answering. The hard limit is ours
    // to take; if raising fails the mesh still runs with what it has.
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("meshcon: cannot raise the open-files limit ({e}); a busy mesh may run out of descriptors");
    }
    meshcon::cli::main()
}
