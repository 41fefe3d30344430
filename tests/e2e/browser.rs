//! The learner web page in Debian's headless Chromium, against the real native stack.
//!
//! `tests/browser/learner.cjs` (Playwright's library driving the system Chromium at a
//! phone-sized viewport) checks error states (a bad token, a bad learner id, a real 429
//! and its Retry-After countdown), signs in through the dev token endpoint, picks a
//! course, generates a lesson, checks its sections, answers the quiz and waits for
//! progress and mastery to move. This test then asks the real stack —
//! the API with the same learner's token, and user-progress's database — whether the
//! completion the page reported is really recorded.
//!
//! The screenshot lands in `target/learnflow/artifacts/learner-page.png` (with `-wide`,
//! `-dark` and `-signin` variants, and `-failure` when the script fails); with
//! `LEARNFLOW_UPDATE_SCREENSHOT=1` it also replaces `docs/learner-page.png`.

use std::path::PathBuf;
use std::process::Command;

use lf_testkit::devtools::DevTools;
use lf_testkit::paths::{repo_root, target_dir};
use lf_testkit::stack::{Stack, StackOptions};
use serde_json::{Value, json};

const SCRIPT: &str = "tests/browser/learner.cjs";
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

async fn get_json(http: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http.get(url);
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    let r = request.send().await.expect("gateway answers");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_takes_a_lesson_in_the_browser_and_progress_is_recorded() {
    let tools = DevTools::locate().expect("node modules and chromium (cargo xtask deps)");
    let stack = Stack::start(&StackOptions::default()).expect("the native stack starts");
    let http = reqwest::Client::new();
    let gateway = stack.gateway_url();

    // The page offers the courses the API document lists: each must be one course-agent
    // really teaches (another learner asks, so the browser learner starts empty).
    let (status, doc) = get_json(&http, &format!("{gateway}/api/v1/openapi.json"), None).await;
    assert_eq!(status, 200);
    let courses: Vec<String> =
        doc["components"]["schemas"]["CreateLessonRequest"]["properties"]["course"]["enum"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|c| c.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
    assert!(!courses.is_empty(), "the API document lists courses");
    let checker = stack.dev_token("course-list-check");
    for course in &courses {
        let r = http
            .post(format!("{gateway}/api/v1/lessons"))
            .bearer_auth(&checker)
            .json(&json!({ "course": course }))
            .send()
            .await
            .expect("gateway answers");
        assert_eq!(r.status().as_u16(), 201, "course {course:?} is taught");
        let lesson: Value = r.json().await.expect("json");
        assert_eq!(lesson["course"], course.as_str());
    }

    // Every stack starts with empty databases, so a fixed id starts with no progress.
    let learner = "ada.lovelace".to_owned();
    let artifacts = target_dir().join("learnflow").join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let screenshot = artifacts.join("learner-page.png");
    // Screenshots from an earlier run must not pass for (or confuse) this one.
    for name in ["", "-wide", "-dark", "-signin", "-failure"] {
        let _ = std::fs::remove_file(artifacts.join(format!("learner-page{name}.png")));
    }

    let command = {
        let mut c = Command::new(&tools.node);
        c.arg(repo_root().join(SCRIPT))
            .current_dir(repo_root())
            .env("NODE_PATH", &tools.node_modules)
            .env("LEARNFLOW_GATEWAY", &gateway)
            .env("LEARNFLOW_CHROMIUM", &tools.chromium)
            .env("LEARNFLOW_LEARNER", &learner)
            .env("LEARNFLOW_SCREENSHOT", &screenshot);
        c
    };
    let output = tokio::task::spawn_blocking(move || {
        let mut command = command;
        command.output()
    })
    .await
    .expect("join")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // What the script said about itself, for the test log.
    eprintln!("{stderr}");
    assert!(
        output.status.success(),
        "the browser script failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    let result: Value = stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RESULT "))
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("the script reports its result:\n{stdout}"));
    assert_eq!(result["learner"], learner.as_str());

    let png = std::fs::read(&screenshot).expect("the screenshot was written");
    assert!(png.starts_with(PNG_MAGIC), "a PNG");
    if std::env::var("LEARNFLOW_UPDATE_SCREENSHOT").as_deref() == Ok("1") {
        let committed: PathBuf = repo_root().join("docs").join("learner-page.png");
        std::fs::write(&committed, &png).expect("update docs/learner-page.png");
    }

    // The real stack agrees with what the page showed.
    let token = stack.dev_token(&learner);
    let (status, progress) =
        get_json(&http, &format!("{gateway}/api/v1/progress"), Some(&token)).await;
    assert_eq!(status, 200, "{progress}");
    assert_eq!(progress["learner_id"], learner.as_str());
    assert_eq!(progress["lessons_received"], 1, "{progress}");
    assert_eq!(progress["lessons_completed"], 1, "{progress}");
    let topics = progress["topics"].as_array().cloned().unwrap_or_default();
    let topic = topics
        .iter()
        .find(|t| t["course"] == result["course"] && t["topic"] == result["topic"])
        .unwrap_or_else(|| panic!("the lesson's topic in {progress}"));
    assert_eq!(topic["completions"], 1);
    let mastery = topic["mastery"].as_f64().expect("mastery");
    let after = result["mastery_after"].as_f64().expect("mastery_after");
    let before = result["mastery_before"].as_f64().expect("mastery_before");
    assert!((mastery - after).abs() < 1e-9, "{mastery} vs {after}");
    assert!(
        (after - before).abs() > 1e-6,
        "mastery moved: {before} → {after}"
    );

    let lesson_id: uuid::Uuid = result["lesson_id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a lesson id");
    let row = stack
        .postgres
        .psql(
            "user_progress",
            &format!("SELECT learner_id, score FROM completions WHERE lesson_id = '{lesson_id}'"),
        )
        .expect("query user_progress");
    let (owner, score) = row
        .trim()
        .split_once('|')
        .unwrap_or_else(|| panic!("one completion row, got {row:?}"));
    assert_eq!(owner, learner);
    let score: f64 = score.parse().expect("a score");
    let reported = result["score"].as_f64().expect("score");
    assert!((score - reported).abs() < 1e-9, "{score} vs {reported}");
    assert!(
        score > 0.0 && score < 1.0,
        "one quiz answer was wrong on purpose: {score}"
    );
}
