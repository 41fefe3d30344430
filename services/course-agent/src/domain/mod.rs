//! Domain rules of course-agent: personalisation (learner ids are validated by
//! [`lf_events::valid_learner_id`]).

pub mod personalise;
