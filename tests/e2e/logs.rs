//! Logs searchable by trace id on the real native stack (ADR 0030): vlagent tails every
//! service's and sidecar's log file into a real VictoriaLogs, and a lesson's `x-trace-id`
//! finds its lines in all three services; an error answer's `trace_id` finds its error line.

use std::collections::BTreeSet;
use std::time::Duration;

use learnflow_e2e::logs::logsql;
use learnflow_e2e::{eventually_async, trace_id_of};
use lf_testkit::components::victorialogs::trace_query;
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};

async fn create_lesson(http: &reqwest::Client, gateway: &str, token: &str) -> reqwest::Response {
    http.post(format!("{gateway}/api/v1/lessons"))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("gateway")
}

fn field<'a>(line: &'a Value, name: &str) -> &'a str {
    line[name].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trace_id_finds_its_log_lines_in_every_service() {
    let mut stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let http = reqwest::Client::new();
    let logs = stack.logs.url();
    let gateway = stack.gateway_url();
    let token = stack.dev_token("log-learner");

    let created = create_lesson(&http, &gateway, &token).await;
    assert_eq!(created.status().as_u16(), 201);
    let trace_id = trace_id_of(&created);

    // The gateway's request, course-agent's (invoked through two sidecars) and
    // user-progress's delivery of the lesson event (after the Kafka hop) share the trace.
    let wanted = BTreeSet::from(["frontend-gateway", "course-agent", "user-progress"]);
    let query = trace_query(&trace_id);
    let lines = eventually_async(
        &format!("log lines of trace {trace_id} from {wanted:?}"),
        Duration::from_secs(60),
        async || {
            let lines = logsql(&http, &logs, &query).await;
            let services: BTreeSet<&str> = lines.iter().map(|l| field(l, "service")).collect();
            wanted.is_subset(&services).then_some(lines)
        },
    )
    .await;
    for line in &lines {
        assert_eq!(field(line, "span.trace_id"), trace_id, "{line}");
        assert_eq!(field(line, "component"), "service", "{line}");
    }
    // A query for another trace id finds none of them.
    let other = trace_query(&"f".repeat(32));
    assert!(logsql(&http, &logs, &other).await.is_empty());

    // The sidecars' own logs are there too (daprd's JSON, by the service it serves).
    // vlagent finds a new file within a second and ships in batches: wait, as above.
    for service in &wanted {
        let query = format!("service:={service} component:=daprd");
        eventually_async(
            &format!("{query}: lines with app_id {service}"),
            Duration::from_secs(30),
            async || {
                let daprd_lines = logsql(&http, &logs, &query).await;
                daprd_lines
                    .iter()
                    .any(|l| field(l, "app_id") == *service)
                    .then_some(())
            },
        )
        .await;
    }

    // An error answer names its trace; that trace finds the line saying what went wrong.
    stack
        .services
        .get_mut("course-agent")
        .expect("course-agent")
        .service
        .process()
        .stop(Duration::from_secs(10));
    let failed = create_lesson(&http, &gateway, &token).await;
    assert!(failed.status().is_server_error(), "{failed:?}");
    let header_trace = trace_id_of(&failed);
    let body: Value = failed.json().await.expect("a JSON error");
    let error_trace = body["error"]["trace_id"]
        .as_str()
        .expect("trace_id")
        .to_owned();
    assert_eq!(error_trace, header_trace);
    let query = format!("{} level:=WARN", trace_query(&error_trace));
    let error_lines = eventually_async(
        &format!("the warning of trace {error_trace}"),
        Duration::from_secs(60),
        async || {
            let lines = logsql(&http, &logs, &query).await;
            (!lines.is_empty()).then_some(lines)
        },
    )
    .await;
    assert!(
        error_lines
            .iter()
            .any(|l| field(l, "service") == "frontend-gateway"
                && field(l, "_msg") == "upstream unavailable"),
        "{error_lines:?}"
    );
}
