//! Whatever bytes a client sends, the head parser and the target decoder never panic,
//! and no decoded path can name anything outside the served directory.

use pagecast_http::request::{Parsed, parse};
use pagecast_http::target::segments;
use proptest::prelude::*;

proptest! {
    #[test]
    fn heads_from_arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(Parsed::Complete { consumed, .. }) = parse(&buf) {
            prop_assert!(consumed <= buf.len());
        }
    }

    #[test]
    fn heads_from_near_misses(
        method in "[A-Z(]{0,6}", target in "[ -~]{0,20}", version in "HTTP/[0-9.]{0,4}",
        fields in proptest::collection::vec("[ -~\t]{0,30}", 0..6), eol in prop::sample::select(vec!["\r\n", "\n", "\r"]),
    ) {
        let head = format!("{method} {target} {version}{eol}{}{eol}", fields.iter().map(|f| format!("{f}{eol}")).collect::<String>());
        if let Ok(Parsed::Complete { consumed, .. }) = parse(head.as_bytes()) {
            prop_assert!(consumed <= head.len());
        }
    }

    #[test]
    fn decoded_segments_never_escape(target in "/[a-zA-Z0-9%./\\\\?]{0,40}") {
        if let Ok(segs) = segments(&target, true) {
            for s in segs {
                prop_assert!(!s.is_empty() && s != b".." && s != b".");
                prop_assert!(!s.iter().any(|&b| b == 0 || b == b'/' || b == b'\\'), "{:?}", s);
            }
        }
    }
}
