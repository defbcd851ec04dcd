//! Fuzz target `request_records`: see [`vawg_fuzz::request_records`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::request_records(data));
