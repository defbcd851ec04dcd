//! Exchange: the notifications outbox (Operation Encompass, MARAC and support referrals), its
//! per-recipient sequences and acknowledgements, sealing keys, and the look-up of records about
//! a subject for purpose-limited sharing.
//!
//! # Outbox
//!
//! [`enqueue_notifications`] (`outbox`) runs INSIDE the ingest transaction
//! ([`Store::ingest`](crate::Store::ingest)): a notification exists exactly when its record is
//! committed, never before and never without it, and it survives restarts until delivered. Each (recipient agency, topic) has a cursor row
//! holding the last sequence assigned; the ingest transaction bumps it with an upsert, which
//! locks the row until commit, so sequences are gap-free and become visible in sequence order
//! even with several replicas writing (cursor rows are locked in a fixed order: no deadlock).
//!
//! # Live delivery (`subscriptions`)
//!
//! - PostgreSQL: the transaction also runs `pg_notify('vawg_notifications', …)`, which
//!   PostgreSQL delivers at commit to every replica's `LISTEN` connection
//!   ([`Store::notification_wakeups`](crate::Store::notification_wakeups)), so whichever
//!   replica received the record, every replica with a subscriber wakes at once.
//! - SQLite (one process): after commit, [`Announcement::publish`] wakes the subscribers of this
//!   process through an in-process broadcast.
//!
//! Either way a wake-up only says "look again": subscribers read the outbox by sequence, and
//! also poll it on a short interval, so a lost wake-up delays a notification but never loses it.
//!
//! Also here: agencies' sealing keys (`sealing`) and the look-up of current records about a
//! subject for purpose-limited sharing (`sharing`).

use vawg_proto::pb;

pub use self::{
    outbox::enqueue_notifications,
    sealing::{KeyRegistration, SealingKey},
    sharing::SharedRecord,
    subscriptions::{Acknowledged, Announcement, PG_CHANNEL, StoredNotification, Wakeup},
};
pub use crate::detail::sealed_from_detail;

mod outbox;
mod sealing;
mod sharing;
mod subscriptions;

/// A notification topic (mirrors `vawg.v1.Topic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Operation Encompass notifications to a school.
    Encompass,
    /// MARAC referrals to the MARAC of the victim's area.
    Marac,
    /// Support referrals to the receiving service.
    SupportReferral,
}

impl Topic {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Encompass => "ENCOMPASS",
            Topic::Marac => "MARAC",
            Topic::SupportReferral => "SUPPORT_REFERRAL",
        }
    }

    /// The contract value.
    pub fn to_pb(self) -> pb::Topic {
        match self {
            Topic::Encompass => pb::Topic::Encompass,
            Topic::Marac => pb::Topic::Marac,
            Topic::SupportReferral => pb::Topic::SupportReferral,
        }
    }

    /// From the contract value; `None` for UNSPECIFIED.
    pub fn from_pb(topic: pb::Topic) -> Option<Topic> {
        match topic {
            pb::Topic::Unspecified => None,
            pb::Topic::Encompass => Some(Topic::Encompass),
            pb::Topic::Marac => Some(Topic::Marac),
            pb::Topic::SupportReferral => Some(Topic::SupportReferral),
        }
    }

    fn parse(s: &str) -> Option<Topic> {
        [Topic::Encompass, Topic::Marac, Topic::SupportReferral]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        for t in [Topic::Encompass, Topic::Marac, Topic::SupportReferral] {
            assert_eq!(Topic::from_pb(t.to_pb()), Some(t));
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::from_pb(pb::Topic::Unspecified), None);
    }
}
