//! Who a client certificate names. tonic/rustls check the chain; this reads the identity.

use vawg_domain::identity::AgencyKind;
use x509_parser::{extensions::GeneralName, prelude::*};

use crate::Error;

/// The URI prefix of the subject alternative name that names an agency.
pub const AGENCY_URI_PREFIX: &str = "urn:vawg:agency:";

/// What a verified client certificate says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertIdentity {
    /// The agency id from the `urn:vawg:agency:<id>` SAN URI.
    pub agency_id: String,
    /// The agency kind from the subject's organisational unit, when present.
    pub kind: Option<AgencyKind>,
}

/// Reads the agency from a DER certificate: exactly one `urn:vawg:agency:` SAN URI.
pub fn identity_of(der: &[u8]) -> Result<CertIdentity, Error> {
    let refuse = |why: &str| Error::Unauthenticated(format!("client certificate: {why}"));
    let (_, cert) = X509Certificate::from_der(der).map_err(|_| refuse("cannot be parsed"))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|_| refuse("malformed subject alternative names"))?
        .ok_or_else(|| refuse("names no agency"))?;
    let ids: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|n| match n {
            GeneralName::URI(u) => u.strip_prefix(AGENCY_URI_PREFIX),
            _ => None,
        })
        .collect();
    let [id] = ids.as_slice() else {
        return Err(refuse("must name exactly one agency"));
    };
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        return Err(refuse("agency id is malformed"));
    }
    let kind = cert
        .subject()
        .iter_organizational_unit()
        .filter_map(|ou| ou.as_str().ok())
        .find_map(|ou| ou.parse::<AgencyKind>().ok());
    Ok(CertIdentity {
        agency_id: id.to_string(),
        kind,
    })
}

/// The validity window of a DER certificate, as Unix seconds (`not_before`, `not_after`), for
/// the hub's deep health checks on its own certificates.
pub fn validity_of(der: &[u8]) -> Result<(i64, i64), Error> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|_| Error::Keys("a certificate cannot be parsed".into()))?;
    let v = cert.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}
