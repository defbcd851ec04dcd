//! The record's own fields: who sent it, when, for which period and area, which event kind,
//! and its classification under the definition in force.

use chrono::{DateTime, NaiveDate, Utc};
use vawg_domain::{definition::ClassifyError, policy::may_produce};
use vawg_proto::pb::{self, EventKind};

use super::{Validator, check_gss, enums::ProtoEnum, event_kind_of, plain_id, problems::Problems};

/// A record's classification: its local code and the category it maps to.
pub(super) struct Classified {
    /// The local scheme's id.
    pub(super) scheme: String,
    /// The local code, as the scheme spells it.
    pub(super) code: String,
    /// The category under the definition.
    pub(super) category: String,
    /// The category's harm rank.
    pub(super) harm_rank: u32,
    /// Whether the category is a course of conduct.
    pub(super) course_of_conduct: bool,
    /// The context class of a context code (`docs/counting.md` §2.9–2.10). A crime's context
    /// is resolved here from its own flag and relationship (an empty `category`: out of
    /// scope); another record's is resolved through its case's crime by the aggregator, so its
    /// `category` stays empty here.
    pub(super) context: Option<String>,
}

impl Validator<'_> {
    /// The source record id, the revision, and that the record is the caller's own.
    pub(super) fn identity(&self, r: &pb::VawgRecord, p: &mut Problems) {
        let agency_id = self.caller.agency_id.as_str();
        if !plain_id(&r.source_record_id) {
            p.add(
                "source_record_id",
                "required: 1-128 letters, digits or - _ . / : (never personal data)",
            );
        }
        if r.revision == 0 {
            p.add("revision", "must be 1 or more");
        }
        if r.source_agency_id != agency_id {
            p.add(
                "source_agency_id",
                format!("must be the caller's own agency ({agency_id})"),
            );
        }
    }

    /// The event and recorded times; the record cannot be recorded before its event.
    pub(super) fn times(
        &self,
        r: &pb::VawgRecord,
        p: &mut Problems,
    ) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let event_time = p.time(r.event_time.as_ref(), "event_time", self.now);
        let recorded_time = p.time(r.recorded_time.as_ref(), "recorded_time", self.now);
        if let (Some(e), Some(rec)) = (event_time, recorded_time)
            && rec < e
        {
            p.add("recorded_time", "must not be before event_time");
        }
        (event_time, recorded_time)
    }

    /// The event kind, and whether this agency kind may produce it.
    pub(super) fn event_kind(&self, r: &pb::VawgRecord, p: &mut Problems) -> Option<EventKind> {
        let Some(ev) = r.event.as_ref() else {
            p.add("event", "required: one event must be set");
            return None;
        };
        let kind = event_kind_of(ev);
        if !may_produce(self.caller.agency_kind, kind) {
            p.add(
                "event",
                format!(
                    "agency kind {} may not submit {} records",
                    self.caller.agency_kind,
                    kind.canonical()
                ),
            );
        }
        Some(kind)
    }

    /// The classification under the current definition.
    pub(super) fn classification(
        &self,
        r: &pb::VawgRecord,
        p: &mut Problems,
    ) -> Option<Classified> {
        let Some(c) = r.classification.as_ref() else {
            p.add("classification", "required");
            return None;
        };
        let event = r.event.as_ref()?;
        match self.definition.classify_record(
            &c.scheme,
            &c.code,
            Some(self.caller.agency_kind.as_str()),
            event,
        ) {
            Ok(found) => Some(Classified {
                category: found.category_id(),
                harm_rank: found.harm_rank(),
                course_of_conduct: found.course_of_conduct(),
                scheme: found.scheme,
                code: found.code,
                context: found.context,
            }),
            Err(e) => {
                let field = match e {
                    ClassifyError::UnknownCode { .. } => "classification.code",
                    _ => "classification.scheme",
                };
                p.add(field, e.to_string());
                None
            }
        }
    }
}

/// The reference period: both dates, the start not after the end.
pub(super) fn reference_period(
    r: &pb::VawgRecord,
    p: &mut Problems,
) -> (Option<NaiveDate>, Option<NaiveDate>) {
    let Some(rp) = r.reference_period.as_ref() else {
        p.add("reference_period", "required");
        return (None, None);
    };
    let s = p.date(rp.start.as_ref(), "reference_period.start");
    let e = p.date(rp.end.as_ref(), "reference_period.end");
    if let (Some(s), Some(e)) = (s, e)
        && s > e
    {
        p.add(
            "reference_period.end",
            "must not be before reference_period.start",
        );
    }
    (s, e)
}

/// The area: a level, and a GSS code that belongs to it.
pub(super) fn area(r: &pb::VawgRecord, p: &mut Problems) -> Option<(String, pb::AreaLevel)> {
    let Some(a) = r.area.as_ref() else {
        p.add("area", "required");
        return None;
    };
    let level = p.required::<pb::AreaLevel>(a.level, "area.level");
    let code_ok = match check_gss(&a.gss_code, level.unwrap_or(pb::AreaLevel::Unspecified)) {
        Ok(()) => true,
        Err(reason) => {
            p.add("area.gss_code", reason);
            false
        }
    };
    level.filter(|_| code_ok).map(|l| (a.gss_code.clone(), l))
}
