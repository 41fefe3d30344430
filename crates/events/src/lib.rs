//! The contract between LearnFlow services.
//!
//! Layout:
//! - names: [`PUBSUB`], [`LESSON_TOPIC`], [`LESSON_DLQ_TOPIC`], app ids;
//! - [`idempotency`]: the `Idempotency-Key` header that makes a retried POST safe;
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

/// The learner id rule, as API errors state it.
pub const LEARNER_ID_RULE: &str =
    "1–128 characters of letters, digits, '.', '_' or '-', not only dots";

/// True for learner ids LearnFlow accepts: 1–128 characters of `A-Z a-z 0-9 . _ -`, not
/// only dots. The gateway enforces it on token subjects, so ids are safe in URL paths and
/// Kafka keys: `.` and `..` would be path segments an HTTP client normalises away.
pub fn valid_learner_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= event::MAX_LEARNER_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !id.bytes().all(|b| b == b'.')
}

/// The `Idempotency-Key` header: one key per logical request, so that a POST retried
/// (by a client, or by daprd after a lost response) is answered from what the first one
/// stored instead of being done twice (ADR 0016).
pub mod idempotency {
    /// The header's name (lowercase, as HTTP/2 and `http` spell it).
    pub const HEADER: &str = "idempotency-key";
    /// Set to `true` on an answer that repeats a stored result.
    pub const REPLAYED_HEADER: &str = "idempotent-replayed";
    /// The longest key accepted.
    pub const MAX_LEN: usize = 255;

    /// True for keys LearnFlow accepts: 1–255 visible ASCII characters (a UUID fits).
    pub fn valid(key: &str) -> bool {
        !key.is_empty() && key.len() <= MAX_LEN && key.bytes().all(|b| b.is_ascii_graphic())
    }

    #[cfg(test)]
    mod tests {
        use super::valid;

        #[test]
        fn keys_are_one_to_255_visible_ascii_characters() {
            assert!(valid("0192f1c4-7a1b-7c3e-9d2f-8a6b5c4d3e2f"));
            assert!(valid("a"));
            assert!(valid(&"k".repeat(255)));
            assert!(!valid(""));
            assert!(!valid(&"k".repeat(256)));
            assert!(!valid("two words"));
            assert!(!valid("tab\there"));
            assert!(!valid("é"));
        }
    }
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
        for dots in [".", "..", "..."] {
            assert!(!valid_learner_id(dots), "{dots}");
        }
        assert!(valid_learner_id(".a."));
    }
}
