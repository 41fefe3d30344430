//! The chaos suite on the real native stack: nothing the gateway acknowledged is
//! lost or applied twice, whatever single component fails.
//!
//! `cargo test` runs the reduced suite (shorter outages, lower load); `cargo xtask
//! chaos` runs the full one (`LEARNFLOW_CHAOS=full`) and writes `docs/resilience.md`.
//! `LEARNFLOW_CHAOS_ONLY=<part of a name>` runs only the matching scenarios (the report
//! then goes to target/learnflow, never over docs/resilience.md).

use learnflow_e2e::chaos::{ChaosParams, Fault, markdown, run_scenario};
use learnflow_e2e::{fetch_text, metric_sum};
use lf_testkit::stack::{Stack, StackOptions};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_acknowledged_is_lost_or_duplicated_under_faults() {
    let full = std::env::var("LEARNFLOW_CHAOS").is_ok_and(|v| v == "full");
    let params = if full {
        ChaosParams::full()
    } else {
        ChaosParams::reduced()
    };
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let http = reqwest::Client::new();

    // The policies are live in every sidecar.
    for (name, running) in &stack.services {
        let Some(daprd) = running.daprd.as_ref() else {
            continue;
        };
        let log =
            std::fs::read_to_string(stack.run_dir().join("daprd").join(format!("{name}.log")))
                .unwrap_or_default();
        assert!(
            log.contains("Loading Resiliency configuration: learnflow-resiliency"),
            "{name}'s daprd loaded the policy"
        );
        let text = fetch_text(
            &http,
            &format!("http://127.0.0.1:{}/metrics", daprd.ports().metrics),
        )
        .await;
        assert!(
            metric_sum(&text, "dapr_resiliency_loaded", &[("app_id", name)]) >= 1.0,
            "dapr_resiliency_loaded for {name}"
        );
    }

    let mut reports = Vec::new();
    // LEARNFLOW_CHAOS_ONLY=<part of a scenario's name> runs just the matching scenarios.
    let only = std::env::var("LEARNFLOW_CHAOS_ONLY").unwrap_or_default();
    for fault in Fault::suite(&params)
        .into_iter()
        .filter(|f| f.name().contains(&only))
    {
        eprintln!("[chaos] {} …", fault.name());
        let report = run_scenario(&mut stack, &params, fault).await;
        eprintln!(
            "[chaos] {}: accepted {} delivered {} lost {} applied twice {} unknown {} committed unacknowledged {} backlog≤{} recovery {:?} statuses {:?} retries {:?} breakers {:?} crashed {:?}",
            report.fault,
            report.accepted,
            report.delivered,
            report.lost,
            report.double_applied,
            report.unknown,
            report.committed_unacknowledged,
            report.max_backlog,
            report.recovery_secs,
            report.statuses,
            report.retries,
            report.breaker_transitions,
            report.crashed
        );
        reports.push(report);
    }
    let text = markdown(&reports, &params, if full { "full" } else { "reduced" });
    let out = if full && only.is_empty() {
        lf_testkit::paths::repo_root().join("docs/resilience.md")
    } else {
        lf_testkit::paths::target_dir().join("learnflow/resilience-reduced.md")
    };
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).expect("report dir");
    }
    std::fs::write(&out, &text).expect("write report");
    eprintln!("[chaos] report written to {}", out.display());

    for r in &reports {
        assert!(r.accepted > 0, "{}: the gateway accepted lessons", r.fault);
        assert_eq!(r.lost, 0, "{}: lost lessons", r.fault);
        assert_eq!(r.double_applied, 0, "{}: lessons applied twice", r.fault);
        assert_eq!(
            r.unknown, 0,
            "{}: recorded lessons never committed",
            r.fault
        );
        assert!(
            r.recovery_secs.is_some(),
            "{}: everything was delivered in the end",
            r.fault
        );
        assert!(r.crashed.is_empty(), "{}: crashed {:?}", r.fault, r.crashed);
        assert!(
            r.progress_reachable,
            "{}: a learner's progress was not readable through the gateway afterwards; \
             warnings and errors the stack logged:\n{}",
            r.fault,
            learnflow_e2e::logs::digest(&stack.run_dir(), 8)
        );
        if r.answers_throughout {
            assert_eq!(
                r.gateway_5xx(),
                0,
                "{}: the gateway answered 5xx {:?}; warnings and errors the stack logged:\n{}",
                r.fault,
                r.statuses,
                learnflow_e2e::logs::digest(&stack.run_dir(), 8)
            );
        }
        if let Some(after) = r.refusals_after_surge_secs {
            let surge_refused: u64 = r
                .surge_statuses
                .iter()
                .filter(|(s, _)| **s != 201)
                .map(|(_, n)| n)
                .sum();
            assert!(
                surge_refused > 0,
                "{}: the surge overloaded the stack (some of it refused): {:?}",
                r.fault,
                r.surge_statuses
            );
            assert!(
                after <= learnflow_e2e::chaos::REFUSALS_END_WITHIN.as_secs_f64(),
                "{}: normal load still refused {after:.1} s after the surge; warnings and errors the stack logged:\n{}",
                r.fault,
                learnflow_e2e::logs::digest(&stack.run_dir(), 8)
            );
        }
        if r.fault == Fault::TwoRelays.name() {
            assert!(
                r.published_by.len() == 2 && r.published_by.values().all(|n| *n > 0.0),
                "{}: both course-agents relayed the outbox: {:?}",
                r.fault,
                r.published_by
            );
            assert_eq!(
                r.duplicates_delivered, 0.0,
                "{}: an event was published twice",
                r.fault
            );
        }
        if r.fault == Fault::ConsumerKilled.name() {
            assert!(
                r.replica_consumed.is_some_and(|n| n > 0.0),
                "{}: the second consumer took deliveries before it was killed: {:?}",
                r.fault,
                r.replica_consumed
            );
        }
        if r.kafka_fault {
            assert!(
                r.retries.get("Pubsub_kafka-pubsub").copied().unwrap_or(0.0) > 0.0,
                "{}: daprd retried publishing: {:?}",
                r.fault,
                r.retries
            );
        }
        if r.fault == Fault::KafkaStop.name() {
            assert!(
                r.breaker_states_seen.contains("Pubsub_kafka-pubsub:open"),
                "{}: the pub/sub breaker opened during the outage: {:?}",
                r.fault,
                r.breaker_states_seen
            );
        }
        let poison = if r.fault == Fault::PoisonBurst.name() {
            params.poison as f64
        } else {
            0.0
        };
        assert_eq!(
            r.dead_lettered, poison,
            "{}: events in the dead-letter topic (only the poison burst's may be there)",
            r.fault
        );
    }
    // After recovery the pub/sub breaker is closed again.
    let daprd = stack
        .services
        .get("course-agent")
        .and_then(|s| s.daprd.as_ref())
        .expect("daprd");
    let text = fetch_text(
        &http,
        &format!("http://127.0.0.1:{}/metrics", daprd.ports().metrics),
    )
    .await;
    let closed = metric_sum(
        &text,
        "dapr_resiliency_cb_state",
        &[("target", "Pubsub_kafka-pubsub"), ("status", "closed")],
    );
    let open = metric_sum(
        &text,
        "dapr_resiliency_cb_state",
        &[("target", "Pubsub_kafka-pubsub"), ("status", "open")],
    );
    // (daprd reports the breaker's state from its first transition on: only a Kafka
    // fault is sure to have made one.)
    if reports.iter().any(|r| r.kafka_fault) {
        assert!(
            closed >= 1.0 && open == 0.0,
            "pub/sub breaker closed after recovery (closed {closed}, open {open})"
        );
    }
}
