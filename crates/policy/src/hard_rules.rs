//! The hard rules: enforced in code, after the policy engine, whatever any policy file says.
//! Each check is a pure function of the caller and the flow; [`check`] runs them in the order
//! the firewall applies them.

use std::collections::BTreeSet;

use vawg_domain::{
    identity::{AgencyKind, CallerIdentity},
    policy::may_produce,
};
use vawg_proto::pb;

use crate::{Flow, rpc};

/// The hard rules, in words (`ListPolicies`). Enforced in code after the policy engine.
pub const HARD_RULES: [&str; 6] = [
    "Nothing flows to an IMMIGRATION_ENFORCEMENT agency, or for the purpose of immigration \
     enforcement, for any RPC and any action, whatever any policy file says.",
    "Immigration status never leaves the hub at record level: it is never in a released field \
     mask.",
    "An agency submits only its own records, and only of the kinds its agency kind produces.",
    "Every action needs its token scope (records:write, metrics:read, exchange:request, \
     audit:read, reference:read).",
    "An agency submits records only for the areas it is registered for (the record's \
     area.gss_code is one of its registered GSS codes; an agency registered for no area \
     submits no records).",
    "A record whose suspect is police personnel is never read by, or notified to, a POLICE \
     agency for any purpose other than PROFESSIONAL_STANDARDS.",
];

/// A flow refused by a rule in code, whatever the policies say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The rule's id as audited (`hard-rule:…` for the hard rules, `code:…` for other checks).
    pub rule_id: &'static str,
    /// Why, in words. No personal data.
    pub reason: String,
    /// Whether one of the [`HARD_RULES`] refused (rather than another check in code, such as
    /// a missing scope).
    pub hard_rule: bool,
}

impl Refusal {
    fn hard(rule_id: &'static str, reason: String) -> Option<Refusal> {
        Some(Refusal {
            rule_id,
            reason,
            hard_rule: true,
        })
    }

    fn code(rule_id: &'static str, reason: String) -> Option<Refusal> {
        Some(Refusal {
            rule_id,
            reason,
            hard_rule: false,
        })
    }
}

/// Every check in code, in order: the first refusal, or `None` when the policies decide.
/// (Hard rule 2, immigration status never released, applies to what an allowed flow releases:
/// [`withhold_immigration_status`].)
pub fn check(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    immigration_enforcement(caller, flow)
        .or_else(|| missing_scope(caller, flow))
        .or_else(|| foreign_event_kind(caller, flow))
        .or_else(|| another_agencys_records(caller, flow))
        .or_else(|| foreign_area(caller, flow))
        .or_else(|| police_personnel(caller, flow))
}

/// Hard rule 1: nothing flows to immigration enforcement, for any purpose.
pub fn immigration_enforcement(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    if caller.agency_kind == AgencyKind::ImmigrationEnforcement
        || flow.purpose == pb::Purpose::ImmigrationEnforcement
    {
        return Refusal::hard(
            "hard-rule:no-immigration-enforcement",
            "Hard rule: nothing flows to immigration enforcement, for any purpose.".into(),
        );
    }
    None
}

/// The fourth of [`HARD_RULES`]: the flow names an action and the token grants the action's
/// scope. Audited as a check in code (`code:…`, not a hard-rule refusal), as it always was.
pub fn missing_scope(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    match rpc::required_scope(flow.action) {
        None => Refusal::code("code:action-required", "The flow names no action.".into()),
        Some(needed) if !caller.has_scope(needed) => {
            let action = rpc::short_name(flow.action.as_str_name(), "ACTION_");
            Refusal::code(
                "code:scope-required",
                format!("The token does not grant the scope {needed} that {action} needs."),
            )
        }
        Some(_) => None,
    }
}

/// Hard rule 3, kinds: an agency submits only records of the kinds its agency kind produces.
pub fn foreign_event_kind(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    if flow.action != pb::Action::Submit {
        return None;
    }
    let kind = flow
        .event_kinds
        .iter()
        .find(|k| !may_produce(caller.agency_kind, **k))?;
    Refusal::hard(
        "hard-rule:producer-kinds",
        format!(
            "Hard rule: a {} agency does not produce {} records.",
            caller.agency_kind,
            rpc::short_name(kind.as_str_name(), "EVENT_KIND_")
        ),
    )
}

/// Hard rule 3, ownership: an agency submits only its own records.
pub fn another_agencys_records(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    let foreign = flow.action == pb::Action::Submit
        && flow
            .record_agency_ids
            .iter()
            .any(|a| a != &caller.agency_id);
    if foreign {
        return Refusal::hard(
            "hard-rule:own-records-only",
            "Hard rule: an agency submits only its own records.".into(),
        );
    }
    None
}

/// The words of an area refusal: which areas `caller` is registered for, and the one it is not.
pub fn area_refusal_reason(caller: &CallerIdentity, area: &str) -> String {
    let registered = if caller.areas.is_empty() {
        "no area".to_string()
    } else {
        caller.areas.join(", ")
    };
    format!(
        "agency {} is registered for {registered}; not {area}",
        caller.agency_id
    )
}

/// Whether `caller` is registered for the area `gss_code` (exactly: a registry that lists a
/// force area and the local authorities it covers lists each code it serves).
pub fn serves_area(caller: &CallerIdentity, gss_code: &str) -> bool {
    caller.areas.iter().any(|a| a == gss_code)
}

/// Hard rule 5: an agency submits records only for the areas it is registered for.
pub fn foreign_area(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    if flow.action != pb::Action::Submit {
        return None;
    }
    let area = flow.record_areas.iter().find(|a| !serves_area(caller, a))?;
    Refusal::hard(
        "hard-rule:own-areas-only",
        format!("Hard rule: {}.", area_refusal_reason(caller, area)),
    )
}

/// Hard rule 6: records whose suspect is police personnel reach a police agency only for
/// professional standards. Fails closed: a flow that may carry such records (the service sets
/// `police_personnel` when it cannot tell) is refused.
pub fn police_personnel(caller: &CallerIdentity, flow: &Flow) -> Option<Refusal> {
    let reads = matches!(
        flow.action,
        pb::Action::ReadRecords | pb::Action::ReceiveNotifications
    );
    if reads
        && flow.police_personnel
        && caller.agency_kind == AgencyKind::Police
        && flow.purpose != pb::Purpose::ProfessionalStandards
    {
        return Refusal::hard(
            "hard-rule:police-personnel-professional-standards-only",
            "Hard rule: records whose suspect is police personnel are read by police agencies \
             for professional standards only."
                .into(),
        );
    }
    None
}

const PERSON_CHILDREN: [&str; 3] = ["identifiers", "pseudonym", "demographics"];
const DEMOGRAPHIC_CHILDREN: [&str; 6] = [
    "sex",
    "age_at_event",
    "ethnic_group",
    "disability",
    "sexual_orientation",
    "gender_identity",
];

/// Everything of a record but the people, which are safe to list by name.
const RECORD_TOP_LEVEL: [&str; 14] = [
    "source_record_id",
    "revision",
    "source_agency_id",
    "event_time",
    "recorded_time",
    "reference_period",
    "counting_unit",
    "area",
    "classification",
    "case_references",
    "category",
    "definition_version",
    "suspect_is_police_personnel",
    "event",
];

/// Hard rule 2: a released path never covers immigration status. A path that would (a person,
/// its demographics, or everything) is replaced by its children other than immigration status.
pub fn withhold_immigration_status(fields: BTreeSet<String>) -> Vec<String> {
    let mut out = BTreeSet::new();
    let person = |p: &str, out: &mut BTreeSet<String>| {
        for c in PERSON_CHILDREN {
            if c == "demographics" {
                for d in DEMOGRAPHIC_CHILDREN {
                    out.insert(format!("{p}.demographics.{d}"));
                }
            } else {
                out.insert(format!("{p}.{c}"));
            }
        }
    };
    for field in fields {
        match field.as_str() {
            f if f.contains("immigration_status") => {}
            "*" => {
                out.extend(RECORD_TOP_LEVEL.iter().map(|top| top.to_string()));
                person("victim", &mut out);
                person("suspect", &mut out);
            }
            "victim" | "suspect" => person(&field, &mut out),
            "victim.demographics" | "suspect.demographics" => {
                for d in DEMOGRAPHIC_CHILDREN {
                    out.insert(format!("{field}.{d}"));
                }
            }
            _ => {
                out.insert(field);
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immigration_status_is_withheld_from_every_mask() {
        let fields = withhold_immigration_status(BTreeSet::from([
            "victim.demographics".to_string(),
            "suspect".to_string(),
            "victim.demographics.immigration_status".to_string(),
            "*".to_string(),
            "event".to_string(),
        ]));
        assert!(fields.iter().all(|f| !f.contains("immigration_status")));
        assert!(fields.contains(&"victim.demographics.sex".to_string()));
        assert!(fields.contains(&"suspect.pseudonym".to_string()));
        assert!(!fields.contains(&"victim.demographics".to_string()));
        assert!(!fields.contains(&"*".to_string()));
    }

    fn caller(kind: AgencyKind, scopes: &[&str]) -> CallerIdentity {
        CallerIdentity {
            agency_id: "agency-1".into(),
            agency_kind: kind,
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            areas: Vec::new(),
        }
    }

    #[test]
    fn the_checks_refuse_in_order() {
        let submit = |agencies: &[&str]| {
            let mut flow = Flow::new(pb::Action::Submit, pb::Purpose::RecordSubmission, "/x/y");
            flow.record_agency_ids = agencies.iter().map(|a| a.to_string()).collect();
            flow
        };
        let police = caller(AgencyKind::Police, &["records:write"]);
        assert_eq!(check(&police, &submit(&["agency-1"])), None);
        let rule = |c: &CallerIdentity, f: &Flow| check(c, f).map(|r| (r.rule_id, r.hard_rule));
        assert_eq!(
            rule(&police, &submit(&["agency-2"])),
            Some(("hard-rule:own-records-only", true))
        );
        let unscoped = caller(AgencyKind::Police, &[]);
        assert_eq!(
            rule(&unscoped, &submit(&["agency-2"])),
            Some(("code:scope-required", false))
        );
        let immigration = caller(AgencyKind::ImmigrationEnforcement, &[]);
        assert_eq!(
            rule(&immigration, &submit(&["agency-2"])),
            Some(("hard-rule:no-immigration-enforcement", true))
        );
        let mut elsewhere = submit(&["agency-1"]);
        let mut police = police;
        police.areas = vec!["E23000001".into(), "E06000001".into()];
        elsewhere.record_areas = vec!["E06000001".into(), "E23000002".into()];
        let refused = check(&police, &elsewhere).unwrap();
        assert_eq!(refused.rule_id, "hard-rule:own-areas-only");
        assert_eq!(
            refused.reason,
            "Hard rule: agency agency-1 is registered for E23000001, E06000001; not E23000002."
        );
        elsewhere.record_areas = vec!["E06000001".into()];
        assert_eq!(check(&police, &elsewhere), None);
        let nothing = Flow::new(pb::Action::Unspecified, pb::Purpose::Unspecified, "/x/y");
        assert_eq!(
            rule(&police, &nothing),
            Some(("code:action-required", false))
        );
    }

    #[test]
    fn police_read_police_personnel_records_for_professional_standards_only() {
        let read = |purpose, labelled| {
            let mut flow = Flow::new(pb::Action::ReadRecords, purpose, "/x/y");
            flow.police_personnel = labelled;
            flow
        };
        let police = caller(AgencyKind::Police, &["exchange:request"]);
        let marac = caller(AgencyKind::Marac, &["exchange:request"]);
        let rule = |c: &CallerIdentity, f: &Flow| check(c, f).map(|r| r.rule_id);
        for purpose in [pb::Purpose::Safeguarding, pb::Purpose::LawEnforcement] {
            assert_eq!(
                rule(&police, &read(purpose, true)),
                Some("hard-rule:police-personnel-professional-standards-only")
            );
            assert_eq!(rule(&police, &read(purpose, false)), None);
        }
        let standards = read(pb::Purpose::ProfessionalStandards, true);
        assert_eq!(rule(&police, &standards), None);
        assert_eq!(
            rule(&marac, &read(pb::Purpose::MaracRiskAssessment, true)),
            None
        );
        let mut notified = read(pb::Purpose::Safeguarding, true);
        notified.action = pb::Action::ReceiveNotifications;
        assert!(rule(&police, &notified).is_some());
    }
}
