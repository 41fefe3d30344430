-- Lessons as served, and the transactional outbox of their events.

CREATE TABLE lessons (
    id           uuid PRIMARY KEY,
    learner_id   text        NOT NULL,
    course       text        NOT NULL,
    topic        text        NOT NULL,
    difficulty   smallint    NOT NULL CHECK (difficulty BETWEEN 1 AND 5),
    personalised boolean     NOT NULL,
    body         jsonb       NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX lessons_by_learner ON lessons (learner_id, created_at DESC);

-- Written in the same transaction as the lesson; the relay publishes pending rows
-- through Dapr and stamps sent_at. Rows are claimed with FOR UPDATE SKIP LOCKED,
-- so replicas never publish the same row at the same time.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      uuid        NOT NULL UNIQUE,
    partition_key text        NOT NULL,
    cloud_event   jsonb       NOT NULL,
    traceparent   text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text,
    sent_at       timestamptz
);
CREATE INDEX outbox_pending ON outbox (id) WHERE sent_at IS NULL;
