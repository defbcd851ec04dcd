use std::collections::BTreeSet;

use super::*;

/// A small valid file; tests derive invalid variants by editing one line so each asserts the
/// exact line of its error.
const SMALL: &str = r#"[[metrics]]
id = "charges"
title = "Charges"
description = "Charging decisions to charge."
computation = "count"
outcome = "JUSTICE"
owners = ["POLICE", "CPS"]
event_kinds = ["CHARGING_DECISION"]
counting_rule_applies = false
subtype = "decision maker"
unit = "RECORD"
[[metrics]]
id = "charge_rate"
title = "Charge rate"
description = "Of cases referred, the proportion charged."
computation = "proportion"
outcome = "JUSTICE"
owners = ["POLICE", "CPS"]
event_kinds = ["CPS_REFERRAL", "CHARGING_DECISION"]
counting_rule_applies = false
"#;

fn parse(text: &str) -> Result<Catalogue, CatalogueError> {
    Catalogue::from_toml_str(text, "test.toml")
}

/// Replaces the whole of line `line` (1-based) of `SMALL`.
fn with_line(line: usize, replacement: &str) -> String {
    SMALL
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { replacement } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The error of `text`, as (line, field, message).
fn error(text: &str) -> (usize, String, String) {
    let e = parse(text).expect_err("expected an error");
    (e.line, e.field, e.message)
}

#[test]
fn small_file_is_valid() {
    let c = parse(SMALL).unwrap();
    assert_eq!(c.len(), 2);
    let charges = c.get("charges").unwrap();
    assert_eq!(
        charges.owners,
        vec![pb::AgencyKind::Police, pb::AgencyKind::Cps]
    );
    assert_eq!(charges.event_kinds, vec![EventKind::ChargingDecision]);
    assert_eq!(charges.outcome, pb::Outcome::Justice);
    assert_eq!(charges.subtype.as_deref(), Some("decision maker"));
    let rate = c.get("charge_rate").unwrap();
    assert_eq!(rate.computation, Computation::Proportion);
    assert_eq!(rate.subtype, None);
    assert_eq!(series_of(rate), vec!["charge_rate:num", "charge_rate:den"]);
    assert_eq!(series_of(charges), vec!["charges"]);
}

#[test]
fn embedded_catalogue_is_valid_in_the_order_list_metrics_gives() {
    let c = Catalogue::from_toml_str(DEFAULT_CATALOGUE_TOML, DEFAULT_CATALOGUE_FILE)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(*CATALOGUE, c);
    let ids: Vec<&str> = c.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "recorded_crimes",
            "repeat_victimisations",
            "domestic_context_findings",
            "cps_referrals",
            "cases_referred",
            "charges",
            "charge_rate",
            "referral_to_charge_days",
            "prosecutions",
            "convictions",
            "conviction_rate",
            "protective_orders",
            "victim_does_not_support_rate",
            "victim_withdrawals",
            "withdrawal_rate",
            "attrition_funnel",
            "domestic_homicides",
            "support_funding",
            "support_referrals",
            "people_supported",
            "unable_to_support",
            "victim_satisfaction",
            "marac_referrals",
            "encompass_notifications",
            "health_disclosures",
            "perpetrators_multiple",
        ]
    );
    let recorded = metric("recorded_crimes").unwrap();
    assert!(recorded.counting_rule_applies);
    assert!(
        recorded
            .description
            .starts_with("Offences recorded by the police and in scope of the common definition"),
        "{}",
        recorded.description
    );
    assert_eq!(recorded.unit, pb::MetricUnit::Offence);
    assert_eq!(
        metric("attrition_funnel").unwrap().event_kinds.len(),
        5,
        "multi-line arrays"
    );
    assert!(metric("nonexistent").is_none());
}

#[test]
fn the_catalogue_lists_exactly_what_the_code_computes() {
    let listed: BTreeSet<(&str, &str)> = CATALOGUE
        .iter()
        .map(|m| (m.id.as_str(), m.computation.name()))
        .collect();
    let computed: Vec<(&str, &str)> = crate::aggregate::computed_metrics()
        .map(|(id, c)| (id, c.name()))
        .collect();
    assert_eq!(computed.len(), listed.len(), "no metric computed twice");
    assert_eq!(listed, computed.into_iter().collect::<BTreeSet<_>>());
}

#[test]
fn computation_names_round_trip() {
    for c in Computation::ALL {
        assert_eq!(Computation::from_name(c.name()), Some(c));
    }
    assert_eq!(Computation::from_name("Count"), None);
}

#[test]
fn error_display_names_file_line_column_and_field() {
    let e = parse(&with_line(7, r#"owners = ["POLICE", "CPSS"]"#)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "test.toml:7:21: metrics[0].owners[1]: unknown agency kind `CPSS`; expected one of \
         POLICE, CPS, COURT, HEALTH, LOCAL_AUTHORITY, SCHOOL, SUPPORT_SERVICE, PROBATION, MARAC, \
         COMMISSIONER"
    );
}

#[test]
fn error_unknown_enum_values() {
    let (line, field, message) = error(&with_line(6, r#"outcome = "JUSTIS""#));
    assert_eq!((line, field.as_str()), (6, "metrics[0].outcome"));
    assert!(message.starts_with("unknown outcome `JUSTIS`; expected one of REPORTING, JUSTICE"));
    // The full contract name is not the catalogue's spelling, and UNSPECIFIED is never a value.
    let (line, field, _) = error(&with_line(6, r#"outcome = "OUTCOME_JUSTICE""#));
    assert_eq!((line, field.as_str()), (6, "metrics[0].outcome"));
    let (line, field, _) = error(&with_line(6, r#"outcome = "UNSPECIFIED""#));
    assert_eq!((line, field.as_str()), (6, "metrics[0].outcome"));
    let (line, field, message) = error(&with_line(
        19,
        r#"event_kinds = ["CPS_REFERRAL", "CHARGE"]"#,
    ));
    assert_eq!((line, field.as_str()), (19, "metrics[1].event_kinds[1]"));
    assert!(
        message.starts_with("unknown event kind `CHARGE`"),
        "{message}"
    );
    // Agencies that never submit records own no data.
    let (line, field, _) = error(&with_line(7, r#"owners = ["CENTRAL_ANALYST"]"#));
    assert_eq!((line, field.as_str()), (7, "metrics[0].owners[0]"));
}

#[test]
fn error_lists_must_be_non_empty_without_repeats() {
    let (line, field, message) = error(&with_line(8, "event_kinds = []"));
    assert_eq!((line, field.as_str()), (8, "metrics[0].event_kinds"));
    assert_eq!(message, "at least one event kind is required");
    let (line, field, message) = error(&with_line(7, r#"owners = ["CPS", "CPS"]"#));
    assert_eq!((line, field.as_str()), (7, "metrics[0].owners[1]"));
    assert_eq!(message, "agency kind `CPS` is listed twice");
    let (_, _, message) = error(&with_line(7, "owners = [1]"));
    assert_eq!(message, "expected a string, found integer");
}

#[test]
fn error_a_metric_without_a_computation_in_code() {
    let (line, field, message) = error(&with_line(13, r#"id = "charge_ratio""#));
    assert_eq!((line, field.as_str()), (13, "metrics[1].id"));
    assert!(message.contains("has no computation in code"), "{message}");
    let (line, field, message) = error(&with_line(16, r#"computation = "count""#));
    assert_eq!((line, field.as_str()), (16, "metrics[1].computation"));
    assert_eq!(
        message,
        "`count` does not match the code, which computes `charge_rate` as `proportion`"
    );
    let (line, field, message) = error(&with_line(16, r#"computation = "ratio""#));
    assert_eq!((line, field.as_str()), (16, "metrics[1].computation"));
    assert_eq!(
        message,
        "unknown computation `ratio`; expected one of count, amount, proportion, days"
    );
}

#[test]
fn error_ids_are_unique_snake_case() {
    let (line, field, message) = error(&with_line(13, r#"id = "charges""#));
    assert_eq!((line, field.as_str()), (13, "metrics[1].id"));
    assert_eq!(
        message,
        "duplicate metric id `charges` (first defined at line 2)"
    );
    let (line, field, _) = error(&with_line(2, r#"id = "Charges""#));
    assert_eq!((line, field.as_str()), (2, "metrics[0].id"));
}

#[test]
fn error_missing_and_unknown_fields() {
    let (line, field, message) = error(&with_line(9, ""));
    assert_eq!(
        (line, field.as_str()),
        (1, "metrics[0].counting_rule_applies")
    );
    assert_eq!(message, "required field is missing");
    let (line, field, _) = error(&with_line(9, "counting_rules_apply = false"));
    assert_eq!(
        (line, field.as_str()),
        (9, "metrics[0].counting_rules_apply")
    );
    let (_, field, _) = error("");
    assert_eq!(field, "metrics");
    let (_, field, message) = error(&with_line(10, r#"subtype = """#));
    assert_eq!(
        (field.as_str(), message.as_str()),
        ("metrics[0].subtype", "must not be empty")
    );
}
