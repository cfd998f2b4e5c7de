//! The layout keeps the promises Cargo cannot state: between crates, a member's manifest says
//! what it may use (compare depends on the contract, not on the server); within a crate, no
//! two files need each other, directly or around a longer loop, compare's rooms are read in
//! order, and the gRPC port's layers are not crossed. Each file's dependencies are read from its `use crate::…`, `use super::…` and
//! inline `crate::…`/`super::…` paths (re-exports and unit tests left out), each path resolved
//! to the file of the longest module it names.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

type Module = Vec<String>;

/// Every module file of a crate's `src/` by its module path (`clients/cell.rs` →
/// `["clients", "cell"]`).
fn modules(dir: &Path, prefix: &[String], found: &mut BTreeMap<Module, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut inner = prefix.to_vec();
            inner.push(name);
            modules(&path, &inner, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") && name != "main" {
            let mut module = prefix.to_vec();
            if name != "mod" && name != "lib" {
                module.push(name);
            }
            found.insert(module, path);
        }
    }
}

/// `a::{b, c::{d, e}}` as `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else { return vec![tree.to_owned()] };
    let (prefix, inner) = (&tree[..open], &tree[open + 1..tree.len() - 1]);
    let (mut parts, mut depth, mut current) = (Vec::new(), 0, String::new());
    for ch in inner.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    parts.push(current);
    parts
        .iter()
        .filter(|part| !part.trim().is_empty())
        .flat_map(|part| expand(part).into_iter().map(|tail| format!("{prefix}{tail}")))
        .collect()
}

/// The module file a path names, seen from `module`.
fn resolve(module: &Module, path: &str, files: &BTreeMap<Module, PathBuf>) -> Option<Module> {
    let path = path.split(" as ").next().unwrap().trim();
    let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Module = match segments.first() {
        Some(&"crate") => Vec::new(),
        Some(&"super") => module.clone(),
        Some(&"self") => module.clone(),
        _ => return None,
    };
    if segments[0] == "crate" || segments[0] == "self" {
        segments.remove(0);
    }
    while segments.first() == Some(&"super") {
        base.pop();
        segments.remove(0);
    }
    let mut best = None;
    for taken in 0..=segments.len() {
        let mut candidate = base.clone();
        candidate.extend(segments[..taken].iter().map(|s| s.to_string()));
        if files.contains_key(&candidate) {
            best = Some(candidate);
        }
    }
    best
}

fn dependencies(files: &BTreeMap<Module, PathBuf>) -> BTreeMap<Module, BTreeSet<Module>> {
    let uses = regex::Regex::new(r"(?m)^\s*(pub(\([^)]*\))?\s+)?use\s+([^;]+);").unwrap();
    let inline = regex::Regex::new(r"\b((?:crate|super)(?:::\w+)+)").unwrap();
    let comment = regex::Regex::new(r"//[^\n]*").unwrap();
    let mut graph = BTreeMap::new();
    for (module, path) in files {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.split("#[cfg(test)]").next().unwrap();
        let text = comment.replace_all(text, "");
        let mut needs = BTreeSet::new();
        for found in uses.captures_iter(&text) {
            if found.get(1).is_some() {
                continue; // a re-export: the module's shape, not a need
            }
            for path in expand(&found[3].replace('\n', " ")) {
                needs.extend(resolve(module, &path, files));
            }
        }
        for found in inline.captures_iter(&text) {
            needs.extend(resolve(module, &found[1], files));
        }
        needs.remove(module);
        graph.insert(module.clone(), needs);
    }
    graph
}

/// A loop through `start`, if there is one: the files in order.
fn loop_through(start: &Module, graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    let mut stack = vec![(start.clone(), vec![start.clone()])];
    let mut seen = BTreeSet::new();
    while let Some((at, trail)) = stack.pop() {
        for next in &graph[&at] {
            if next == start {
                return Some(trail);
            }
            if seen.insert(next.clone()) {
                let mut longer = trail.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

/// Whether `needs` is a file's parent module (its `mod.rs`), which declares it: a child using
/// what its parent holds is the module tree, not a loop between peers.
fn is_ancestor(of: &Module, needs: &Module) -> bool {
    needs.len() < of.len() && of.starts_with(needs)
}

/// The `src/` of the binary's package and of each member of the workspace.
fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src")];
    for member in std::fs::read_dir(root.join("crates")).unwrap() {
        sources.push(member.unwrap().path().join("src"));
    }
    sources
}

/// The module files of one member's `src/` (`crates/NAME/src`).
fn member_files(name: &str) -> BTreeMap<Module, PathBuf> {
    let mut files = BTreeMap::new();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates").join(name).join("src");
    modules(&src, &[], &mut files);
    files
}

#[test]
fn no_file_of_a_crate_needs_itself_around_a_loop() {
    let mut read = 0;
    for src in crate_sources() {
        let mut files = BTreeMap::new();
        modules(&src, &[], &mut files);
        read += files.len();
        no_loops(&files);
    }
    assert!(read > 50, "only {read} files read");
}

fn no_loops(files: &BTreeMap<Module, PathBuf>) {
    let mut graph = dependencies(files);
    // A parent module (`mod.rs`) and its children: children may use what the parent re-exports
    // or defines, and the parent wires them; only peers' loops count.
    for (module, needs) in graph.iter_mut() {
        needs.retain(|need| !is_ancestor(module, need) && !is_ancestor(need, module));
    }
    let loops: Vec<String> = graph
        .keys()
        .filter_map(|module| loop_through(module, &graph))
        .map(|trail| {
            let names: Vec<String> = trail.iter().map(|m| m.join("/")).collect();
            format!("{} → {}", names.join(" → "), names[0])
        })
        .collect();
    assert!(loops.is_empty(), "files that need each other:\n{}", loops.join("\n"));
}

#[test]
fn a_loop_is_found() {
    let files: BTreeMap<Module, PathBuf> = [vec!["a".to_owned()], vec!["b".to_owned()]]
        .into_iter()
        .map(|m| (m, PathBuf::new()))
        .collect();
    let (a, b) = (vec!["a".to_owned()], vec!["b".to_owned()]);
    assert_eq!(resolve(&a, "crate::b::Thing", &files), Some(b.clone()));
    assert_eq!(expand("super::{b::X, c::{D, E}}"), ["super::b::X", "super::c::D", "super::c::E"]);
    let graph = BTreeMap::from([
        (a.clone(), BTreeSet::from([b.clone()])),
        (b, BTreeSet::from([a.clone()])),
    ]);
    assert!(loop_through(&a, &graph).is_some());
}

/// `compare`'s rooms, in the order a run uses them: each uses only the rooms before it, so a
/// reader can take them in that order (and a new client cannot come to need the report).
#[test]
fn compares_rooms_use_only_the_rooms_before_them() {
    const ROOMS: [&str; 4] = ["workload", "clients", "run", "outputs"];
    let files = member_files("compare");
    let room = |module: &Module| match module.as_slice() {
        [room, ..] => ROOMS.iter().position(|r| r == room),
        _ => None,
    };
    let mut backwards = Vec::new();
    for (module, needs) in dependencies(&files) {
        let Some(at) = room(&module) else { continue };
        for need in needs.iter().filter(|need| room(need).is_some_and(|later| later > at)) {
            backwards.push(format!("{} uses {}", module.join("/"), need.join("/")));
        }
    }
    assert!(backwards.is_empty(), "a room of compare uses a later one:\n{}", backwards.join("\n"));
    let rooms_read = files.keys().filter_map(room).collect::<BTreeSet<_>>();
    assert_eq!(rooms_read.len(), ROOMS.len(), "compare's rooms are not all there");
}

/// The gRPC port's wire code (`grpc_wire`: the method table, bodies rewritten message by
/// message, the JSON codec) is below both adapters on that port, gRPC's and Connect's: both
/// use it, and it uses neither (nor the REST adapter or the server above them). gRPC reaches Connect in one file, `grpc/guard.rs`, which tells the port's
/// protocols apart and hands Connect calls, and refusals in Connect's terms, to `connect`'s own
/// entry points (its `mod.rs`): a plain gRPC call never enters `connect/`, which holds only
/// Connect.
#[test]
fn the_grpc_ports_wire_code_is_below_grpc_and_connect() {
    let graph = dependencies(&member_files("server"));
    let top = |module: &Module| module.first().cloned().unwrap_or_default();
    let module = |path: &[&str]| path.iter().map(|s| s.to_string()).collect::<Module>();
    let (hand_off, connect_entry) = (module(&["grpc", "guard"]), module(&["connect"]));
    let mut wrong = Vec::new();
    for (from, needs) in &graph {
        for need in needs {
            let allowed = match (top(from).as_str(), top(need).as_str()) {
                ("grpc_wire", "grpc" | "connect" | "rest" | "server") => false,
                ("grpc", "connect") => *from == hand_off && *need == connect_entry,
                _ => true,
            };
            if !allowed {
                wrong.push(format!("{} uses {}", from.join("/"), need.join("/")));
            }
        }
    }
    assert!(wrong.is_empty(), "the gRPC port's layers are crossed:\n{}", wrong.join("\n"));
    for adapter in ["grpc", "connect"] {
        let uses_wire = graph.iter().any(|(from, needs)| {
            top(from) == adapter && needs.iter().any(|need| top(need) == "grpc_wire")
        });
        assert!(uses_wire, "no file of {adapter}/ uses grpc_wire");
    }
    let hand_offs = graph.iter().filter(|(from, needs)| {
        top(from) == "grpc" && needs.iter().any(|need| top(need) == "connect")
    });
    assert_eq!(hand_offs.count(), 1, "gRPC hands Connect calls to connect/ in one file");
}

/// Each integration test in tests/ belongs to one package, named in its manifest (`autotests`
/// is off at the root, so a file nobody lists would never run): the root's for the tests that
/// start the binary or run compare, the server's for those that start the server in-process.
#[test]
fn every_integration_test_is_listed_in_exactly_one_manifest() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = regex::Regex::new(r#"(?m)^path = "(?:\.\./\.\./)?tests/(\w+)\.rs"$"#).unwrap();
    let mut manifests = vec![root.join("Cargo.toml")];
    for member in std::fs::read_dir(root.join("crates")).unwrap() {
        manifests.push(member.unwrap().path().join("Cargo.toml"));
    }
    let mut listed: BTreeMap<String, usize> = BTreeMap::new();
    for manifest in &manifests {
        let text = std::fs::read_to_string(manifest).unwrap();
        for found in path.captures_iter(&text) {
            *listed.entry(found[1].to_owned()).or_default() += 1;
        }
    }
    let mut wrong = Vec::new();
    for file in std::fs::read_dir(root.join("tests")).unwrap() {
        let file = file.unwrap().path();
        if file.extension().is_some_and(|ext| ext == "rs") {
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            match listed.remove(&name) {
                Some(1) => {}
                Some(times) => wrong.push(format!("tests/{name}.rs is listed {times} times")),
                None => wrong.push(format!("tests/{name}.rs is in no manifest's [[test]]")),
            }
        }
    }
    wrong.extend(listed.keys().map(|name| format!("tests/{name}.rs is listed but missing")));
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
