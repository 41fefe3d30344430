//! The embedded curriculum and lesson rendering.
//!
//! `curriculum.toml` (courses → modules → topics) is parsed and checked once, when the
//! app is built ([`Curriculum::embedded`]): every topic names a known generator
//! ([`ProblemKind`]) and topic ids are unique, and a curriculum that fails either is a
//! [`CurriculumError`] at start-up, not a panic on the first request. [`Curriculum::render`] turns a
//! topic and difficulty into a complete lesson — explanation, worked example,
//! exercises and quiz — deterministically from its seed.

pub mod generate;

use lf_events::api::{Exercise, QuizItem, WorkedExample};
use serde::Deserialize;

use generate::{ProblemKind, Rng, choices, problem};

/// A course.
#[derive(Debug, Clone, Deserialize)]
pub struct Course {
    /// Stable id, e.g. `arithmetic`.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Its modules, in teaching order.
    #[serde(rename = "module")]
    pub modules: Vec<Module>,
}

/// A module of a course.
#[derive(Debug, Clone, Deserialize)]
pub struct Module {
    /// Stable id.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Its topics, in teaching order.
    #[serde(rename = "topic")]
    pub topics: Vec<Topic>,
}

/// A topic: what one lesson teaches.
#[derive(Debug, Clone, Deserialize)]
pub struct Topic {
    /// Stable id, unique within its course.
    pub id: String,
    /// Display title.
    pub title: String,
    /// Its problem generator.
    pub kind: ProblemKind,
    /// The concept, explained.
    pub explanation: String,
}

/// The whole curriculum.
#[derive(Debug, Clone, Deserialize)]
pub struct Curriculum {
    /// Courses, the default first.
    #[serde(rename = "course")]
    pub courses: Vec<Course>,
}

/// A topic located in its course and module.
#[derive(Debug, Clone, Copy)]
pub struct TopicRef<'a> {
    /// The course.
    pub course: &'a Course,
    /// The module.
    pub module: &'a Module,
    /// The topic.
    pub topic: &'a Topic,
}

/// The rendered teaching content of a lesson.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// Explanation.
    pub explanation: String,
    /// Worked example.
    pub worked_example: WorkedExample,
    /// Exercises.
    pub exercises: Vec<Exercise>,
    /// Quiz.
    pub quiz: Vec<QuizItem>,
}

/// Exercises per lesson, growing with difficulty.
fn exercise_count(difficulty: u8) -> usize {
    2 + usize::from(difficulty)
}

/// Quiz items per lesson.
const QUIZ_ITEMS: usize = 3;

/// Why a curriculum cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CurriculumError {
    /// Not TOML, or not the shape of [`Curriculum`].
    #[error("the curriculum does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    /// Parsed, but [`Curriculum::check`] found a problem.
    #[error("the curriculum is inconsistent: {0}")]
    Inconsistent(String),
}

impl Curriculum {
    /// The curriculum built into the binary (`curriculum.toml`), parsed and checked.
    pub fn embedded() -> Result<Self, CurriculumError> {
        Self::parse(include_str!("curriculum.toml"))
    }

    /// Parses `text` and checks the result.
    pub fn parse(text: &str) -> Result<Self, CurriculumError> {
        let parsed: Self = toml::from_str(text)?;
        parsed.check().map_err(CurriculumError::Inconsistent)?;
        Ok(parsed)
    }

    /// Topic ids are unique within a course (that every topic names a known generator,
    /// [`ProblemKind`], is checked by parsing).
    pub fn check(&self) -> Result<(), String> {
        for course in &self.courses {
            let mut ids = std::collections::HashSet::new();
            for t in course.modules.iter().flat_map(|m| &m.topics) {
                if !ids.insert(t.id.as_str()) {
                    return Err(format!("{}/{}: duplicate topic id", course.id, t.id));
                }
            }
        }
        Ok(())
    }

    /// A course by id.
    pub fn course(&self, id: &str) -> Option<&Course> {
        self.courses.iter().find(|c| c.id == id)
    }

    /// The default course (the first).
    pub fn default_course(&self) -> Option<&Course> {
        self.courses.first()
    }

    /// All topics of a course, in teaching order.
    pub fn topics<'a>(&'a self, course: &'a Course) -> impl Iterator<Item = TopicRef<'a>> + 'a {
        course.modules.iter().flat_map(move |module| {
            module.topics.iter().map(move |topic| TopicRef {
                course,
                module,
                topic,
            })
        })
    }

    /// A topic by course and topic id.
    pub fn topic<'a>(&'a self, course: &'a Course, topic: &str) -> Option<TopicRef<'a>> {
        self.topics(course).find(|t| t.topic.id == topic)
    }

    /// Renders a lesson on `topic` at `difficulty`, deterministically from `seed_parts`.
    pub fn render(&self, topic: TopicRef<'_>, difficulty: u8, seed_parts: &[&str]) -> Content {
        let difficulty_text = difficulty.to_string();
        let mut parts = vec![
            topic.course.id.as_str(),
            topic.topic.id.as_str(),
            difficulty_text.as_str(),
        ];
        parts.extend_from_slice(seed_parts);
        let mut rng = Rng::from_parts(&parts);
        let kind = topic.topic.kind;
        let mut next = || problem(kind, difficulty, &mut rng);
        let example = next();
        let exercises: Vec<Exercise> = (0..exercise_count(difficulty))
            .map(|_| next())
            .map(|p| Exercise {
                prompt: p.prompt,
                answer: p.answer.to_string(),
            })
            .collect();
        let quiz_problems: Vec<_> = (0..QUIZ_ITEMS).map(|_| next()).collect();
        let quiz = quiz_problems
            .into_iter()
            .map(|p| {
                let (choices, answer_index) = choices(&p.answer, &mut rng);
                QuizItem {
                    question: p.prompt,
                    choices,
                    answer_index,
                }
            })
            .collect();
        let worked_example = WorkedExample {
            problem: example.prompt,
            steps: example.steps,
            answer: example.answer.to_string(),
        };
        Content {
            explanation: format!(
                "{} ({} · {}, level {difficulty} of 5.)",
                topic.topic.explanation, topic.course.title, topic.module.title
            ),
            worked_example,
            exercises,
            quiz,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn embedded() -> Curriculum {
        Curriculum::embedded().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_embedded_curriculum_is_big_enough_and_consistent() {
        let c = embedded();
        assert!(c.courses.len() >= 3);
        for course in &c.courses {
            assert!(course.modules.len() >= 5, "{}", course.id);
            assert!(c.topics(course).count() >= 10, "{}", course.id);
        }
        assert!(c.check().is_ok());
    }

    #[test]
    fn rendering_is_deterministic_and_complete() {
        let c = embedded();
        let course = c.course("algebra").unwrap_or_else(|| panic!("algebra"));
        let topic = c
            .topic(course, "two-step-equations")
            .unwrap_or_else(|| panic!("topic"));
        let a = c.render(topic, 3, &["learner-1"]);
        let b = c.render(topic, 3, &["learner-1"]);
        assert_eq!(a, b);
        assert_eq!(a.exercises.len(), 5);
        assert_eq!(a.quiz.len(), 3);
        assert!(!a.worked_example.steps.is_empty());
        assert_ne!(a, c.render(topic, 3, &["learner-2"]));
    }

    #[test]
    fn a_broken_curriculum_is_an_error_not_a_panic() {
        let text = include_str!("curriculum.toml");
        let not_toml = Curriculum::parse(&text.replacen('[', "{", 1));
        assert!(
            matches!(not_toml, Err(CurriculumError::Parse(_))),
            "{not_toml:?}"
        );
        let kind = embedded().courses[0].modules[0].topics[0].kind.name();
        let unknown_kind = text.replacen(&format!("\"{kind}\""), "\"telepathy\"", 1);
        assert_ne!(
            unknown_kind, text,
            "the first topic's kind is written as \"{kind}\""
        );
        match Curriculum::parse(&unknown_kind) {
            Err(e @ CurriculumError::Parse(_)) => {
                assert!(e.to_string().contains("unknown variant `telepathy`"), "{e}");
            }
            other => panic!("want Parse, got {other:?}"),
        }
    }
}
