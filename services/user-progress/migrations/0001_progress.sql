-- What learners did: lesson events received (deduplicated), completions, mastery.

-- One row per lesson event ever applied: the deduplication key of at-least-once delivery.
CREATE TABLE processed_events (
    event_id     uuid PRIMARY KEY,
    lesson_id    uuid        NOT NULL,
    learner_id   text        NOT NULL,
    created_at   timestamptz NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processed_events_by_learner ON processed_events (learner_id);

CREATE TABLE learner_progress (
    learner_id        text PRIMARY KEY,
    lessons_received  bigint      NOT NULL DEFAULT 0,
    lessons_completed bigint      NOT NULL DEFAULT 0,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE topic_mastery (
    learner_id  text             NOT NULL,
    course      text             NOT NULL,
    topic       text             NOT NULL,
    mastery     double precision NOT NULL CHECK (mastery BETWEEN 0 AND 1),
    lessons     bigint           NOT NULL DEFAULT 0,
    completions bigint           NOT NULL DEFAULT 0,
    updated_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (learner_id, course, topic)
);

-- One completion per lesson: a repeat is a conflict, so mastery moves once per lesson.
CREATE TABLE completions (
    lesson_id    uuid PRIMARY KEY,
    learner_id   text             NOT NULL,
    course       text             NOT NULL,
    topic        text             NOT NULL,
    score        double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    completed_at timestamptz      NOT NULL DEFAULT now()
);
