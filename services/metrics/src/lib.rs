//! vawg-metrics
