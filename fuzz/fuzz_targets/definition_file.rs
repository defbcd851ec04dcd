//! Fuzz target `definition_file`: see [`vawg_fuzz::definition_file`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vawg_fuzz::definition_file(data));
