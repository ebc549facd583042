//! HTTP dates from clients never panic the parser, and every date the server writes
//! reads back as itself.

use pagecast_http::date;
use proptest::prelude::*;

proptest! {
    #[test]
    fn formatted_dates_parse_back(secs in 0i64..253_402_300_800) {
        prop_assert_eq!(date::parse(&date::format(secs)), Some(secs));
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,64}") {
        let _ = date::parse(&s);
    }

    #[test]
    fn near_misses_never_panic(
        d in "[0-9 +-]{0,3}", mon in "[A-Za-z]{0,4}", y in "[0-9-]{0,6}", t in "[0-9:]{0,9}",
    ) {
        let _ = date::parse(&format!("Sun, {d} {mon} {y} {t} GMT"));
        let _ = date::parse(&format!("Sunday, {d}-{mon}-{y} {t} GMT"));
        let _ = date::parse(&format!("Sun {mon} {d} {t} {y}"));
    }
}
