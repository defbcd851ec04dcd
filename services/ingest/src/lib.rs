//! vawg-ingest
