//! The fuzz campaign's corpus, replayed without a fuzzer: every file in `fuzz/corpus/<target>/`
//! goes through the entry point its fuzz target calls (the server's `fuzzing` or compare's), which
//! panics on
//! a finding (a crash, or a property of its answer that does not hold: each entry point's
//! comment says which). So CI keeps what every campaign found, the crashes it minimised
//! included; the fuzzer itself is not part of CI (docs/security.md, "Fuzzing").

use std::{fs, path::Path};

/// Every target of both crates: the server's parsers and compare's readers.
fn targets() -> impl Iterator<Item = &'static (&'static str, fn(&[u8]))> {
    server::fuzzing::TARGETS.iter().chain(compare::fuzzing::TARGETS)
}

fn corpus() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus"))
}

#[test]
fn every_corpus_file_replays_through_its_target() {
    for (target, entry) in targets() {
        let folder = corpus().join(target);
        let mut files: Vec<_> = fs::read_dir(&folder)
            .unwrap_or_else(|error| panic!("{}: {error}", folder.display()))
            .map(|file| file.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{target} has no corpus in {}", folder.display());
        for file in files {
            let input = fs::read(&file).unwrap();
            // A panic names the file: a finding is reproduced by this one input.
            let replayed = std::panic::catch_unwind(|| entry(&input));
            assert!(replayed.is_ok(), "{target} panicked on {}", file.display());
        }
    }
}

#[test]
fn every_corpus_folder_and_fuzz_target_has_an_entry_point() {
    let fuzz = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz"));
    for folder in [corpus().to_path_buf(), fuzz.join("fuzz_targets")] {
        for file in fs::read_dir(&folder).unwrap() {
            let path = file.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            assert!(
                targets().any(|(target, _)| *target == name),
                "{} has no entry point in server::fuzzing::TARGETS or compare::fuzzing::TARGETS",
                path.display()
            );
        }
    }
}
