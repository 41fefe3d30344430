//! Operator commands for LearnFlow (`learnflow-admin`).
//!
//! Parts:
//! - [`Command`]: the command line, parsed by hand (one command does not need a framework);
//! - [`dlq`]: replaying the lesson dead-letter topic — each event is judged as user-progress
//!   would judge it now; valid ones go back to `lesson-events`, the rest are reported.

pub mod dlq;

use std::time::Duration;

use chrono::{DateTime, Utc};

/// What `learnflow-admin` prints on a usage error.
pub const USAGE: &str = "\
usage: learnflow-admin dlq replay [--since <RFC 3339 time | 30m | 12h | 7d>] [--dry-run]
                                  [--brokers <host:port,...>] [--idle-timeout-secs <n>]

Reads lesson-events-dlq (from --since, or from its start, up to where it ends now) and
republishes to lesson-events every event user-progress would take now, keyed by learner as
course-agent publishes; the others stay where they are. Prints a JSON report: counts, and
each event left behind with its partition, offset and why. --dry-run republishes nothing.
user-progress applies an event once by its id, so replaying twice is harmless.
Brokers: --brokers, else LEARNFLOW_KAFKA__BROKERS, else 127.0.0.1:9092.";

/// A command line that cannot be run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(String);

/// A parsed command.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `dlq replay`.
    DlqReplay(dlq::Replay),
}

impl Command {
    /// Parses `args` (without the program name); `env` looks up environment entries.
    pub fn parse(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, UsageError> {
        Self::parse_at(args, env, Utc::now())
    }

    /// [`Command::parse`] with relative times counted back from `now`.
    pub fn parse_at(
        args: impl IntoIterator<Item = String>,
        env: impl Fn(&str) -> Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Self, UsageError> {
        let mut args = args.into_iter();
        match (args.next().as_deref(), args.next().as_deref()) {
            (Some("dlq"), Some("replay")) => {}
            (None, _) => return Err(UsageError("no command given".into())),
            (Some(a), b) => {
                return Err(UsageError(format!(
                    "unknown command {:?}",
                    [Some(a), b]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" ")
                )));
            }
        }
        let mut replay = dlq::Replay {
            brokers: env("LEARNFLOW_KAFKA__BROKERS").unwrap_or_else(|| "127.0.0.1:9092".into()),
            ..dlq::Replay::default()
        };
        while let Some(flag) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| UsageError(format!("{name} needs a value")))
            };
            match flag.as_str() {
                "--dry-run" => replay.dry_run = true,
                "--since" => replay.since = Some(parse_since(&value("--since")?, now)?),
                "--brokers" => replay.brokers = value("--brokers")?,
                "--idle-timeout-secs" => {
                    let raw = value("--idle-timeout-secs")?;
                    let secs: u64 = raw.parse().map_err(|_| {
                        UsageError(format!(
                            "--idle-timeout-secs wants whole seconds, not {raw:?}"
                        ))
                    })?;
                    replay.idle_timeout = Duration::from_secs(secs.max(1));
                }
                other => return Err(UsageError(format!("unknown option {other:?}"))),
            }
        }
        Ok(Self::DlqReplay(replay))
    }

    /// Runs the command; its report is JSON.
    pub fn run(&self) -> Result<String, dlq::ReplayError> {
        match self {
            Self::DlqReplay(replay) => {
                let report = dlq::replay(replay)?;
                Ok(serde_json::to_string_pretty(&report).unwrap_or_default())
            }
        }
    }
}

/// `--since`: an RFC 3339 time, or an age (`90s`, `30m`, `12h`, `7d`) before `now`.
pub fn parse_since(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, UsageError> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let bad = || {
        UsageError(format!(
            "--since wants an RFC 3339 time or an age like 30m, 12h or 7d, not {text:?}"
        ))
    };
    let unit_at = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(unit_at);
    let number: i64 = number.parse().map_err(|_| bad())?;
    let age = match unit {
        "s" => chrono::Duration::try_seconds(number),
        "m" => chrono::Duration::try_minutes(number),
        "h" => chrono::Duration::try_hours(number),
        "d" => chrono::Duration::try_days(number),
        _ => None,
    }
    .filter(|_| number >= 0)
    .ok_or_else(bad)?;
    now.checked_sub_signed(age).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, UsageError> {
        let now = DateTime::parse_from_rfc3339("2026-12-06T12:00:00Z")
            .expect("time")
            .with_timezone(&Utc);
        Command::parse_at(
            args.iter().map(|a| (*a).to_owned()),
            |name| (name == "LEARNFLOW_KAFKA__BROKERS").then(|| "kafka:9092".to_owned()),
            now,
        )
    }

    #[test]
    fn replay_takes_its_options_and_the_brokers_from_the_environment() {
        let Ok(Command::DlqReplay(replay)) =
            parse(&["dlq", "replay", "--since", "2h", "--dry-run"])
        else {
            panic!("parses");
        };
        assert!(replay.dry_run);
        assert_eq!(replay.brokers, "kafka:9092");
        assert_eq!(
            replay.since.map(|t| t.to_rfc3339()),
            Some("2026-12-06T10:00:00+00:00".into())
        );
        let Ok(Command::DlqReplay(replay)) = parse(&[
            "dlq",
            "replay",
            "--since",
            "2026-12-01T08:30:00+01:00",
            "--brokers",
            "a:1,b:2",
        ]) else {
            panic!("parses");
        };
        assert!(!replay.dry_run);
        assert_eq!(replay.brokers, "a:1,b:2");
        assert_eq!(
            replay.since.map(|t| t.to_rfc3339()),
            Some("2026-12-01T07:30:00+00:00".into())
        );
    }

    #[test]
    fn bad_command_lines_are_usage_errors_that_say_what_is_wrong() {
        for (args, says) in [
            (&[][..], "no command"),
            (&["dlq"][..], "unknown command \"dlq\""),
            (&["dlq", "purge"][..], "unknown command \"dlq purge\""),
            (&["dlq", "replay", "--since"][..], "--since needs a value"),
            (&["dlq", "replay", "--since", "yesterday"][..], "RFC 3339"),
            (&["dlq", "replay", "--since", "-5m"][..], "RFC 3339"),
            (&["dlq", "replay", "--since", "5w"][..], "RFC 3339"),
            (
                &["dlq", "replay", "--force"][..],
                "unknown option \"--force\"",
            ),
            (
                &["dlq", "replay", "--idle-timeout-secs", "soon"][..],
                "whole seconds",
            ),
        ] {
            match parse(args) {
                Err(e) => assert!(e.to_string().contains(says), "{args:?}: {e}"),
                Ok(c) => panic!("{args:?} parsed as {c:?}"),
            }
        }
    }
}
