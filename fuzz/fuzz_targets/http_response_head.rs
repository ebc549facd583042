#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    (pagecast_fuzz::target("http_response_head").expect("a known target").run)(data);
});
