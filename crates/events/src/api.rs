//! Bodies of the public (`/api/v1`) and internal HTTP APIs.
//!
//! Request types deny unknown fields, so a typo is a 400/422, not a silently
//! ignored option.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `POST /api/v1/lessons` (public): ask for the next lesson.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateLessonRequest {
    /// Course id; the learner's best-fitting course when absent.
    #[serde(default)]
    pub course: Option<String>,
    /// Topic id within the course; chosen from mastery when absent.
    #[serde(default)]
    pub topic: Option<String>,
}

/// `POST /internal/lessons` (course-agent, via Dapr).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerateLessonRequest {
    /// The learner.
    pub learner_id: String,
    /// Requested course.
    #[serde(default)]
    pub course: Option<String>,
    /// Requested topic.
    #[serde(default)]
    pub topic: Option<String>,
}

/// One multiple-choice quiz item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuizItem {
    /// The question.
    pub question: String,
    /// Answer choices.
    pub choices: Vec<String>,
    /// Index of the right choice.
    pub answer_index: usize,
}

/// A generated lesson.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lesson {
    /// Lesson id.
    pub id: Uuid,
    /// Owner.
    pub learner_id: String,
    /// Course id.
    pub course: String,
    /// Course title.
    pub course_title: String,
    /// Module title.
    pub module: String,
    /// Topic id.
    pub topic: String,
    /// Topic title.
    pub topic_title: String,
    /// 1 (easiest) to 5.
    pub difficulty: u8,
    /// Chosen from the learner's mastery (false when user-progress could not be asked).
    pub personalised: bool,
    /// The concept, explained.
    pub explanation: String,
    /// A worked example, step by step.
    pub worked_example: WorkedExample,
    /// Practice exercises.
    pub exercises: Vec<Exercise>,
    /// Quiz to complete the lesson.
    pub quiz: Vec<QuizItem>,
    /// When it was generated.
    pub created_at: DateTime<Utc>,
}

/// A problem solved step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkedExample {
    /// The problem.
    pub problem: String,
    /// The steps.
    pub steps: Vec<String>,
    /// The answer.
    pub answer: String,
}

/// A practice exercise with its answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exercise {
    /// The prompt.
    pub prompt: String,
    /// The expected answer.
    pub answer: String,
}

/// `POST /api/v1/lessons/{id}/completion` (public).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompletionRequest {
    /// Share of the quiz answered right, 0 to 1.
    pub score: f64,
}

/// `POST /internal/completions` (user-progress, via Dapr).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordCompletion {
    /// The learner.
    pub learner_id: String,
    /// The lesson completed.
    pub lesson_id: Uuid,
    /// Its course.
    pub course: String,
    /// Its topic.
    pub topic: String,
    /// Score, 0 to 1.
    pub score: f64,
}

/// Mastery assumed before any completion: where user-progress starts a topic, and what
/// course-agent assumes for a topic it has no figure for. One value, so both agree.
pub const MASTERY_PRIOR: f64 = 0.1;

/// Mastery of one topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicMastery {
    /// Course id.
    pub course: String,
    /// Topic id.
    pub topic: String,
    /// Probability the learner has mastered the topic (0 to 1).
    pub mastery: f64,
    /// Lessons received on it.
    pub lessons: i64,
    /// Lessons completed on it.
    pub completions: i64,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A learner's progress (`GET /api/v1/progress`, `GET /internal/progress/{learner}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The learner.
    pub learner_id: String,
    /// Lesson events recorded.
    pub lessons_received: i64,
    /// Lessons completed.
    pub lessons_completed: i64,
    /// Per-topic mastery, most recently changed first.
    pub topics: Vec<TopicMastery>,
}

/// Result of recording a completion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompletionRecorded {
    /// The lesson.
    pub lesson_id: Uuid,
    /// Mastery of its topic before the completion.
    pub mastery_before: f64,
    /// Mastery after.
    pub mastery_after: f64,
}
