//! meshcon, the console: a terminal UI and command line over a service
//! mesh, with a real two-cluster mini-mesh (the `mesh` crate) inside.
//!
//! - [`cli`]: the command line (clap) and dispatch.
//! - [`client`]: the console API client every command and the TUI use.
//! - [`commands`]: `up`, `get`, `apply`, `history`, `chaos`, `bench`...
//! - [`output`]: tables, JSON and YAML for people and scripts.
//! - [`tui`]: the console (TUI) over a mesh.
//! - [`practice`]: vocabulary practice: glossary, exercises, progress.

pub mod cli;
pub mod client;
pub mod commands;
pub mod output;
pub mod practice;
pub mod tui;

/// Every program built on meshcon (the binary, its tests and benchmarks)
/// allocates with mimalloc: the sidecars allocate per request from many
/// threads, where glibc's malloc cost about a third of their CPU (measured
/// with `meshcon bench dataplane`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[cfg(test)]
mod contract {
    use std::path::Path;

    /// The console reads a mesh through `mesh::api` only (plus `runtime` to
    /// host the embedded mesh and `bench` to run benchmarks): a view that
    /// reached into the mesh's insides could not work on a real Istio mesh.
    #[test]
    fn console_imports_only_the_mesh_api() {
        fn walk(dir: &Path, bad: &mut Vec<String>) {
            for e in std::fs::read_dir(dir).expect("read src").flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, bad);
                    continue;
                }
                let text = std::fs::read_to_string(&p).expect("read file");
                for (n, line) in text.lines().enumerate() {
                    for (i, _) in line.match_indices("mesh::") {
                        let before = line[..i].chars().last();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"') {
                            continue;
                        }
                        let rest = &line[i + "mesh::".len()..];
                        let module: String = rest
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        if !["api", "runtime", "bench"].contains(&module.as_str()) {
                            bad.push(format!("{}:{}: {}", p.display(), n + 1, line.trim()));
                        }
                    }
                }
            }
        }
        let mut bad = Vec::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut bad);
        assert!(
            bad.is_empty(),
            "the console reaches past mesh::api:\n{}",
            bad.join("\n")
        );
    }
}
