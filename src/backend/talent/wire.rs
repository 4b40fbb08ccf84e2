//! The wire shape: a client event, its keys in the order the official clients write them
//! (v4 JSON, v3 as Python's `json.dumps`).

use serde::Serialize;
use serde_json::Value as Json;

use super::client::{Talent, TalentVersion};
use super::{EVENT_NOTES, JOB_EVENT_TYPES};
use crate::clock::format_rfc3339_ms;
use crate::event::Event;
use crate::value::Value;

impl Talent {
    pub(super) fn event_type(&self, e: &Event) -> Option<usize> {
        let name = e.name()?.to_ascii_uppercase();
        let max = if self.version == TalentVersion::V3 { 16 } else { 15 };
        JOB_EVENT_TYPES
            .iter()
            .position(|t| *t == name)
            .filter(|&n| (1..=max).contains(&n))
    }

    pub(super) fn job_name(&self, id: &str) -> String {
        if id.contains('/') {
            id.to_owned()
        } else {
            format!("{}/jobs/{id}", self.parent)
        }
    }

    pub(super) fn client_event<'e>(&self, e: &'e Event) -> ClientEvent<'e> {
        let i = e.interaction.as_deref();
        let n = self.event_type(e).unwrap_or(0);
        let v3 = self.version == TalentVersion::V3;
        ClientEvent {
            request_id: i.and_then(|i| i.recommendation_id.as_deref()),
            event_id: e.insert_id.to_string(),
            parent_event_id: i.and_then(|i| i.parent_event_id.as_deref()).filter(|_| v3),
            create_time: format_rfc3339_ms(e.time),
            job_event: JobEvent {
                ty: if v3 { JOB_EVENT_TYPES[n].into() } else { n.into() },
                jobs: i
                    .map(|i| i.items.iter().map(|it| self.job_name(&it.id)).collect())
                    .unwrap_or_default(),
            },
            event_notes: match e.properties.get(EVENT_NOTES) {
                Some(Value::String(notes)) if !v3 => Some(notes.as_str()),
                _ => None,
            },
            extra_info: (v3 && !e.properties.is_empty()).then_some(ExtraInfo(&e.properties)),
        }
    }
}

/// A client event, its keys in the order the official clients write them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ClientEvent<'e> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) request_id: Option<&'e str>,
    pub(super) event_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) parent_event_id: Option<&'e str>,
    pub(super) create_time: String,
    pub(super) job_event: JobEvent,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) event_notes: Option<&'e str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) extra_info: Option<ExtraInfo<'e>>,
}

#[derive(Serialize)]
pub(super) struct JobEvent {
    #[serde(rename = "type")]
    pub(super) ty: Json,
    pub(super) jobs: Vec<String>,
}

/// The v3 body: `{"clientEvent": …}`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateRequest<'e> {
    pub(super) client_event: ClientEvent<'e>,
}

/// The properties as `extraInfo`, in their own order.
pub(super) struct ExtraInfo<'e>(&'e crate::value::Properties);

impl Serialize for ExtraInfo<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, text(v))))
    }
}

/// A property as `extraInfo` text: strings as they are, everything else as JSON.
pub(super) fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string(),
        v => v.to_string(),
    }
}
