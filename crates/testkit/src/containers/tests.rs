//! Unit tests of the containers module: versions, stand-in recipes, fresh-sources stamping.

use super::standins::{artefact_dir, recipe_key};
use super::*;
use crate::paths::repo_root;

#[test]
fn an_image_without_a_stand_in_recipe_is_refused_before_any_build() {
    let unreachable = Engine {
        host: "unix:///nonexistent/docker.sock".into(),
        daemon: None,
    };
    let refused = ensure_images(&unreachable, &["grafana/grafana:13.1.0"], &mut |_| {})
        .expect_err("grafana has no stand-in");
    assert!(
        refused.to_string().contains("grafana/grafana:13.1.0"),
        "{refused}"
    );
}

/// Every third-party image the compose files run (`image:` not built from
/// docker/Dockerfile), docker/Dockerfile starts from (`ARG *_IMAGE=` defaults) or the
/// chart's values name (`repository:` and its pinned `tag:`).
fn third_party_images() -> Vec<String> {
    let dir = repo_root().join("docker");
    let mut images = chart_images();
    for file in [
        "compose.yaml",
        "compose.observability.yaml",
        "compose.logs.yaml",
        "compose.load.yaml",
    ] {
        let text = std::fs::read_to_string(dir.join(file)).expect("compose file");
        for line in text.lines() {
            if let Some(image) = line.trim().strip_prefix("image:") {
                let image = image.trim().trim_matches('"');
                if !image.starts_with("learnflow/") {
                    images.push(image.to_owned());
                }
            }
        }
    }
    let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).expect("Dockerfile");
    for line in dockerfile.lines() {
        if let Some((name, image)) = line.strip_prefix("ARG ").and_then(|a| a.split_once('='))
            && name.ends_with("_IMAGE")
        {
            images.push(image.trim().to_owned());
        }
    }
    images
}

/// The third-party images of the chart's values.yaml: each `repository:` line with a
/// pinned `tag:` on the next (LearnFlow's own leave the tag to the chart's appVersion).
fn chart_images() -> Vec<String> {
    let path = repo_root().join("deploy/helm/learnflow/values.yaml");
    let text = std::fs::read_to_string(path).expect("values.yaml");
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let mut images = Vec::new();
    for pair in lines.windows(2) {
        let repository = pair[0].strip_prefix("repository:").map(str::trim);
        let tag = pair[1]
            .strip_prefix("tag:")
            .map(|t| t.trim().trim_matches('"'));
        if let (Some(repository), Some(tag)) = (repository, tag)
            && !tag.is_empty()
            && !repository.starts_with("learnflow/")
        {
            images.push(format!("{repository}:{tag}"));
        }
    }
    images
}

#[test]
fn the_charts_third_party_images_are_read_from_its_values() {
    let images = chart_images();
    for image in ["postgres:15.20-bookworm", "victoriametrics/vlagent:v1.52.2"] {
        assert!(
            images.iter().any(|i| i == image),
            "{image} not in {images:?}"
        );
    }
    assert!(
        !images.iter().any(|i| i.starts_with("learnflow/")),
        "{images:?}"
    );
}

#[test]
fn every_third_party_image_of_compose_and_the_dockerfile_can_be_made_here_or_is_named() {
    let images = third_party_images();
    assert!(images.len() >= 8, "found {images:?}");
    let base_images = [BASE_IMAGE.to_owned(), rust_image().expect("rust image")];
    for image in &images {
        let covered = STAND_INS.iter().any(|s| s.reference == image)
            || WITHOUT_STAND_IN.contains(&image.as_str())
            || base_images.contains(image);
        assert!(
            covered,
            "{image} has no stand-in recipe and is not listed without one"
        );
    }
    for stand_in in STAND_INS {
        assert!(
            images.iter().any(|i| i == stand_in.reference),
            "{} has a stand-in but neither compose, the chart nor the Dockerfile uses it (stale pin?)",
            stand_in.reference
        );
        assert!(
            repo_root()
                .join("docker/standins")
                .join(stand_in.recipe)
                .join("Dockerfile")
                .is_file(),
            "{} has no docker/standins/{}/Dockerfile",
            stand_in.reference,
            stand_in.recipe
        );
    }
}

#[test]
fn versions_compare_by_major_and_minor() {
    assert_eq!(major_minor("20.10.24+dfsg1"), Some((20, 10)));
    assert_eq!(major_minor("v5.6.0"), Some((5, 6)));
    assert_eq!(major_minor("2.16.0-desktop.1"), Some((2, 16)));
    assert!(major_minor("2.16.0").is_some_and(|v| v < MIN_COMPOSE));
    assert!(major_minor("19.03.15").is_some_and(|v| v < MIN_ENGINE));
    assert_eq!(major_minor("dev"), None);
}

#[test]
fn a_stand_in_key_follows_its_recipe_and_artefact() {
    let keys: Vec<String> = STAND_INS
        .iter()
        .map(|s| recipe_key(s).expect("key"))
        .collect();
    assert_eq!(keys[0], recipe_key(&STAND_INS[0]).expect("key"), "stable");
    let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "each recipe has its own key");
    // The artefact's versioned directory is part of the key: a new Kafka is a new image.
    assert!(artefact_dir("kafka").is_some_and(|d| d == kafka_dir()));
    assert!(artefact_dir("daprd").is_some_and(|d| d == daprd_dir()));
    assert!(artefact_dir("postgres").is_none());
}

#[test]
fn the_daprd_stand_in_is_the_version_we_build() {
    let daprd = STAND_INS
        .iter()
        .find(|s| s.recipe == "daprd")
        .expect("daprd");
    assert_eq!(daprd.reference, format!("daprio/daprd:{}", versions::DAPR));
}

#[test]
fn the_pinned_toolchain_is_read_from_rust_toolchain_toml() {
    let channel = pinned_toolchain().expect("channel");
    assert!(channel.split('.').count() == 3, "{channel}");
    assert_eq!(
        rust_image().expect("image"),
        format!("rust:{channel}-bookworm")
    );
}

/// docker/fresh-sources.sh, run the way the Dockerfile runs it, in a scratch source tree.
struct SourceTree {
    root: PathBuf,
}

impl SourceTree {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_nanos();
        let root =
            std::env::temp_dir().join(format!("learnflow-fresh-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(root.join("src")).expect("scratch tree");
        std::fs::create_dir_all(root.join("target")).expect("scratch target");
        Self { root }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.root.join(file), text).expect("write");
    }

    /// Gives a file an mtime long before any build: a checkout made earlier.
    fn age(&self, file: &str) {
        let status = Command::new("touch")
            .args(["-m", "-d", "@1000000"])
            .arg(self.root.join(file))
            .status()
            .expect("touch");
        assert!(status.success());
    }

    fn script(&self, mode: &str) {
        self.script_for(mode, "gateway");
    }

    /// The script as the Dockerfile runs it for `package` (one profile).
    fn script_for(&self, mode: &str, package: &str) {
        let output = Command::new("sh")
            .arg(repo_root().join("docker/fresh-sources.sh"))
            .args([
                mode,
                &format!("target/sources/{package}.sha256"),
                "target/sources/last.sha256",
            ])
            .current_dir(&self.root)
            .output()
            .expect("sh");
        assert!(
            output.status.success(),
            "fresh-sources.sh {mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Whether cargo would take the file as changed by a build started `since`.
    fn newer_than(&self, file: &str, since: std::time::SystemTime) -> bool {
        std::fs::metadata(self.root.join(file))
            .and_then(|m| m.modified())
            .expect("mtime")
            >= since
    }
}

impl Drop for SourceTree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn a_changed_source_is_rebuilt_even_when_its_mtime_is_older_than_the_last_build() {
    let tree = SourceTree::new();
    tree.write("src/http.rs", "pub fn new() {}");
    tree.write("src/gateway.rs", "fn main() { new(); }");
    tree.age("src/http.rs");
    tree.age("src/gateway.rs");
    let first = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script("prepare");
    assert!(
        tree.newer_than("src/http.rs", first) && tree.newer_than("src/gateway.rs", first),
        "no manifest yet: nothing in target/ is known, every file must look new"
    );
    tree.script("record");

    // Another checkout with a changed crate whose files are older than that build.
    tree.write("src/http.rs", "pub fn new() {} pub fn new_public_edge() {}");
    tree.age("src/http.rs");
    let second = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script("prepare");
    assert!(
        tree.newer_than("src/http.rs", second),
        "changed content must look newer than the last build"
    );
    assert!(
        !tree.newer_than("src/gateway.rs", second),
        "unchanged content must not force a rebuild"
    );

    // The build failed (no record): the change is still pending on the next try.
    tree.age("src/http.rs");
    let third = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script("prepare");
    assert!(
        tree.newer_than("src/http.rs", third),
        "pending until recorded"
    );
    tree.script("record");

    tree.age("src/http.rs");
    let fourth = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script("prepare");
    assert!(!tree.newer_than("src/http.rs", fourth), "recorded: fresh");
}

#[test]
fn an_edit_recorded_by_another_package_build_is_still_rebuilt_for_its_own() {
    let tree = SourceTree::new();
    tree.write("src/http.rs", "pub fn new() {}");
    tree.write("src/agent.rs", "fn main() {}");
    for package in ["gateway", "agent"] {
        tree.script_for("prepare", package);
        tree.script_for("record", package);
    }
    // skaffold dev: course-agent edited, then the gateway's image built first.
    tree.write("src/agent.rs", "fn main() { println!(); }");
    tree.age("src/agent.rs");
    tree.script_for("prepare", "gateway");
    tree.script_for("record", "gateway");
    tree.age("src/agent.rs");
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script_for("prepare", "agent");
    assert!(
        tree.newer_than("src/agent.rs", since),
        "the agent was last built before the edit: it must be rebuilt"
    );
    assert!(
        !tree.newer_than("src/http.rs", since),
        "nothing else changed"
    );
}

#[test]
fn a_shared_crate_built_from_other_content_since_is_rebuilt() {
    let tree = SourceTree::new();
    tree.write("src/http.rs", "pub fn new() {}");
    tree.script_for("prepare", "agent");
    tree.script_for("record", "agent");
    // Another checkout with a different shared crate builds the gateway in between ...
    tree.write("src/http.rs", "pub fn old() {}");
    tree.script_for("prepare", "gateway");
    tree.script_for("record", "gateway");
    // ... and this checkout builds the agent again with the content it last built.
    tree.write("src/http.rs", "pub fn new() {}");
    tree.age("src/http.rs");
    let since = std::time::SystemTime::now() - Duration::from_secs(1);
    tree.script_for("prepare", "agent");
    assert!(
        tree.newer_than("src/http.rs", since),
        "the shared crate in target/ was compiled from the other content"
    );
}
