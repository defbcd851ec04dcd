//! Police outcomes: the Home Office outcome group of each outcome type, which the hub derives
//! itself, and the (type, group) pairings the contract accepted before it followed the Home
//! Office's groups, which v1 clients may still send.
//!
//! Sources (stored public copies, read for this table):
//! - Home Office, "Crime outcomes in England and Wales 2023 to 2024: Technical annex", §A2
//!   "The Crime Outcomes Framework" (24 July 2024): the outcomes framework in force since April
//!   2014, whose outcome types the Home Office Counting Rules (General Rules, section H,
//!   "Recorded Crime Outcomes") define.
//!   <https://www.gov.uk/government/statistics/crime-outcomes-in-england-and-wales-2023-to-2024/crime-outcomes-in-england-and-wales-technical-annex>
//! - The outcome groups of the Home Office's police outcomes statistics, as quoted in a request
//!   answered by Gwent Police (FOI 2025/28532, "Crime outcomes April 2024 - March 2025"):
//!   Charged/Summonsed; Taken into consideration; Out-of-court (formal); Out-of-court
//!   (informal); Diversionary, educational or intervention activity; Prosecution prevented or
//!   not in the public interest; Evidential difficulties (suspect identified; victim supports
//!   action); Evidential difficulties (victim does not support action); Investigation complete
//!   – no suspect identified; Further investigation to support formal action not in the public
//!   interest – police decision; Responsibility for further investigation transferred to
//!   another body.
//! - Outcome 17 "Prosecution time limit expired": Home Office answer to written question 120921
//!   (parallelparliament.co.uk). Outcome 21 "Further investigation ... not in the public
//!   interest – police decision": Cleveland Police FOI 38-25. Outcome 22 "Diversionary,
//!   educational or intervention activity ...", from April 2019: Youth Justice Legal Centre,
//!   "Deferred prosecution – outcome 22".
//!
//! The group names are the Home Office's (the FOI list above). The stored copies read did not
//! include the Home Office's own table of types against groups (only the technical annex's
//! opening could be read), so the assignment below is the outcomes framework as widely reproduced,
//! checked against the names and descriptions above; `docs/counting.md` §5 gives the same table.
//! Two points are unconfirmed and worth checking against the Home Office outcomes tables:
//! outcome 7 (cannabis/khat warning), put with the other formal warnings and notices in
//! out-of-court (formal); and outcome 19 (National Fraud Intelligence Bureau filed), in none of
//! the published groups found, which the hub keeps in `OTHER`, its group before.

use vawg_proto::pb::PoliceOutcomeGroup as G;

/// The Home Office outcome types: 1 to 22.
pub(in crate::validate) const OUTCOME_TYPES: std::ops::RangeInclusive<u32> = 1..=22;

/// The Home Office outcome group of outcome type `t`, as the hub derives and stores it; `None`
/// if `t` is not a Home Office outcome type.
pub(in crate::validate) fn home_office_group(t: u32) -> Option<G> {
    Some(match t {
        // Charge/summons.
        1 => G::ChargedOrSummonsed,
        // Caution (youth), caution (adult), penalty notice for disorder, cannabis/khat warning
        // (7: unconfirmed, see the module note).
        2 | 3 | 6 | 7 => G::OutOfCourtFormal,
        // Taken into consideration.
        4 => G::TakenIntoConsideration,
        // The offender has died; not in the public interest (CPS, police); prosecution prevented
        // (suspect under age, suspect too ill, victim or key witness dead or too ill);
        // prosecution time limit expired.
        5 | 9..=13 | 17 => G::ProsecutionPrevented,
        // Community resolution.
        8 => G::OutOfCourtInformal,
        // Evidential difficulties, the victim not supporting action: suspect not identified
        // (14), suspect identified (16).
        14 | 16 => G::VictimDoesNotSupport,
        // Evidential difficulties: suspect identified, victim supports action.
        15 => G::EvidentialDifficultiesVictimSupports,
        // Investigation complete: no suspect identified.
        18 => G::NoSuspectIdentified,
        // No published Home Office group (see the module note).
        19 => G::Other,
        // Action undertaken by another body or agency.
        20 => G::TransferredToAnotherBody,
        // Further investigation not in the public interest: police decision.
        21 => G::FurtherInvestigationNotInPublicInterest,
        // Diversionary, educational or intervention activity.
        22 => G::DiversionaryActivity,
        _ => return None,
    })
}

/// The group the contract paired with outcome type `t` before it followed the Home Office's
/// groups (types 4 and 5 had none: they were refused). A v1 client that sends this pairing is
/// still accepted; the hub stores [`home_office_group`] whatever was sent.
pub(in crate::validate) fn v1_group(t: u32) -> Option<G> {
    Some(match t {
        1 => G::ChargedOrSummonsed,
        2 | 3 | 6 | 7 | 8 => G::OutOfCourt,
        15 => G::EvidentialDifficultiesVictimSupports,
        16 => G::VictimDoesNotSupport,
        18 => G::NoSuspectIdentified,
        9..=14 | 21 => G::ProsecutionPrevented,
        17 | 19 | 20 | 22 => G::Other,
        _ => return None,
    })
}

/// Whether a client may send `group` with outcome type `t`: the Home Office group, or the
/// pairing the contract accepted before.
pub(in crate::validate) fn accepts(t: u32, group: G) -> bool {
    home_office_group(t) == Some(group) || v1_group(t) == Some(group)
}
