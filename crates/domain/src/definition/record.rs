//! A record's classification under a definition, from its local code and its event: what
//! ingest stores, and what the reclassification of stored records recomputes
//! (`docs/counting.md` §2.9–2.10).

use super::{Category, ClassifyError, CrimeContext, Definition, Target};
use crate::{aggregate::in_case, pb::vawg_record::Event, policy::event_kind};

/// What a record is classified as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordClassification<'a> {
    /// The scheme's id, as the definition spells it.
    pub scheme: String,
    /// The code in the scheme's canonical notation (`4/1` for a submitted `004.01`).
    pub code: String,
    /// The category; `None`: out of scope (a crime outside a domestic context whose context
    /// class has no non-domestic category), or a justice-stage record whose context its case's
    /// crime decides.
    pub category: Option<&'a Category>,
    /// The context class of a context code, kept so the aggregator (or a later
    /// reclassification) can resolve it.
    pub context: Option<String>,
}

impl RecordClassification<'_> {
    /// The category id, empty when there is none (out of scope or unresolved): as stored.
    pub fn category_id(&self) -> String {
        self.category.map(|c| c.id.clone()).unwrap_or_default()
    }

    /// The category's harm rank, 0 without a category.
    pub fn harm_rank(&self) -> u32 {
        self.category.map_or(0, |c| c.harm_rank)
    }

    /// Whether the category is a course of conduct (false without a category).
    pub fn course_of_conduct(&self) -> bool {
        self.category.is_some_and(|c| c.course_of_conduct)
    }
}

impl Definition {
    /// Classifies a record's local code (scheme and code) for a record with `event`:
    /// - a crime: in its own context (its domestic-abuse flag and relationship);
    /// - a justice-stage record (referral, charge, prosecution, court outcome, withdrawal)
    ///   with a context code: unresolved, its case's crime decides it;
    /// - any other record with a context code (a MARAC or support referral, an order, a
    ///   disclosure): the domestic category — a service's record exists because of abuse the
    ///   service deals with as domestic.
    ///
    /// `agency_kind` is checked against the scheme as [`Definition::lookup`] does; `None`
    /// skips the check (stored records were checked when they arrived).
    pub fn classify_record(
        &self,
        scheme: &str,
        code: &str,
        agency_kind: Option<&str>,
        event: &Event,
    ) -> Result<RecordClassification<'_>, ClassifyError> {
        let (matched, category, context) = match event {
            Event::CrimeRecorded(crime) => {
                let f = self.classify_in_context(
                    scheme,
                    code,
                    agency_kind,
                    CrimeContext::of_crime(crime),
                )?;
                let context = match f.matched.target {
                    Target::Context(x) => Some(x.id.clone()),
                    Target::Category(_) => None,
                };
                (f.matched, f.resolution.category, context)
            }
            ev => {
                let m = self.lookup(scheme, code, agency_kind)?;
                match m.target {
                    Target::Category(category) => (m, Some(category), None),
                    Target::Context(x) if in_case(event_kind(ev)) => (m, None, Some(x.id.clone())),
                    Target::Context(x) => (m, self.category(&x.domestic_category), None),
                }
            }
        };
        Ok(RecordClassification {
            scheme: matched.scheme.id.clone(),
            code: matched.mapping.code.clone(),
            category,
            context,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{definition::DefinitionSet, pb};

    fn crime(flag: bool, relationship: pb::Relationship) -> Event {
        Event::CrimeRecorded(pb::CrimeRecorded {
            domestic_abuse_flag: flag,
            relationship: relationship as i32,
            online_flag: false,
        })
    }

    #[test]
    fn each_kind_of_record_is_classified_by_its_rule() {
        let set = DefinitionSet::embedded();
        let d = set.current();
        let id = |c: &RecordClassification| c.category.map(|c| c.id.clone());
        let stranger = d
            .classify_record(
                "HO_OFFENCE",
                "1",
                None,
                &crime(false, pb::Relationship::Stranger),
            )
            .unwrap();
        assert_eq!(
            (id(&stranger), stranger.context.as_deref()),
            (None, Some("homicide"))
        );
        let partner = d
            .classify_record(
                "HO_OFFENCE",
                "004/01",
                None,
                &crime(false, pb::Relationship::Partner),
            )
            .unwrap();
        assert_eq!(
            (id(&partner), partner.code.as_str()),
            (Some("domestic_homicide".into()), "4/1")
        );
        let referral = d
            .classify_record(
                "HO_OFFENCE",
                "8N",
                None,
                &Event::CpsReferral(Default::default()),
            )
            .unwrap();
        assert_eq!(
            (id(&referral), referral.context.as_deref()),
            (None, Some("violence_against_the_person"))
        );
        let marac = d
            .classify_record(
                "HO_OFFENCE",
                "8N",
                None,
                &Event::MaracReferral(Default::default()),
            )
            .unwrap();
        assert_eq!(
            (id(&marac), marac.context),
            (Some("domestic_abuse".into()), None)
        );
        let ccb = d
            .classify_record(
                "LEGISLATION",
                "Serious Crime Act 2015 s76",
                Some("POLICE"),
                &crime(true, pb::Relationship::Partner),
            )
            .unwrap();
        assert_eq!(id(&ccb), Some("controlling_or_coercive_behaviour".into()));
    }
}
