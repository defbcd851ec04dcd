//! vawg-domain: the pure domain logic of the violence-against-women-and-girls (VAWG)
//! data-sharing hub. No I/O: no tonic, no sqlx, no tokio (`cargo tree -p vawg-domain`).
//!
//! - [`definition`]: the versioned common definition and classification of local codes;
//! - [`counting`]: victim scopes and the Home Office counting rules as pure functions;
//! - [`aggregate`]: the aggregator's model — what each entity contributes to the aggregate
//!   tables — and the metric catalogue, a reviewed data file (`deploy/metrics/catalogue.toml`)
//!   checked against what that model computes;
//! - [`disclosure`]: statistical disclosure control of metric tables;
//! - [`cellkey`]: cell-key perturbation, disclosure control that holds across queries;
//! - [`pseudonym`]: keyed pseudonymisation of personal identifiers;
//! - [`identity`]: the authenticated caller, as the auth layer hands it to services;
//! - [`policy`]: which agency kinds may produce which record kinds;
//! - [`datafile`]: what reading the reviewed data files (definitions, catalogue) shares, chiefly
//!   errors located at `file:line:column` and a field path.
//!
//! # Why the domain uses the generated message types
//!
//! The domain works on the `vawg.v1` messages ([`pb`], re-exported from `vawg-proto` built
//! *without* its `grpc` feature, so they are plain prost structs with no transport). The
//! contract is the domain's vocabulary: a record's event is a `oneof` of eighteen kinds, each with
//! its own enums (outcome types, order types, withdrawal stages, reasons), and those enums are
//! what agencies send, what the store keeps and what metrics break down by. A parallel set of
//! hand-written domain types would be a second copy of the contract to keep in step field by
//! field, with a conversion that could drift silently. The reviewed data files follow suit: the
//! metric catalogue names its owners, event kinds and outcome by their contract enum names, and
//! reading it checks each against the generated enums, so data cannot name a value the contract
//! lacks. Where the domain needs something the contract does not say (a caller's identity, a
//! definition, a metric of the catalogue, a fact as the aggregator sees it, a controlled cell),
//! it has its own types, and conversions between the two live beside them (e.g.
//! [`identity::AgencyKind::to_pb`]).

pub mod aggregate;
pub mod cellkey;
pub mod counting;
pub mod datafile;
pub mod definition;
pub mod disclosure;
pub mod identity;
pub mod policy;
pub mod pseudonym;

/// The generated `vawg.v1` messages (plain prost structs; see the crate docs).
pub use vawg_proto::pb;
