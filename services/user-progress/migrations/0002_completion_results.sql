-- A completion keeps the mastery it moved, so a repeat of the same completion (the same
-- lesson and score: a client's retry, or daprd's after a lost response) is answered 200
-- with the stored result instead of 409 (ADR 0016). Rows from before this have none and
-- keep answering 409 to a repeat.
ALTER TABLE completions
    ADD COLUMN mastery_before double precision,
    ADD COLUMN mastery_after  double precision;
