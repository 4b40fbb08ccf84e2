//! AWS Personalize Events: PutEvents, PutUsers, PutItems, PutActions and
//! PutActionInteractions, signed with our own SigV4, equal to boto3 on the wire.
//!
//! A batch's calls (one per user and session, ten records at most) go out side by side within
//! the consumer's `max_in_flight`; no order is kept between them, as each record carries its
//! `sentAt`. To stay under the PutEvents quota of a tracking id, set the consumer's
//! `rate_limit`.
//!
//! ```text
//! track                          ─► PutEvents            POST /events               {trackingId, userId?, sessionId, eventList[≤10]}
//! track with interaction.action_id ► PutActionInteractions POST /action-interactions {trackingId, actionInteractions[≤10]}
//! user_set                       ─► PutUsers             POST /users                {datasetArn, users[≤10]}
//! item_set                       ─► PutItems             POST /items                {datasetArn, items[≤10]}
//! item_set of the action type    ─► PutActions           POST /actions              {datasetArn, actions[≤10]}
//! ```
//!
//! Events are grouped by (userId, sessionId) and every call carries at most 10 records. Bodies
//! are Python's `json.dumps` layout, as botocore sends them, so the same call signs to the same
//! `Authorization`. `properties` travel as a JSON *string*; lists in them are `|`-joined, the
//! form Personalize reads multi-valued categorical fields in.

mod builder;
mod client;
mod requests;
mod rules;
mod settings;
mod wire;

pub use builder::PersonalizeBuilder;
pub use client::Personalize;
pub use settings::PersonalizeSettings;

/// SigV4 signing name (not the endpoint prefix `personalize-events`).
pub const SIGNING_NAME: &str = "personalize";
/// Records per call, for every operation.
pub const MAX_PER_CALL: usize = 10;
/// Default for [`PersonalizeBuilder::action_item_type`].
pub const DEFAULT_ACTION_ITEM_TYPE: &str = "action";
