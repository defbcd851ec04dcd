//! The token scopes each kind of agency needs for its role.

use std::collections::BTreeSet;

use vawg_domain::{
    identity::{AgencyKind, scope},
    policy::{EVENT_KINDS, may_produce},
};

/// The scopes a development token gets by default for an agency of `kind`: what its role
/// needs. (Immigration enforcement gets every scope, so that tests show the hard rule, not a
/// missing scope, refusing it.)
pub fn default_scopes(kind: AgencyKind) -> BTreeSet<String> {
    let mut scopes = BTreeSet::from([
        scope::REFERENCE_READ.to_string(),
        scope::METRICS_READ.to_string(),
        scope::AUDIT_READ.to_string(),
    ]);
    if EVENT_KINDS.iter().any(|e| may_produce(kind, *e))
        || kind == AgencyKind::ImmigrationEnforcement
    {
        scopes.insert(scope::RECORDS_WRITE.to_string());
    }
    if !matches!(kind, AgencyKind::CentralAnalyst | AgencyKind::Commissioner) {
        scopes.insert(scope::EXCHANGE_REQUEST.to_string());
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scopes_follow_the_role() {
        let school = default_scopes(AgencyKind::School);
        assert!(school.contains(scope::EXCHANGE_REQUEST));
        assert!(school.contains(scope::RECORDS_WRITE));
        let central = default_scopes(AgencyKind::CentralAnalyst);
        assert!(!central.contains(scope::RECORDS_WRITE));
        assert!(!central.contains(scope::EXCHANGE_REQUEST));
        assert!(central.contains(scope::METRICS_READ));
        assert_eq!(default_scopes(AgencyKind::ImmigrationEnforcement).len(), 5);
    }
}
