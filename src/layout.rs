//! Tests of the code's shape that the compiler does not check: the console
//! reads a mesh through `mesh::api` only, neither crate has import cycles
//! between its files, and no file grows into a room of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `root`, by module path (`proxy::outbound`; the
/// crate root is `crate`), with its code (comments left out) up to its unit tests.
fn sources(root: &Path) -> BTreeMap<String, (PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).expect("read source dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).expect("under root").with_extension("");
            let name = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("::");
            let name = if name == "lib" || name == "main" {
                "crate".to_string()
            } else {
                name
            };
            let text = std::fs::read_to_string(&p).expect("read source");
            // A file's own unit tests may reach anywhere.
            let text = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => text[..i].to_string(),
                None => text,
            };
            // Comments name modules without depending on them.
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .map(|l| format!("{l}\n"))
                .collect();
            (name, (p, code))
        })
        .collect()
}

/// The crate-relative paths a file names (`crate::a::b`, `super::c`,
/// `self::d`, and each item of a `use x::{..}` group), as written.
fn paths_named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    for start in ["crate::", "super::", "self::"] {
        for (i, _) in text.match_indices(start) {
            if text[..i]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
            {
                continue;
            }
            let path: String = text[i..].chars().take_while(|&c| ident(c)).collect();
            let path = path.trim_end_matches(':').to_string();
            // `use super::{a, b::c}`: each item extends the path.
            let after = &text[i + path.len()..];
            if let Some(group) = after.strip_prefix("::{") {
                if let Some(end) = group.find('}') {
                    for item in group[..end].split(',') {
                        let item = item.trim().split(" as ").next().unwrap_or("").trim();
                        if !item.is_empty() && item != "self" && !item.contains('{') {
                            out.push(format!("{path}::{item}"));
                        }
                    }
                }
            }
            out.push(path);
        }
    }
    out
}

/// The module a path lands in: the longest prefix that is a file.
fn resolve(modules: &BTreeSet<String>, current: &str, path: &str) -> Option<String> {
    let mut parts: Vec<&str> = path.split("::").collect();
    let mut base: Vec<&str> = if current == "crate" {
        vec![]
    } else {
        current.split("::").collect()
    };
    match parts.first() {
        Some(&"crate") => {
            base.clear();
            parts.remove(0);
        }
        _ => {
            while let Some(&p) = parts.first() {
                match p {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                parts.remove(0);
            }
        }
    }
    (0..=parts.len()).rev().find_map(|n| {
        let cand = base
            .iter()
            .chain(&parts[..n])
            .copied()
            .collect::<Vec<_>>()
            .join("::");
        let cand = if cand.is_empty() {
            "crate".to_string()
        } else {
            cand
        };
        modules.contains(&cand).then_some(cand)
    })
}

/// File-level import edges, leaving out a module and its own parents and
/// children (a parent declares its children; a child may use its parent's
/// items): those are one room, not a circle.
fn import_graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let src = sources(root);
    let modules: BTreeSet<String> = src.keys().cloned().collect();
    let related = |a: &str, b: &str| {
        a == "crate"
            || b == "crate"
            || a.starts_with(&format!("{b}::"))
            || b.starts_with(&format!("{a}::"))
    };
    src.iter()
        .map(|(m, (_, text))| {
            let to = paths_named(text)
                .iter()
                .filter_map(|p| resolve(&modules, m, p))
                .filter(|t| t != m && !related(m, t))
                .collect();
            (m.clone(), to)
        })
        .collect()
}

/// Groups of modules that import each other, directly or round a circle
/// (strongly connected components of more than one module).
fn cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Kosaraju: finish order on the graph, then components on its reverse.
    fn visit<'a>(
        v: &'a str,
        g: &'a BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<&'a str>,
        order: &mut Vec<&'a str>,
    ) {
        if !seen.insert(v) {
            return;
        }
        for w in g.get(v).into_iter().flatten() {
            visit(w, g, seen, order);
        }
        order.push(v);
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for v in g.keys() {
        visit(v, g, &mut seen, &mut order);
    }
    let mut reverse: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, tos) in g {
        for b in tos {
            reverse.entry(b.clone()).or_default().insert(a.clone());
        }
    }
    let mut assigned = BTreeSet::new();
    let mut out = Vec::new();
    for v in order.into_iter().rev() {
        let mut comp = Vec::new();
        visit(v, &reverse, &mut assigned, &mut comp);
        if comp.len() > 1 {
            let mut comp: Vec<String> = comp.into_iter().map(str::to_string).collect();
            comp.sort();
            out.push(comp);
        }
    }
    out
}

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The console reads a mesh through `mesh::api` only (plus `runtime` to
/// host the embedded mesh and `bench` to run benchmarks): a view that
/// reached into the mesh's insides could not work on a real Istio mesh.
#[test]
fn console_imports_only_the_mesh_api() {
    let mut bad = Vec::new();
    for (path, text) in sources(&manifest().join("src")).into_values() {
        for (n, line) in text.lines().enumerate() {
            for (i, _) in line.match_indices("mesh::") {
                let before = line[..i].chars().last();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '"') {
                    continue;
                }
                let module: String = line[i + "mesh::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !["api", "runtime", "bench"].contains(&module.as_str()) {
                    bad.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "the console reaches past mesh::api:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_graph_finds_a_circle_and_only_a_circle() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.into_iter().map(str::to_string).collect()))
    .collect();
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    let modules: BTreeSet<String> = ["crate", "tui", "tui::app", "tui::ui", "tui::ui::graph"]
        .map(String::from)
        .into();
    assert_eq!(
        resolve(&modules, "tui::ui::graph", "super::super::app::App").as_deref(),
        Some("tui::app")
    );
    assert_eq!(
        resolve(&modules, "tui::app", "crate::tui::ui::graph::rows").as_deref(),
        Some("tui::ui::graph")
    );
    assert_eq!(
        paths_named("use super::{app::App, ui};"),
        vec!["super::app::App", "super::ui", "super"]
    );
}

/// A circle of imports means no file can be read, changed or tested
/// without the others: the request path in `proxy/`, the console's state
/// and its views must each read one way.
#[test]
fn neither_crate_has_import_circles() {
    let found: Vec<(&str, Vec<Vec<String>>)> = ["src", "mesh/src"]
        .into_iter()
        .map(|dir| (dir, cycles(&import_graph(&manifest().join(dir)))))
        .filter(|(_, c)| !c.is_empty())
        .collect();
    assert!(found.is_empty(), "import circles: {found:?}");
}

/// Big files mix concerns; the Istio schema model is long by nature.
#[test]
fn no_source_file_is_a_room_of_its_own() {
    const MAX_LINES: usize = 850;
    let mut big = Vec::new();
    for dir in ["src", "mesh/src"] {
        for (path, _) in sources(&manifest().join(dir)).into_values() {
            let n = std::fs::read_to_string(&path)
                .map(|t| t.lines().count())
                .unwrap_or(0);
            if n > MAX_LINES && !path.ends_with("config/model.rs") {
                big.push(format!("{} ({n} lines)", path.display()));
            }
        }
    }
    assert!(big.is_empty(), "files over {MAX_LINES} lines: {big:?}");
}
