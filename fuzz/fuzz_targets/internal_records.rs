#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (pagecast_fuzz::target("internal_records").expect("a known target").run)(data);
});
