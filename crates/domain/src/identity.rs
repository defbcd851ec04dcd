//! The authenticated caller, as the auth layer hands it to every service (a request
//! extension). Services never authenticate; they read this.

use std::{collections::BTreeSet, fmt, str::FromStr};

use crate::pb;

/// The kind of organisation behind an agency system (mirrors `vawg.v1.AgencyKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AgencyKind {
    /// A territorial police force.
    Police,
    /// The Crown Prosecution Service.
    Cps,
    /// HMCTS / MoJ court systems.
    Court,
    /// An NHS body.
    Health,
    /// A local authority.
    LocalAuthority,
    /// A school.
    School,
    /// A commissioned specialist support service.
    SupportService,
    /// The Probation Service.
    Probation,
    /// The central analytical team.
    CentralAnalyst,
    /// An immigration-enforcement body: named only to be refused.
    ImmigrationEnforcement,
    /// A MARAC coordinator.
    Marac,
    /// A commissioner of support services.
    Commissioner,
}

impl AgencyKind {
    /// Every kind, in contract order.
    pub const ALL: [AgencyKind; 12] = [
        AgencyKind::Police,
        AgencyKind::Cps,
        AgencyKind::Court,
        AgencyKind::Health,
        AgencyKind::LocalAuthority,
        AgencyKind::School,
        AgencyKind::SupportService,
        AgencyKind::Probation,
        AgencyKind::CentralAnalyst,
        AgencyKind::ImmigrationEnforcement,
        AgencyKind::Marac,
        AgencyKind::Commissioner,
    ];

    /// The name used in definition files, policies, certificates and the CLI (`POLICE`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyKind::Police => "POLICE",
            AgencyKind::Cps => "CPS",
            AgencyKind::Court => "COURT",
            AgencyKind::Health => "HEALTH",
            AgencyKind::LocalAuthority => "LOCAL_AUTHORITY",
            AgencyKind::School => "SCHOOL",
            AgencyKind::SupportService => "SUPPORT_SERVICE",
            AgencyKind::Probation => "PROBATION",
            AgencyKind::CentralAnalyst => "CENTRAL_ANALYST",
            AgencyKind::ImmigrationEnforcement => "IMMIGRATION_ENFORCEMENT",
            AgencyKind::Marac => "MARAC",
            AgencyKind::Commissioner => "COMMISSIONER",
        }
    }

    /// The contract enum value.
    pub fn to_pb(self) -> pb::AgencyKind {
        match self {
            AgencyKind::Police => pb::AgencyKind::Police,
            AgencyKind::Cps => pb::AgencyKind::Cps,
            AgencyKind::Court => pb::AgencyKind::Court,
            AgencyKind::Health => pb::AgencyKind::Health,
            AgencyKind::LocalAuthority => pb::AgencyKind::LocalAuthority,
            AgencyKind::School => pb::AgencyKind::School,
            AgencyKind::SupportService => pb::AgencyKind::SupportService,
            AgencyKind::Probation => pb::AgencyKind::Probation,
            AgencyKind::CentralAnalyst => pb::AgencyKind::CentralAnalyst,
            AgencyKind::ImmigrationEnforcement => pb::AgencyKind::ImmigrationEnforcement,
            AgencyKind::Marac => pb::AgencyKind::Marac,
            AgencyKind::Commissioner => pb::AgencyKind::Commissioner,
        }
    }

    /// From the contract enum; `None` for UNSPECIFIED.
    pub fn from_pb(kind: pb::AgencyKind) -> Option<AgencyKind> {
        AgencyKind::ALL.into_iter().find(|k| k.to_pb() == kind)
    }
}

impl fmt::Display for AgencyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error parsing an agency kind name.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown agency kind '{0}' (expected one of POLICE, CPS, COURT, HEALTH, LOCAL_AUTHORITY, SCHOOL, SUPPORT_SERVICE, PROBATION, CENTRAL_ANALYST, IMMIGRATION_ENFORCEMENT, MARAC, COMMISSIONER)"
)]
pub struct UnknownAgencyKind(pub String);

impl FromStr for AgencyKind {
    type Err = UnknownAgencyKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_uppercase().replace('-', "_");
        let wanted = wanted.strip_prefix("AGENCY_KIND_").unwrap_or(&wanted);
        AgencyKind::ALL
            .into_iter()
            .find(|k| k.as_str() == wanted)
            .ok_or_else(|| UnknownAgencyKind(s.to_string()))
    }
}

/// Scopes a token may carry.
pub mod scope {
    /// Submit and retract the agency's own records.
    pub const RECORDS_WRITE: &str = "records:write";
    /// Read aggregate metrics.
    pub const METRICS_READ: &str = "metrics:read";
    /// Request records and receive notifications.
    pub const EXCHANGE_REQUEST: &str = "exchange:request";
    /// Read the audit log.
    pub const AUDIT_READ: &str = "audit:read";
    /// Read definitions and policies (every agency has it).
    pub const REFERENCE_READ: &str = "reference:read";
}

/// Who is calling, established from the client certificate and the token (which must agree)
/// and the agency registry. Inserted as a request extension by the auth layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerIdentity {
    /// Registry identifier of the agency, e.g. `police-e23000001`.
    pub agency_id: String,
    /// The agency's kind, from the registry.
    pub agency_kind: AgencyKind,
    /// Scopes granted by the token.
    pub scopes: BTreeSet<String>,
    /// ONS GSS codes of the areas the agency serves, from the registry.
    pub areas: Vec<String>,
}

impl CallerIdentity {
    /// Whether the token granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip_through_text_and_contract() {
        for kind in AgencyKind::ALL {
            assert_eq!(kind.as_str().parse::<AgencyKind>().unwrap(), kind);
            assert_eq!(AgencyKind::from_pb(kind.to_pb()), Some(kind));
        }
        assert_eq!(
            "agency_kind_police".parse::<AgencyKind>().unwrap(),
            AgencyKind::Police
        );
        assert!("HOME_OFFICE".parse::<AgencyKind>().is_err());
        assert_eq!(AgencyKind::from_pb(pb::AgencyKind::Unspecified), None);
    }
}
