//! The structure README's "How it is built" promises, checked on the source, so it stays true:
//! dependencies between the library's modules run one way (no cycles; rng -> nn -> model ->
//! backend -> the commands), only `src/backend` knows whether CUDA was compiled in, the
//! library never prints, and `main.rs` stays thin.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The library's files (not the binary's `main.rs` and `cli/`), with their top-level module.
fn library_files() -> Vec<(String, PathBuf, String)> {
    let mut files = Vec::new();
    source_files(&src(), &mut files);
    files
        .into_iter()
        .filter_map(|path| {
            let relative = path
                .strip_prefix(src())
                .unwrap()
                .to_string_lossy()
                .to_string();
            if relative == "main.rs" || relative == "lib.rs" || relative.starts_with("cli/") {
                return None;
            }
            let module = relative
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_string();
            let text = std::fs::read_to_string(&path).unwrap();
            Some((module, path, text))
        })
        .collect()
}

/// The code of a file without its `#[cfg(test)]` module (by convention, the file's end).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |at| &text[..at])
}

/// Top-level module -> the top-level modules it names as `crate::x`.
fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, _, text) in library_files() {
        let entry = deps.entry(module.clone()).or_default();
        for (at, _) in text.match_indices("crate::") {
            let name: String = text[at + 7..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() && name != module {
                entry.insert(name);
            }
        }
        // `use crate::{a, b::c}` names several.
        for (at, _) in text.match_indices("use crate::{") {
            let group: String = text[at + 12..].chars().take_while(|&c| c != ';').collect();
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != module {
                    entry.insert(name);
                }
            }
        }
    }
    deps
}

#[test]
fn module_dependencies_have_no_cycle() {
    let deps = dependencies();
    // Depth-first search; a module met again while on the path closes a cycle.
    fn visit(
        m: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Result<(), String> {
        if let Some(start) = path.iter().position(|p| p == m) {
            let mut cycle = path[start..].to_vec();
            cycle.push(m.to_string());
            return Err(cycle.join(" -> "));
        }
        if done.contains(m) {
            return Ok(());
        }
        path.push(m.to_string());
        for next in deps.get(m).into_iter().flatten() {
            visit(next, deps, path, done)?;
        }
        path.pop();
        done.insert(m.to_string());
        Ok(())
    }
    let mut done = BTreeSet::new();
    for m in deps.keys() {
        if let Err(cycle) = visit(m, &deps, &mut Vec::new(), &mut done) {
            panic!("import cycle: {cycle}");
        }
    }
    assert!(deps.len() > 10, "found too few modules: {deps:?}");
}

#[test]
fn the_spine_runs_one_way() {
    let deps = dependencies();
    // Each module may use those before it, never those after.
    let spine = ["rng", "nn", "model", "backend"];
    let users = ["train", "evaluate", "predict", "serve", "bench", "report"];
    for (i, module) in spine.iter().enumerate() {
        let later: Vec<&str> = spine[i + 1..].iter().chain(&users).copied().collect();
        let wrong: Vec<&String> = deps[*module]
            .iter()
            .filter(|d| later.contains(&d.as_str()))
            .collect();
        assert!(
            wrong.is_empty(),
            "{module} uses {wrong:?}, which come after it"
        );
    }
}

#[test]
fn only_the_backend_knows_whether_cuda_is_compiled_in() {
    for (module, path, text) in library_files() {
        if module == "backend" {
            continue;
        }
        assert!(
            !text.contains("feature = \"cuda\""),
            "{} names the cuda feature; only src/backend may",
            path.display()
        );
    }
    let mut cli = Vec::new();
    source_files(&src().join("cli"), &mut cli);
    cli.push(src().join("main.rs"));
    for path in cli {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("feature = \"cuda\""),
            "{} names the cuda feature; only src/backend may",
            path.display()
        );
    }
}

#[test]
fn the_library_never_prints() {
    for (_, path, text) in library_files() {
        let code = without_tests(&text);
        for macro_name in ["println!", "eprintln!", "print!(", "eprint!(", "dbg!("] {
            assert!(
                !code.contains(macro_name),
                "{} uses {macro_name}: report through progress::Progress or return it",
                path.display()
            );
        }
    }
}

#[test]
fn main_stays_thin() {
    let lines = std::fs::read_to_string(src().join("main.rs"))
        .unwrap()
        .lines()
        .count();
    assert!(
        lines < 300,
        "main.rs has {lines} lines; commands belong in src/cli/"
    );
}
