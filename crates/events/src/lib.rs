//! The contract between LearnFlow services.
//!
//! Layout:
//! - names: [`PUBSUB`], [`LESSON_TOPIC`], [`LESSON_DLQ_TOPIC`], app ids;
//! - [`event`]: the lesson event, its CloudEvent envelope and its versioned decoding
//!   (unknown fields ignored, unknown major version rejected so it goes to dead letter);
//! - [`api`]: request and response bodies of the public and internal HTTP APIs.

pub mod api;
pub mod event;

pub use event::{EventError, LessonEvent, decode_cloud_event};

/// The Dapr pub/sub component carrying lesson events.
pub const PUBSUB: &str = "kafka-pubsub";
/// Topic of lesson events (Kafka key = learner id).
pub const LESSON_TOPIC: &str = "lesson-events";
/// Dead-letter topic for lesson events user-progress cannot take.
pub const LESSON_DLQ_TOPIC: &str = "lesson-events-dlq";

/// True for learner ids LearnFlow accepts: 1–128 characters of `A-Z a-z 0-9 . _ -`.
/// The gateway enforces it on token subjects, so ids are safe in URL paths and Kafka keys.
pub fn valid_learner_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= event::MAX_LEARNER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Dapr app ids.
pub mod app_id {
    /// The gateway.
    pub const FRONTEND_GATEWAY: &str = "frontend-gateway";
    /// The lesson generator.
    pub const COURSE_AGENT: &str = "course-agent";
    /// The progress keeper.
    pub const USER_PROGRESS: &str = "user-progress";
}

#[cfg(test)]
mod tests {
    use super::valid_learner_id;

    #[test]
    fn learner_ids() {
        assert!(valid_learner_id("learner-1.a_B"));
        assert!(!valid_learner_id(""));
        assert!(!valid_learner_id("a/b"));
        assert!(!valid_learner_id("a b"));
        assert!(!valid_learner_id(&"x".repeat(129)));
        assert!(valid_learner_id(&"x".repeat(128)));
    }
}
