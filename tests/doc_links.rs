//! The README is a front door, and every relative link in it and in docs/ leads somewhere: a
//! file or folder of this repository. (A document moved or renamed fails here, naming the
//! link.) Also: every document in docs/ is listed, so none is read by nobody.

mod common;

use std::path::Path;

use common::docs::EACH;

/// The relative link targets of a Markdown text (`[text](target)`), without `#fragment`s.
fn relative_links(text: &str) -> Vec<String> {
    let pattern = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    pattern
        .captures_iter(text)
        .map(|found| found[1].to_owned())
        .filter(|target| !target.starts_with("http://") && !target.starts_with("https://"))
        .filter(|target| !target.starts_with('#') && !target.starts_with("mailto:"))
        .map(|target| target.split('#').next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut checked = 0;
    for (document, text) in EACH {
        let folder = root.join(document).parent().unwrap().to_path_buf();
        for target in relative_links(text) {
            assert!(
                folder.join(&target).exists(),
                "{document} links to {target}, which is not there"
            );
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} links found: is the pattern still right?");
}

#[test]
fn the_readme_is_short_and_lists_every_document() {
    let (_, readme) = EACH[0];
    let lines = readme.lines().count();
    assert!(lines < 250, "the README has {lines} lines: move detail into docs/");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name.ends_with(".md") {
            let path = format!("docs/{name}");
            assert!(readme.contains(&format!("]({path})")), "the README does not link {path}");
            assert!(
                EACH.iter().any(|(each, _)| *each == path),
                "tests/common/docs.rs lacks {path}"
            );
        }
    }
}

#[test]
fn a_broken_link_is_found() {
    let links = relative_links("see [a](docs/api.md#errors), [b](https://x.org) and [c](#here)");
    assert_eq!(links, ["docs/api.md"]);
}
