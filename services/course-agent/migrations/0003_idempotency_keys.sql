-- A POST /internal/lessons retried with the same Idempotency-Key (by the client, or by
-- daprd after a lost response) answers the lesson the first one stored instead of making
-- a second one. Keys are scoped to the learner; requests without a key (NULL) never
-- conflict. `requested` is what the first request asked for, so a key reused for a
-- different request is refused rather than answered with the wrong lesson (ADR 0016).
ALTER TABLE lessons
    ADD COLUMN idempotency_key text,
    ADD COLUMN requested       jsonb,
    ADD CONSTRAINT lessons_idempotency_key UNIQUE (learner_id, idempotency_key);
