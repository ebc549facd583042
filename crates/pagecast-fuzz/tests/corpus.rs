//! Replays every committed fuzz corpus file through its target on the stable toolchain,
//! so that what the fuzzer once found stays fixed without the fuzzer.

use std::path::PathBuf;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    let root = corpus_root();
    for target in pagecast_fuzz::TARGETS {
        let dir = root.join(target.name);
        let files = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .count();
        assert!(files > 0, "{} has no seed", dir.display());
    }
    for entry in std::fs::read_dir(&root).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(
            pagecast_fuzz::target(&name).is_some(),
            "fuzz/corpus/{name} belongs to no target"
        );
    }
}

#[test]
fn every_corpus_file_passes_its_target() {
    let mut replayed = 0;
    for target in pagecast_fuzz::TARGETS {
        let dir = corpus_root().join(target.name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(outcome.is_ok(), "{} fails {}", file.display(), target.name);
            replayed += 1;
        }
    }
    assert!(replayed >= pagecast_fuzz::TARGETS.len());
}
