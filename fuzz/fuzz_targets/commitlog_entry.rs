#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (pagecast_fuzz::target("commitlog_entry").expect("a known target").run)(data);
});
