//! Choosing topic and difficulty.
//!
//! With the learner's mastery: the requested course (or the one they worked on
//! last), the requested topic (or the first one, in teaching order, not yet
//! mastered), at a difficulty that rises with mastery. Without it (user-progress
//! slow, down or its circuit open): the requested or default course, the requested
//! or first topic, difficulty 1 — and the lesson says it is not personalised.

use lf_events::api::TopicMastery;
use lf_http::error::FieldError;

use crate::curriculum::{Curriculum, TopicRef};

/// Mastery at which a topic counts as learned.
pub const MASTERED: f64 = 0.8;
/// Mastery assumed for a topic the learner has never completed (user-progress's prior).
pub use lf_events::api::MASTERY_PRIOR as PRIOR;

/// What to teach.
#[derive(Debug, Clone, Copy)]
pub struct Choice<'a> {
    /// The topic.
    pub topic: TopicRef<'a>,
    /// 1–5.
    pub difficulty: u8,
    /// Whether mastery informed the choice.
    pub personalised: bool,
}

/// Difficulty for a mastery level: 1 below 0.2, … 5 from 0.8.
pub fn difficulty_for(mastery: f64) -> u8 {
    (1.0 + (mastery.clamp(0.0, 1.0) * 5.0).floor()).min(5.0) as u8
}

/// Picks what to teach; a requested course or topic that does not exist is a field error.
pub fn choose<'a>(
    curriculum: &'a Curriculum,
    course: Option<&str>,
    topic: Option<&str>,
    mastery: Option<&[TopicMastery]>,
) -> Result<Choice<'a>, FieldError> {
    let course = match course {
        Some(id) => curriculum.course(id).ok_or_else(|| FieldError {
            field: "course".into(),
            message: format!(
                "unknown course {id:?}; known: {}",
                curriculum
                    .courses
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?,
        None => mastery
            .and_then(|m| m.first())
            .and_then(|latest| curriculum.course(&latest.course))
            .or_else(|| curriculum.default_course())
            .ok_or_else(|| FieldError {
                field: "course".into(),
                message: "no courses".into(),
            })?,
    };
    let mastery_of = |topic_id: &str| {
        mastery.and_then(|m| {
            m.iter()
                .find(|t| t.course == course.id && t.topic == topic_id)
                .map(|t| t.mastery)
        })
    };
    let chosen = match topic {
        Some(id) => curriculum.topic(course, id).ok_or_else(|| FieldError {
            field: "topic".into(),
            message: format!("unknown topic {id:?} in course {:?}", course.id),
        })?,
        None if mastery.is_some() => curriculum
            .topics(course)
            .find(|t| mastery_of(&t.topic.id).unwrap_or(PRIOR) < MASTERED)
            .or_else(|| {
                curriculum.topics(course).min_by(|a, b| {
                    let ma = mastery_of(&a.topic.id).unwrap_or(PRIOR);
                    let mb = mastery_of(&b.topic.id).unwrap_or(PRIOR);
                    ma.total_cmp(&mb)
                })
            })
            .ok_or_else(|| FieldError {
                field: "topic".into(),
                message: "course has no topics".into(),
            })?,
        None => curriculum.topics(course).next().ok_or_else(|| FieldError {
            field: "topic".into(),
            message: "course has no topics".into(),
        })?,
    };
    Ok(match mastery {
        Some(_) => Choice {
            difficulty: difficulty_for(mastery_of(&chosen.topic.id).unwrap_or(PRIOR)),
            topic: chosen,
            personalised: true,
        },
        None => Choice {
            topic: chosen,
            difficulty: 1,
            personalised: false,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn m(course: &str, topic: &str, mastery: f64) -> TopicMastery {
        TopicMastery {
            course: course.into(),
            topic: topic.into(),
            mastery,
            lessons: 1,
            completions: 1,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn difficulty_rises_with_mastery() {
        assert_eq!(difficulty_for(0.0), 1);
        assert_eq!(difficulty_for(0.19), 1);
        assert_eq!(difficulty_for(0.5), 3);
        assert_eq!(difficulty_for(0.85), 5);
        assert_eq!(difficulty_for(1.0), 5);
    }

    #[test]
    fn without_mastery_the_first_topic_at_level_one_not_personalised() {
        let c = &Curriculum::embedded().unwrap_or_else(|e| panic!("{e}"));
        let choice = choose(c, None, None, None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(choice.topic.course.id, "arithmetic");
        assert_eq!(choice.topic.topic.id, "addition");
        assert_eq!((choice.difficulty, choice.personalised), (1, false));
    }

    #[test]
    fn with_mastery_the_first_unmastered_topic_of_the_latest_course() {
        let c = &Curriculum::embedded().unwrap_or_else(|e| panic!("{e}"));
        let mastery = vec![
            m("algebra", "evaluating-expressions", 0.9),
            m("algebra", "like-terms", 0.45),
        ];
        let choice = choose(c, None, None, Some(&mastery)).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(choice.topic.course.id, "algebra");
        assert_eq!(choice.topic.topic.id, "like-terms");
        assert_eq!((choice.difficulty, choice.personalised), (3, true));
    }

    #[test]
    fn unknown_course_or_topic_is_a_field_error() {
        let c = &Curriculum::embedded().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            choose(c, Some("alchemy"), None, None).unwrap_err().field,
            "course"
        );
        assert_eq!(
            choose(c, Some("algebra"), Some("addition"), None)
                .unwrap_err()
                .field,
            "topic"
        );
    }
}
