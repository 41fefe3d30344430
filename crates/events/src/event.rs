//! The lesson event and its CloudEvent envelope.
//!
//! Versioning: `schema_version` is `"<major>.<minor>"`. A consumer accepts every
//! minor of its major (newer minors only add fields, which it ignores) and rejects
//! other majors, which user-progress answers with DROP so Dapr moves the event to
//! the dead-letter topic instead of blocking the partition.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Schema major version this build produces and understands.
pub const SCHEMA_MAJOR: u32 = 1;
/// Full schema version this build produces.
pub const SCHEMA_VERSION: &str = "1.0";
/// CloudEvent `type` of lesson events.
pub const EVENT_TYPE: &str = "dev.learnflow.lesson.created";
/// CloudEvent `source` of lesson events: the one app allowed to publish them.
pub const EVENT_SOURCE: &str = "course-agent";
/// Longest learner id accepted anywhere.
pub const MAX_LEARNER_ID_LEN: usize = 128;

/// "A lesson was generated for a learner."
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonEvent {
    /// `"<major>.<minor>"`.
    pub schema_version: String,
    /// Unique per event; the consumer's deduplication key.
    pub event_id: Uuid,
    /// The lesson.
    pub lesson_id: Uuid,
    /// The learner (JWT subject); also the Kafka partition key.
    pub learner_id: String,
    /// Course id, e.g. `arithmetic`.
    pub course: String,
    /// Topic id within the course, e.g. `fraction-addition`.
    pub topic: String,
    /// 1 (easiest) to 5.
    pub difficulty: u8,
    /// Whether the learner's mastery chose topic and difficulty.
    pub personalised: bool,
    /// When course-agent stored the lesson.
    pub created_at: DateTime<Utc>,
}

/// Why an event cannot be processed (never worth retrying).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, not a CloudEvent, or fields missing or of the wrong type.
    #[error("malformed event: {0}")]
    Malformed(String),
    /// A schema major version this build does not understand.
    #[error("unsupported schema version {0:?} (this consumer understands {SCHEMA_MAJOR}.x)")]
    UnsupportedVersion(String),
    /// Well-formed, but a value is out of range.
    #[error("invalid event: {0}")]
    Invalid(String),
    /// A CloudEvent whose `source` or `type` is not that of lesson events: published by
    /// something other than course-agent. (The component's publishingScopes stop other
    /// apps at their daprd; this also stops anything writing to Kafka directly.)
    #[error("not a lesson event from {EVENT_SOURCE}: source {from:?}, type {kind:?}")]
    Foreign {
        /// The `source` it carried.
        from: String,
        /// The `type` it carried.
        kind: String,
    },
}

impl EventError {
    /// A short label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformed",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::Invalid(_) => "invalid",
            Self::Foreign { .. } => "foreign",
        }
    }
}

impl LessonEvent {
    /// A new event for a stored lesson.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        lesson_id: Uuid,
        learner_id: String,
        course: String,
        topic: String,
        difficulty: u8,
        personalised: bool,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            schema_version: SCHEMA_VERSION.to_owned(),
            event_id: Uuid::now_v7(),
            lesson_id,
            learner_id,
            course,
            topic,
            difficulty,
            personalised,
            created_at,
        }
    }

    /// The CloudEvent envelope course-agent publishes; `traceparent` continues the request's trace.
    pub fn to_cloud_event(&self, traceparent: Option<&str>) -> serde_json::Value {
        let mut ce = serde_json::json!({
            "specversion": "1.0",
            "id": self.event_id,
            "source": EVENT_SOURCE,
            "type": EVENT_TYPE,
            "datacontenttype": "application/json",
            "time": self.created_at,
            "data": self,
        });
        if let Some(tp) = traceparent {
            set_trace_context(&mut ce, tp);
        }
        ce
    }

    /// Checks ranges and the schema version.
    pub fn validate(&self) -> Result<(), EventError> {
        let major = self
            .schema_version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .ok_or_else(|| EventError::UnsupportedVersion(self.schema_version.clone()))?;
        if major != SCHEMA_MAJOR {
            return Err(EventError::UnsupportedVersion(self.schema_version.clone()));
        }
        // The same rule the gateway applies to token subjects, so no event can carry a
        // learner id no learner could have.
        if !crate::valid_learner_id(&self.learner_id) {
            return Err(EventError::Invalid(format!(
                "learner_id: {}",
                crate::LEARNER_ID_RULE
            )));
        }
        if self.course.is_empty() || self.topic.is_empty() {
            return Err(EventError::Invalid(
                "course and topic must not be empty".into(),
            ));
        }
        if !(1..=5).contains(&self.difficulty) {
            return Err(EventError::Invalid(format!(
                "difficulty {} is not in 1..=5",
                self.difficulty
            )));
        }
        Ok(())
    }
}

/// Names the trace a CloudEvent continues, in both fields Dapr reads: `traceparent`
/// and `traceid`. Both, because daprd's bulk publish keeps an event's own trace only
/// when `traceid` is set; otherwise it writes its bulk request's span into both fields,
/// and every event of the batch would continue that request instead of its lesson.
pub fn set_trace_context(cloud_event: &mut serde_json::Value, traceparent: &str) {
    if let Some(obj) = cloud_event.as_object_mut() {
        obj.insert("traceid".into(), traceparent.into());
        obj.insert("traceparent".into(), traceparent.into());
    }
}

/// Decodes a delivered CloudEvent (JSON) into a validated lesson event.
///
/// The envelope's `source` and `type` are checked first (anything but course-agent's
/// lesson events is foreign), then the version before the payload's shape, so a newer
/// major with a different shape is reported as unsupported rather than malformed.
pub fn decode_cloud_event(body: &[u8]) -> Result<LessonEvent, EventError> {
    let ce: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| EventError::Malformed(format!("not JSON: {e}")))?;
    if !ce.is_object() {
        return Err(EventError::Malformed("not a JSON object".into()));
    }
    let field = |name: &str| ce.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    if field("source") != EVENT_SOURCE || field("type") != EVENT_TYPE {
        return Err(EventError::Foreign {
            from: field("source").chars().take(128).collect(),
            kind: field("type").chars().take(128).collect(),
        });
    }
    let data = match ce.get("data") {
        Some(serde_json::Value::String(s)) => serde_json::from_str(s)
            .map_err(|e| EventError::Malformed(format!("data is a string but not JSON: {e}")))?,
        Some(d) => d.clone(),
        None => return Err(EventError::Malformed("no `data` in the CloudEvent".into())),
    };
    if let Some(version) = data.get("schema_version").and_then(|v| v.as_str()) {
        let major = version
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok());
        if major != Some(SCHEMA_MAJOR) {
            return Err(EventError::UnsupportedVersion(version.to_owned()));
        }
    }
    let event: LessonEvent =
        serde_json::from_value(data).map_err(|e| EventError::Malformed(e.to_string()))?;
    event.validate()?;
    Ok(event)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A CloudEvent from course-agent around `data`.
    fn envelope(data: impl Serialize) -> serde_json::Value {
        serde_json::json!({"source": EVENT_SOURCE, "type": EVENT_TYPE, "data": data})
    }

    fn event() -> LessonEvent {
        LessonEvent::new(
            Uuid::now_v7(),
            "learner-1".into(),
            "arithmetic".into(),
            "fraction-addition".into(),
            2,
            true,
            Utc::now(),
        )
    }

    #[test]
    fn round_trips_through_its_cloud_event() {
        let e = event();
        let ce = e.to_cloud_event(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        assert_eq!(ce["id"], serde_json::json!(e.event_id));
        assert_eq!(
            ce["traceparent"],
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        );
        assert_eq!(ce["traceid"], ce["traceparent"]);
        let decoded = decode_cloud_event(&serde_json::to_vec(&ce).unwrap()).unwrap();
        assert_eq!(decoded, e);
    }

    #[test]
    fn newer_minor_with_unknown_fields_is_accepted() {
        let mut data = serde_json::to_value(event()).unwrap();
        data["schema_version"] = "1.7".into();
        data["hint"] = "from the future".into();
        let body = envelope(data);
        assert!(decode_cloud_event(&serde_json::to_vec(&body).unwrap()).is_ok());
    }

    #[test]
    fn unknown_major_is_unsupported_even_if_shaped_differently() {
        let body = envelope(serde_json::json!({"schema_version": "2.0", "lesson": {}}));
        let err = decode_cloud_event(&serde_json::to_vec(&body).unwrap()).unwrap_err();
        assert_eq!(err.reason(), "unsupported_version");
    }

    #[test]
    fn garbage_is_malformed() {
        assert_eq!(
            decode_cloud_event(b"not json {").unwrap_err().reason(),
            "malformed"
        );
        assert_eq!(
            decode_cloud_event(b"[1, 2]").unwrap_err().reason(),
            "malformed"
        );
        let no_data = serde_json::json!({"source": EVENT_SOURCE, "type": EVENT_TYPE, "id": 1});
        assert_eq!(
            decode_cloud_event(&serde_json::to_vec(&no_data).unwrap())
                .unwrap_err()
                .reason(),
            "malformed"
        );
        let body = envelope(serde_json::json!({"schema_version": "1.0"}));
        assert_eq!(
            decode_cloud_event(&serde_json::to_vec(&body).unwrap())
                .unwrap_err()
                .reason(),
            "malformed"
        );
    }

    #[test]
    fn out_of_range_values_are_invalid() {
        let mut e = event();
        e.difficulty = 9;
        let body = envelope(e);
        assert_eq!(
            decode_cloud_event(&serde_json::to_vec(&body).unwrap())
                .unwrap_err()
                .reason(),
            "invalid"
        );
    }

    #[test]
    fn a_learner_id_no_token_could_carry_is_invalid() {
        for bad in ["", "a b", "ünïcode", "x/../y", &"l".repeat(129)] {
            let mut e = event();
            e.learner_id = bad.to_owned();
            let body = envelope(e);
            assert_eq!(
                decode_cloud_event(&serde_json::to_vec(&body).unwrap())
                    .unwrap_err()
                    .reason(),
                "invalid",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn data_as_a_json_string_is_accepted() {
        let e = event();
        let body = envelope(serde_json::to_string(&e).unwrap());
        assert_eq!(
            decode_cloud_event(&serde_json::to_vec(&body).unwrap()).unwrap(),
            e
        );
    }

    #[test]
    fn a_lesson_event_from_anyone_but_course_agent_is_foreign() {
        let good = event().to_cloud_event(None);
        assert!(decode_cloud_event(&serde_json::to_vec(&good).unwrap()).is_ok());
        let mut forged = Vec::new();
        for (key, value) in [
            ("source", serde_json::json!("user-progress")),
            ("source", serde_json::Value::Null),
            ("type", serde_json::json!("com.dapr.event.sent")),
            ("type", serde_json::json!(7)),
        ] {
            let mut ce = good.clone();
            ce[key] = value;
            forged.push(ce);
        }
        let mut no_source = good.clone();
        no_source.as_object_mut().unwrap().remove("source");
        forged.push(no_source);
        for ce in forged {
            let err = decode_cloud_event(&serde_json::to_vec(&ce).unwrap()).unwrap_err();
            assert_eq!(err.reason(), "foreign", "{ce}");
        }
    }
}
