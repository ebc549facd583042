//! Whatever bytes a client sends, the head parser and the target decoder never panic,
//! and no decoded path can name anything outside the served directory.

use pagecast_http::request::{HeadParser, Parsed, parse};
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
    fn a_head_parsed_in_pieces_parses_as_it_does_whole(
        blank in "[\r\n]{0,4}", target in "/[a-z]{0,8}", fields in proptest::collection::vec("[A-Za-z]{1,5}: [ -~]{0,10}", 0..4),
        eol in prop::sample::select(vec!["\r\n", "\n"]), cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
    ) {
        let head = format!("{blank}GET {target} HTTP/1.1{eol}Host: h{eol}{}{eol}next", fields.iter().map(|f| format!("{f}{eol}")).collect::<String>());
        let whole = parse(head.as_bytes());
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(head.len())).collect();
        cuts.sort_unstable();
        let mut parser = HeadParser::default();
        let mut got = None;
        for cut in cuts.into_iter().chain([head.len()]) {
            match parser.parse(&head.as_bytes()[..cut]) {
                Ok(Parsed::Incomplete) => {}
                other => { got = Some(other); break; }
            }
        }
        prop_assert_eq!(got, Some(whole));
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
