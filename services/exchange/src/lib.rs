//! vawg-exchange
