//! mp's modules depend on each other one way (`docs/design/README.md`, "Layers"): nothing
//! below the managers and the pool names them, and the only import circle is the start-method
//! knot that CPython has too (a process starts through popen, popen through the forkserver or
//! a re-exec, and the child's bootstrap comes back to the process and its context).
//!
//! The check reads `mp/src` as text: every `crate::module` path (also inside `use
//! crate::{...}` groups, and the crate-root re-exports such as `crate::current_process`)
//! outside comments is an edge from the module of the file to that module. A public
//! re-export line (`pub use crate::...;`) is an alias of the API, not a dependency, and is
//! left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules below the managers and the pool: they reach what sits above only through
/// registration (`reduction`'s side table, `atfork`, `exec`'s roles, `logging`'s name source).
const LOW: &[&str] = &[
    "aio",
    "atfork",
    "bootstrap",
    "connection",
    "context",
    "error",
    "exec",
    "forkserver",
    "futex",
    "logging",
    "popen",
    "process",
    "queues",
    "reduction",
    "registry",
    "resource_tracker",
    "shared_memory",
    "sharedctypes",
    "shm",
    "space",
    "synchronize",
    "sys",
    "task",
    "thread",
];

/// What sits above them.
const HIGH: &[&str] = &["managers", "pool", "dummy"];

/// The start-method knot: the one import circle allowed.
const KNOT: &[&str] = &["bootstrap", "context", "forkserver", "popen", "process"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../mp/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`queues/core.rs` -> `queues`).
fn module_of(file: &Path) -> String {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_str()
        .unwrap();
    first.trim_end_matches(".rs").to_string()
}

/// Code lines: comments and public re-exports removed.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_reexport = false;
    for line in text.lines() {
        let code = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let t = code.trim();
        if in_reexport || t.starts_with("pub use crate::") {
            in_reexport = !t.ends_with(';');
            continue;
        }
        out.push(code.to_string());
    }
    out
}

fn idents(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// Crate-root names re-exported from a module (`current_process` -> `process`).
fn root_reexports(modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let mut map = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in lib.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("pub use crate::") {
            let m = idents(rest).next().unwrap().to_string();
            current = modules.contains(&m).then_some(m);
        }
        if let Some(m) = &current {
            let names = t.split_once('{').map_or(t, |(_, b)| b);
            let names = names.rsplit_once("::").map_or(names, |(_, b)| b);
            for n in idents(names) {
                if n != m && n != "pub" && n != "use" && n != "crate" && n != "self" {
                    map.insert(n.to_string(), m.clone());
                }
            }
        }
        if t.ends_with(';') {
            current = None;
        }
    }
    map
}

/// The modules a line names through `crate::`.
fn named(line: &str, modules: &BTreeSet<String>, roots: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for (i, _) in line.match_indices("crate::") {
        // `mp_crate::x` and the like are not paths of this crate.
        if line[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        let rest = &line[i + "crate::".len()..];
        let group = rest.strip_prefix('{');
        let heads: Vec<&str> = match group {
            // `crate::{a, b::c}`: the first segment of each path in the group.
            Some(g) => g
                .split('}')
                .next()
                .unwrap_or("")
                .split(',')
                .filter_map(|p| idents(p).next())
                .collect(),
            None => idents(rest).next().into_iter().collect(),
        };
        for h in heads {
            if modules.contains(h) {
                out.push(h.to_string());
            } else if let Some(m) = roots.get(h) {
                out.push(m.clone());
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let roots = root_reexports(&modules);
    // module -> named module -> where
    let mut edges: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for f in &files {
        let from = module_of(f);
        let text = std::fs::read_to_string(f).unwrap();
        for (n, line) in code_lines(&text).iter().enumerate() {
            for to in named(line, &modules, &roots) {
                if to != from {
                    let at = format!("{}:{}", f.strip_prefix(src()).unwrap().display(), n + 1);
                    edges
                        .entry(from.clone())
                        .or_default()
                        .entry(to)
                        .or_default()
                        .push(at);
                }
            }
        }
        edges.entry(from).or_default();
    }
    edges
}

#[test]
fn nothing_below_the_managers_and_the_pool_names_them() {
    let g = graph();
    let mut bad = Vec::new();
    for low in LOW {
        let Some(out) = g.get(*low) else {
            panic!("module `{low}` is gone: update LOW in this test");
        };
        for high in HIGH {
            if let Some(at) = out.get(*high) {
                bad.push(format!("{low} -> {high} at {}", at.join(", ")));
            }
        }
    }
    assert!(bad.is_empty(), "forbidden edges:\n{}", bad.join("\n"));
}

/// Strongly connected components with more than one module (Tarjan).
fn circles(g: &BTreeMap<String, BTreeMap<String, Vec<String>>>) -> Vec<BTreeSet<String>> {
    struct T<'a> {
        g: &'a BTreeMap<String, BTreeMap<String, Vec<String>>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        next: usize,
        out: Vec<BTreeSet<String>>,
    }
    impl<'a> T<'a> {
        fn visit(&mut self, v: &'a str) {
            self.index.insert(v, self.next);
            self.low.insert(v, self.next);
            self.next += 1;
            self.stack.push(v);
            self.on.insert(v);
            let g = self.g;
            for w in g.get(v).into_iter().flat_map(|m| m.keys()) {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[v].min(self.low[w]);
                    self.low.insert(v, l);
                } else if self.on.contains(w) {
                    let l = self.low[v].min(self.index[w]);
                    self.low.insert(v, l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut c = BTreeSet::new();
                while let Some(w) = self.stack.pop() {
                    self.on.remove(w);
                    c.insert(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if c.len() > 1 {
                    self.out.push(c);
                }
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            t.visit(v);
        }
    }
    t.out
}

#[test]
fn the_only_import_circle_is_the_start_method_knot() {
    let g = graph();
    let knot: BTreeSet<String> = KNOT.iter().map(|s| s.to_string()).collect();
    for c in circles(&g) {
        assert!(
            c.is_subset(&knot),
            "an import circle outside the start-method knot: {c:?}; the edges among them:\n{}",
            c.iter()
                .flat_map(|a| g[a]
                    .iter()
                    .filter(|(b, _)| c.contains(*b))
                    .map(move |(b, at)| format!("{a} -> {b} at {}", at[0])))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn the_check_sees_edges() {
    // The check itself works: known edges are found, a comment is not one.
    let g = graph();
    assert!(g["pool"].contains_key("reduction"));
    assert!(g["managers"].contains_key("connection"));
    assert!(g["popen"].contains_key("forkserver"));
    let modules: BTreeSet<String> = ["process", "pool"].iter().map(|s| s.to_string()).collect();
    let roots = root_reexports(&modules);
    assert_eq!(
        roots.get("current_process").map(String::as_str),
        Some("process")
    );
    assert_eq!(
        named("use crate::{pool::X, process};", &modules, &roots),
        ["pool", "process"]
    );
    assert!(
        code_lines("// crate::pool::x\n/// crate::pool\n")
            .iter()
            .all(|l| named(l, &modules, &roots).is_empty())
    );
}
