//! The crate's layering, checked: no import cycles between modules.
//!
//! The rule (what a reader of the tree can rely on): at every level of the
//! module tree — the crate root's modules (`src/<x>`), and the children of
//! every folder module (`src/<x>/<y>`) — the sibling modules form a
//! directed acyclic graph under "uses". A sibling A uses a sibling B when any
//! code in A's subtree names anything in B's subtree (a `use`, a path in an
//! expression or a type, a path inside a macro call). A child naming its own
//! parent's items (`super::X`) is not an edge between siblings; test code
//! (`#[cfg(test)]`) is left out, as it is from the library.
//!
//! This is the check `cargo modules dependencies --lib --acyclic` makes,
//! written as a unit test over the source (parsed with `syn`) so that CI
//! runs it with the other tests and needs no extra tool.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A module path below the crate root, e.g. `["control", "rpc"]`; the root is `[]`.
type ModPath = Vec<String>;

/// One source file of the library and the module it is.
struct SourceFile {
    module: ModPath,
    file: syn::File,
}

/// The library's files: `src/lib.rs` and every module it declares, found by
/// the usual layout (`x.rs` or `x/mod.rs`); the binary's `main.rs` and
/// `cli/` are not part of the library.
fn library_files(src: &Path) -> Vec<SourceFile> {
    let mut out = Vec::new();
    let mut todo: Vec<(ModPath, PathBuf)> = vec![(vec![], src.join("lib.rs"))];
    while let Some((module, path)) = todo.pop() {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = syn::parse_file(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Where this module's children live: beside lib.rs/mod.rs, or in a
        // folder named as the module for `x.rs`.
        let dir = if module.is_empty() || path.ends_with("mod.rs") {
            path.parent().expect("file in a folder").to_path_buf()
        } else {
            path.with_extension("")
        };
        for item in &file.items {
            if let syn::Item::Mod(m) = item {
                if m.content.is_some() || is_cfg_test(&m.attrs) {
                    continue;
                }
                let name = m.ident.to_string();
                let mut child = module.clone();
                child.push(name.clone());
                let flat = dir.join(format!("{name}.rs"));
                let nested = dir.join(&name).join("mod.rs");
                let p = if flat.exists() { flat } else { nested };
                todo.push((child, p));
            }
        }
        out.push(SourceFile { module, file });
    }
    out
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|l| l.tokens.to_string().contains("test"))
    })
}

/// Collects every path a file names, as written (segments), with the module
/// the naming code is in (inline `mod` blocks included).
struct Paths {
    module: ModPath,
    found: Vec<(ModPath, Vec<String>)>,
}

impl Paths {
    fn push(&mut self, segs: Vec<String>) {
        if !segs.is_empty() {
            self.found.push((self.module.clone(), segs));
        }
    }
    /// `crate :: a :: b` (and `super ::`, `self ::`) sequences inside macro
    /// tokens, which syn leaves unparsed.
    fn scan_tokens(&mut self, tokens: proc_macro2::TokenStream) {
        let toks: Vec<proc_macro2::TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < toks.len() {
            if let proc_macro2::TokenTree::Group(g) = &toks[i] {
                self.scan_tokens(g.stream());
                i += 1;
                continue;
            }
            if let proc_macro2::TokenTree::Ident(id) = &toks[i] {
                let s = id.to_string();
                if s == "crate" || s == "super" || s == "self" {
                    let mut segs = vec![s];
                    let mut j = i + 1;
                    while j + 2 < toks.len() + 1 {
                        let colons = matches!((&toks.get(j), &toks.get(j + 1)),
                            (Some(proc_macro2::TokenTree::Punct(a)), Some(proc_macro2::TokenTree::Punct(b)))
                            if a.as_char() == ':' && b.as_char() == ':');
                        match (colons, toks.get(j + 2)) {
                            (true, Some(proc_macro2::TokenTree::Ident(n))) => {
                                segs.push(n.to_string());
                                j += 3;
                            }
                            _ => break,
                        }
                    }
                    if segs.len() > 1 {
                        self.push(segs);
                    }
                    i = j;
                    continue;
                }
            }
            i += 1;
        }
    }
}

fn use_tree(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<Vec<String>>) {
    match tree {
        syn::UseTree::Path(p) => {
            prefix.push(p.ident.to_string());
            use_tree(prefix, &p.tree, out);
            prefix.pop();
        }
        syn::UseTree::Name(n) => {
            let mut v = prefix.clone();
            if n.ident != "self" {
                v.push(n.ident.to_string());
            }
            out.push(v);
        }
        syn::UseTree::Rename(r) => {
            let mut v = prefix.clone();
            v.push(r.ident.to_string());
            out.push(v);
        }
        syn::UseTree::Glob(_) => out.push(prefix.clone()),
        syn::UseTree::Group(g) => g.items.iter().for_each(|t| use_tree(prefix, t, out)),
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item(&mut self, i: &'ast syn::Item) {
        let attrs = match i {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(x) => &x.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            _ => return syn::visit::visit_item(self, i),
        };
        if is_cfg_test(attrs) {
            return;
        }
        if let syn::Item::Mod(m) = i {
            if m.content.is_some() {
                self.module.push(m.ident.to_string());
                syn::visit::visit_item(self, i);
                self.module.pop();
                return;
            }
        }
        syn::visit::visit_item(self, i)
    }
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let mut out = Vec::new();
        use_tree(&mut Vec::new(), &u.tree, &mut out);
        out.into_iter().for_each(|p| self.push(p));
    }
    fn visit_path(&mut self, p: &'ast syn::Path) {
        self.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
        syn::visit::visit_path(self, p)
    }
    fn visit_macro(&mut self, m: &'ast syn::Macro) {
        self.scan_tokens(m.tokens.clone());
        syn::visit::visit_macro(self, m)
    }
}

/// The module a path lands in, when it names one of the crate's modules:
/// the longest prefix of the resolved path that is a known module.
fn resolve(from: &ModPath, segs: &[String], modules: &BTreeSet<ModPath>) -> Option<ModPath> {
    let mut base: ModPath;
    let mut rest = segs;
    match segs.first().map(String::as_str) {
        Some("crate") => {
            base = vec![];
            rest = &segs[1..];
        }
        Some("self") => {
            base = from.clone();
            rest = &segs[1..];
        }
        Some("super") => {
            base = from.clone();
            while rest.first().map(String::as_str) == Some("super") {
                base.pop();
                rest = &rest[1..];
            }
        }
        Some(first) => {
            // A path relative to the current module: only a child module counts.
            let mut child = from.clone();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            base = from.clone();
        }
        None => return None,
    }
    let mut best = base.clone();
    for s in rest {
        base.push(s.clone());
        if modules.contains(&base) {
            best = base.clone();
        } else {
            break;
        }
    }
    Some(best)
}

/// Every sibling edge `parent: a -> b` of the library.
fn sibling_edges(src: &Path) -> BTreeMap<ModPath, BTreeSet<(String, String)>> {
    let files = library_files(src);
    let modules: BTreeSet<ModPath> = files.iter().map(|f| f.module.clone()).collect();
    let mut edges: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for f in &files {
        let mut v = Paths {
            module: f.module.clone(),
            found: vec![],
        };
        v.visit_file(&f.file);
        for (from, segs) in v.found {
            let Some(to) = resolve(&from, &segs, &modules) else {
                continue;
            };
            // The nearest common ancestor, and the two siblings below it.
            let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if common < from.len() && common < to.len() {
                edges
                    .entry(from[..common].to_vec())
                    .or_default()
                    .insert((from[common].clone(), to[common].clone()));
            }
        }
    }
    edges
}

/// The cycles of a directed graph: its strongly connected components of
/// more than one node, each as its sorted node list.
fn cycles(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().insert(b);
        next.entry(b).or_default();
    }
    let reach = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for &m in &next[n] {
                if seen.insert(m) {
                    todo.push(m);
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&str, BTreeSet<&str>> = next.keys().map(|&n| (n, reach(n))).collect();
    let mut out: Vec<Vec<String>> = Vec::new();
    for (&n, r) in &reaches {
        if !r.contains(n) || out.iter().any(|c| c.iter().any(|x| x == n)) {
            continue;
        }
        let scc: Vec<String> = r
            .iter()
            .filter(|&&m| reaches[m].contains(n))
            .map(|m| m.to_string())
            .collect();
        out.push(scc);
    }
    out
}

#[test]
fn sibling_modules_form_a_dag() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for (parent, e) in sibling_edges(&src) {
        let at = if parent.is_empty() {
            "crate".to_string()
        } else {
            parent.join("::")
        };
        for c in cycles(&e) {
            let inside: Vec<String> = e
                .iter()
                .filter(|(a, b)| c.contains(a) && c.contains(b))
                .map(|(a, b)| format!("{a} -> {b}"))
                .collect();
            found.push(format!(
                "in {at}: {{{}}}: {}",
                c.join(", "),
                inside.join(", ")
            ));
        }
    }
    assert!(found.is_empty(), "import cycles:\n{}", found.join("\n"));
}

#[test]
fn the_check_sees_a_cycle() {
    // The checker itself: a planted cycle through a macro path is found.
    let e: BTreeSet<(String, String)> = [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(
        cycles(&e),
        vec![vec!["a".to_string(), "b".into(), "c".into()]]
    );
    let mut p = Paths {
        module: vec!["x".into()],
        found: vec![],
    };
    let m: syn::Macro = syn::parse_str("info!(\"{}\", crate::tracker::tally(1))").unwrap();
    p.visit_macro(&m);
    let modules: BTreeSet<ModPath> = [vec![], vec!["x".to_string()], vec!["tracker".to_string()]]
        .into_iter()
        .collect();
    let (from, segs) = &p.found[0];
    assert_eq!(
        resolve(from, segs, &modules),
        Some(vec!["tracker".to_string()])
    );
}
