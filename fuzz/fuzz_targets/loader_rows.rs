//! Fuzz target `loader_rows`: see [`vawg_fuzz::loader_rows`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::loader_rows(data));
