//! The floor plan of `src/app/` holds: no module of the application layer imports another
//! that imports it back, directly or through others (docs/ARCHITECTURE.md, "The app
//! layer's floors").
//!
//! The graph is read from the sources: every `super::<module>` or `crate::app::<module>`
//! path (in `use` lines and in code) outside comments and the `#[cfg(test)]` module counts
//! as an edge, so a cycle cannot hide behind a fully qualified call.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The source without `//` comments and without the trailing `#[cfg(test)]` module.
fn code_of(src: &str) -> String {
    let src = match src.find("#[cfg(test)]") {
        Some(i) => &src[..i],
        None => src,
    };
    src.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// The sibling modules a source names through `super::` or `crate::app::`.
fn imports(code: &str, modules: &BTreeSet<String>, me: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for prefix in ["super::", "crate::app::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            // `super::{a, b::C, self}` names several; `super::a::...` one.
            let names = match rest.strip_prefix('{') {
                Some(group) => &group[..group.find('}').unwrap_or(group.len())],
                None => &rest[..rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())],
            };
            for name in names.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
                if name != me && modules.contains(name) {
                    found.insert(name.to_string());
                }
            }
        }
    }
    found
}

fn app_graph() -> Graph {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/app");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/app") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path.file_stem().expect("stem").to_string_lossy().to_string();
            if name != "mod" {
                sources.insert(name, std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    let modules: BTreeSet<String> = sources.keys().cloned().collect();
    sources.iter().map(|(name, src)| (name.clone(), imports(&code_of(src), &modules, name))).collect()
}

/// One cycle of the graph as a path `a -> b -> ... -> a`, if there is any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        graph: &Graph,
        node: &str,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_string());
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    graph.keys().find_map(|n| visit(graph, n, &mut marks, &mut Vec::new()))
}

#[test]
fn app_modules_import_without_a_cycle() {
    let graph = app_graph();
    assert!(graph.len() > 10, "src/app was not read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("app/ has an import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_checker_sees_cycles_and_grouped_imports() {
    let modules: BTreeSet<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
    let code = code_of("use super::{b, App};\n// super::c\nfn f() { crate::app::c::g() }\n#[cfg(test)]\nmod t { use super::super::a; }");
    assert_eq!(imports(&code, &modules, "a"), ["b", "c"].iter().map(|s| s.to_string()).collect());
    let mut graph = Graph::new();
    graph.insert("a".into(), ["b".to_string()].into());
    graph.insert("b".into(), ["c".to_string()].into());
    graph.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
    graph.insert("c".into(), ["a".to_string()].into());
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
}
