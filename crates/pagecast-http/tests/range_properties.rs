//! Whatever a client sends as a Range header, the answer never panics, never selects a
//! byte outside the file, and never makes a response larger than the file.

use pagecast_http::range::{MAX_RANGES, Ranges, resolve};
use proptest::prelude::*;

fn check(header: &[u8], length: u64) {
    match resolve(Some(header), length) {
        Ranges::Full | Ranges::Unsatisfiable => {}
        Ranges::Partial(ranges) => {
            assert!(!ranges.is_empty() && ranges.len() <= MAX_RANGES);
            let mut total = 0u64;
            for r in &ranges {
                assert!(r.start < r.end && r.end <= length, "{r:?} of {length}");
                total += r.len();
            }
            assert!(total <= length);
            let mut sorted = ranges.clone();
            sorted.sort_by_key(|r| r.start);
            assert!(
                sorted.windows(2).all(|w| w[0].end <= w[1].start),
                "{ranges:?}"
            );
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes(header in proptest::collection::vec(any::<u8>(), 0..200), length in 0u64..5000) {
        check(&header, length);
    }

    #[test]
    fn well_formed_sets(
        specs in proptest::collection::vec((proptest::option::of(0u64..6000), proptest::option::of(0u64..6000)), 1..80),
        length in 0u64..5000,
    ) {
        let set: Vec<String> = specs
            .iter()
            .map(|(a, b)| match (a, b) {
                (Some(a), Some(b)) => format!("{a}-{b}"),
                (Some(a), None) => format!("{a}-"),
                (None, Some(b)) => format!("-{b}"),
                (None, None) => String::new(),
            })
            .collect();
        check(format!("bytes={}", set.join(", ")).as_bytes(), length);
    }
}
