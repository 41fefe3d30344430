-- One database per service that owns one (what the native stack's harness creates).
-- Each service applies its own migrations at start (sqlx, embedded in the binary).
CREATE DATABASE course_agent;
CREATE DATABASE user_progress;
