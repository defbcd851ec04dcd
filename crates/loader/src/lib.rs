//! vawg-loader: the agency file loader (`vawg-hub push`). Reads a CSV or NDJSON extract as an
//! agency's system produces it, converts each row with a mapping file, streams the records to
//! a hub over mutual TLS and a bearer token, writes rejected rows with their reasons, and
//! resumes after a failure. Also the command-line connection options every command that calls
//! a hub as an agency shares ([`connect::ConnectArgs`]).

pub mod connect;
pub mod push;
