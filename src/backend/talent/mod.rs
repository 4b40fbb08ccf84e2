//! Google Cloud Talent Solution client events: v4 by default, v3 for `extraInfo` and
//! `parentEventId`, which v4 lacks.
//!
//! A batch's events (one request each) go out side by side within the consumer's
//! `max_in_flight`; each carries its `createTime`.
//!
//! ```text
//! v4: POST /v4/{parent=projects/*/tenants/*}/clientEvents?$alt=json;enum-encoding=int
//!     {requestId, eventId, createTime, jobEvent{type: <int>, jobs}, eventNotes}
//! v3: POST /v3/{parent=projects/*}/clientEvents?alt=json
//!     {"clientEvent": {requestId, eventId, parentEventId, createTime, jobEvent{type: "NAME", jobs}, extraInfo}}
//! ```
//!
//! From the neutral event: the name is the job event type (`VIEW`, `impression`, …, any
//! case), the insert id the `eventId`, the time the `createTime`; the interaction block gives
//! the `requestId` (its recommendation id; optional, as in the
//! API, though Google strongly recommends it), the jobs (its item
//! ids; a bare id becomes `{parent}/jobs/{id}`) and, in v3, the `parentEventId`. The property
//! `event_notes` is v4's `eventNotes`; in v3 the properties are `extraInfo` (≤ 20 keys, ≤ 2 KB,
//! checked at the call).

mod builder;
mod client;
mod requests;
mod rules;
mod settings;
mod wire;

pub use builder::TalentBuilder;
pub use client::{Talent, TalentVersion};
pub use settings::TalentSettings;

/// The endpoint of the Talent API.
pub const DEFAULT_ENDPOINT: &str = "https://jobs.googleapis.com";
/// The property that carries v4's `eventNotes`.
pub const EVENT_NOTES: &str = "event_notes";

/// Job event types, by their enum number (v3 adds `NOT_INTERESTED`).
pub const JOB_EVENT_TYPES: [&str; 17] = [
    "JOB_EVENT_TYPE_UNSPECIFIED",
    "IMPRESSION",
    "VIEW",
    "VIEW_REDIRECT",
    "APPLICATION_START",
    "APPLICATION_FINISH",
    "APPLICATION_QUICK_SUBMISSION",
    "APPLICATION_REDIRECT",
    "APPLICATION_START_FROM_SEARCH",
    "APPLICATION_REDIRECT_FROM_SEARCH",
    "APPLICATION_COMPANY_SUBMIT",
    "BOOKMARK",
    "NOTIFICATION",
    "HIRED",
    "SENT_CV",
    "INTERVIEW_GRANTED",
    "NOT_INTERESTED",
];
