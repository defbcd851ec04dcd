//! Fuzz target `ingest_records`: see [`vawg_fuzz::ingest_records`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::ingest_records(data));
