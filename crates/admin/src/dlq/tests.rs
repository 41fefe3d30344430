//! Unit tests of the replay's judgement and report.

use super::*;
use lf_events::LessonEvent;

fn valid_event() -> Vec<u8> {
    let event = LessonEvent::new(
        uuid::Uuid::now_v7(),
        "learner-9".into(),
        "arithmetic".into(),
        "addition".into(),
        2,
        false,
        Utc::now(),
    );
    serde_json::to_vec(&event.to_cloud_event(None)).expect("json")
}

#[test]
fn events_the_consumer_takes_now_are_republished_keyed_by_learner() {
    assert_eq!(
        classify(Some(&valid_event())),
        Verdict::Republish {
            key: "learner-9".into()
        }
    );
}

#[test]
fn events_the_consumer_would_drop_again_are_skipped_with_its_reason() {
    let mut future_version: serde_json::Value =
        serde_json::from_slice(&valid_event()).expect("json");
    future_version["data"]["schema_version"] = "9.0".into();
    let mut bad_learner: serde_json::Value = serde_json::from_slice(&valid_event()).expect("json");
    bad_learner["data"]["learner_id"] = "no spaces allowed".into();
    let mut forged: serde_json::Value = serde_json::from_slice(&valid_event()).expect("json");
    forged["source"] = "somebody-else".into();
    for (payload, reason) in [
        (None, "empty"),
        (Some(b"".to_vec()), "empty"),
        (Some(b"not json {".to_vec()), "malformed"),
        (
            Some(serde_json::to_vec(&future_version).expect("json")),
            "unsupported_version",
        ),
        (
            Some(serde_json::to_vec(&bad_learner).expect("json")),
            "invalid",
        ),
        (Some(serde_json::to_vec(&forged).expect("json")), "foreign"),
    ] {
        match classify(payload.as_deref()) {
            Verdict::Skip { reason: got, .. } => assert_eq!(got, reason, "{payload:?}"),
            other => panic!("{payload:?} was judged {other:?}"),
        }
    }
}

#[test]
fn the_report_counts_every_verdict_and_lists_skips() {
    let mut report = Report::new(&Replay::default());
    report.count(0, 7, &classify(Some(&valid_event())));
    report.count(1, 3, &classify(Some(b"{")));
    report.count(1, 4, &classify(None));
    assert_eq!((report.read, report.republished, report.skipped), (3, 1, 2));
    assert_eq!(report.skipped_by_reason.get("malformed"), Some(&1));
    assert_eq!(report.skipped_by_reason.get("empty"), Some(&1));
    assert_eq!(
        report
            .skipped_events
            .iter()
            .map(|s| (s.partition, s.offset))
            .collect::<Vec<_>>(),
        vec![(1, 3), (1, 4)]
    );
}
