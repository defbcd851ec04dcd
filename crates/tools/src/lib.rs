//! vawg-tools: what runs beside a hub rather than in it — the end-to-end demo
//! (`vawg-hub demo`), synthetic victim journeys (`vawg-hub synth`), the benchmarks
//! (`vawg-hub bench`), the development PKI (`vawg-hub pki`, `token`), audit-log verification
//! from the database (`vawg-hub audit verify`) and the metric tables the central team reads.
//! Tests and fuzz targets use the same PKI and synthetic data.

pub mod audit;
pub mod bench;
pub mod demo;
pub mod pki;
pub mod report;
pub mod synth;
