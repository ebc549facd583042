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

/// The seeds a target starts from that the code can write: a request frame of every
/// API at every version, and one internal-partition record of each kind. Each is in the
/// corpus (`PAGECAST_FUZZ_WRITE_SEEDS=1` writes the missing ones), and each decodes:
/// what the broker's encoder writes at a version, its decoder reads back.
fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use pagecast_kafka::broker::offsets;
    let mut out: Vec<_> = pagecast_kafka::broker::sample_requests()
        .into_iter()
        .map(|(name, frame)| ("kafka_request", name, frame))
        .collect();
    let record = |name: &str, (key, value): offsets::Record| {
        let mut data = vec![u8::from(value.is_none())];
        data.extend_from_slice(&(key.len() as u16).to_be_bytes());
        data.extend_from_slice(&key);
        data.extend_from_slice(value.as_deref().unwrap_or_default());
        ("internal_records", name.to_owned(), data)
    };
    let key = ("group".to_owned(), "topic".to_owned(), 3);
    let committed = offsets::Committed {
        offset: 42,
        leader_epoch: 0,
        metadata: Some("meta".into()),
        commit_ms: 0,
    };
    out.push(record(
        "commit",
        offsets::commit_record(&key, Some(&committed)),
    ));
    out.push(record(
        "commit-tombstone",
        offsets::commit_record(&key, None),
    ));
    let classic = pagecast_kafka::broker::groups::GroupSnapshot::default().encode_bytes();
    out.push(record(
        "group",
        offsets::group_record("group", Some(classic)),
    ));
    let consumer = pagecast_kafka::broker::consumer_groups::GroupSnapshot::default().encode_bytes();
    out.push(record(
        "consumer-group",
        offsets::consumer_group_record("group", Some(consumer)),
    ));
    out
}

#[test]
fn the_corpus_holds_a_request_of_every_api_at_every_version_and_every_record_kind() {
    let write = std::env::var_os("PAGECAST_FUZZ_WRITE_SEEDS").is_some();
    for (target, name, data) in seeds() {
        if target == "kafka_request" {
            let decoded = pagecast_kafka::broker::decode_request(&data);
            assert!(decoded.is_ok(), "{name}: {decoded:?}");
        }
        let path = corpus_root().join(target).join(format!("seed-{name}"));
        if write && !path.exists() {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &data).unwrap();
        }
        assert!(
            path.exists(),
            "{} is missing: PAGECAST_FUZZ_WRITE_SEEDS=1 cargo test -p pagecast-fuzz writes it",
            path.display()
        );
    }
}

/// `input` changed the way a fuzzer changes it: bytes flipped, set to the extremes of
/// a length field, cut short, grown, or run twice.
fn mutate(rng: &mut fastrand::Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..rng.usize(1..=4) {
        let at = rng.usize(..=out.len());
        match rng.u8(..6) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] ^= 1 << rng.u8(..8);
            }
            1 if out.len() >= 4 => {
                let i = at.min(out.len() - 4);
                let extreme = [0x7fff_ffffu32, 0xffff_ffff, 0x8000_0000, 0x0000_7fff];
                out[i..i + 4].copy_from_slice(&extreme[rng.usize(..4)].to_be_bytes());
            }
            2 => out.truncate(at),
            3 => out.splice(at..at, [0xff, 0xff, 0xff, 0x7f]).for_each(drop),
            4 => {
                let tail = out[at..].to_vec();
                out.extend_from_slice(&tail);
            }
            _ => out.insert(at, rng.u8(..)),
        }
    }
    out
}

/// A few hundred changed copies of every seed through its target: on the stable
/// toolchain, what the fuzzer's first seconds would try.
#[test]
fn changed_seeds_keep_every_targets_properties() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for (target, name, seed) in seeds() {
        let run = pagecast_fuzz::target(target).unwrap().run;
        for i in 0..300 {
            let input = mutate(&mut rng, &seed);
            let outcome = std::panic::catch_unwind(|| run(&input));
            assert!(
                outcome.is_ok(),
                "{target}: change {i} of seed {name} fails: {input:?}"
            );
        }
    }
}
