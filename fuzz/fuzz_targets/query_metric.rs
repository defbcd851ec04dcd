//! Fuzz target `query_metric`: see [`vawg_fuzz::query_metric`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::query_metric(data));
