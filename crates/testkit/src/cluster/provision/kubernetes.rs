//! Kubernetes itself: the six binaries from `k8s.io/kubernetes` (its staging modules
//! replaced by their published versions) and the pause binary, and its image tag.

use std::path::Path;
use std::process::Command;

use super::*;

/// Builds the Kubernetes binaries inside a copy of the downloaded `k8s.io/kubernetes`
/// module, and the pause binary from its `build/pause/linux/pause.c`.
///
/// The module's go.mod points its `k8s.io/*` staging modules at `./staging/…`, which the
/// published module zip does not contain; the copy requires the published versions
/// instead (and drops the `k8s.io/sample-*` ones, which nothing built here imports and
/// the module proxy does not serve).
pub fn ensure_kubernetes(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    build_in_module_copy(
        "kubernetes",
        versions::KUBERNETES,
        &kubernetes_dir(),
        "k8s.io/kubernetes",
        versions::KUBERNETES,
        say,
        |copy, dir, say| {
            let edits = staging_edits(
                &std::fs::read_to_string(copy.src.join("go.mod"))
                    .map_err(HarnessError::io("reading the kubernetes go.mod"))?,
            );
            crate::components::run_command(
                "go mod edit (published staging modules)",
                Command::new(copy.go)
                    .current_dir(copy.src)
                    .env("GOWORK", "off")
                    .arg("mod")
                    .arg("edit")
                    .args(&edits),
            )?;
            for work in ["go.work", "go.work.sum"] {
                let _ = std::fs::remove_file(copy.src.join(work));
            }
            let version = versions::KUBERNETES;
            let (major, minor) = major_minor(version);
            let mut ldflags = String::from("-s -w");
            for package in [
                "k8s.io/component-base/version",
                "k8s.io/client-go/pkg/version",
            ] {
                ldflags.push_str(&format!(
                    " -X {package}.gitVersion={version} -X {package}.gitMajor={major} \
                     -X {package}.gitMinor={minor} -X {package}.gitTreeState=clean"
                ));
            }
            let mut cmd = Command::new(copy.go);
            cmd.current_dir(copy.src)
                .env("GOWORK", "off")
                .env("CGO_ENABLED", "0")
                .env("GOFLAGS", "-mod=mod -buildvcs=false")
                .args(["build", "-trimpath", "-ldflags", &ldflags, "-o"])
                // A trailing slash makes `-o` a directory for several packages.
                .arg(format!("{}/", dir.display()))
                .args(KUBE_BINARIES.iter().map(|b| format!("./cmd/{b}")));
            provision::run_with_heartbeat(
                "kubernetes: go build ./cmd/{kube-apiserver,kube-controller-manager,kube-scheduler,kubelet,kube-proxy,kubectl}",
                &mut cmd,
                "kubernetes-build",
                say,
            )?;
            build_pause(copy.src, dir, say)?;
            Ok(())
        },
    )
}

/// `go mod edit` flags that swap each `./staging` replace for the published module.
pub(super) fn staging_edits(go_mod: &str) -> Vec<String> {
    let published = staging_version(versions::KUBERNETES);
    let mut edits = Vec::new();
    for line in go_mod.lines() {
        let Some((module, target)) = line.trim().split_once("=>") else {
            continue;
        };
        if !target.trim().starts_with("./staging/") {
            continue;
        }
        let module = module.trim();
        edits.push(format!("-dropreplace={module}"));
        if module.starts_with("k8s.io/sample-") {
            edits.push(format!("-droprequire={module}"));
        } else {
            edits.push(format!("-require={module}@{published}"));
        }
    }
    edits
}

/// `v1.34.4` → `v0.34.4`: the tag Kubernetes publishes its staging modules under.
pub(super) fn staging_version(kubernetes: &str) -> String {
    kubernetes.replacen("v1.", "v0.", 1)
}

pub(super) fn major_minor(version: &str) -> (String, String) {
    let mut parts = version.trim_start_matches('v').split('.');
    (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    )
}

/// The static pause binary, named as its Makefile tags it; the tag goes to `pause.tag`.
pub(super) fn build_pause(src: &Path, dir: &Path, say: &mut dyn FnMut(&str)) -> Result<()> {
    let pause = src.join("build/pause");
    let makefile = std::fs::read_to_string(pause.join("Makefile"))
        .map_err(HarnessError::io("reading build/pause/Makefile"))?;
    let tag = makefile
        .lines()
        .find_map(|l| l.strip_prefix("TAG ?="))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| HarnessError::Command {
            what: "reading the pause tag".into(),
            detail: "no `TAG ?=` line in build/pause/Makefile".into(),
        })?;
    let gcc = crate::tools::system_binary("gcc", "apt-get install -y build-essential")?;
    // The Makefile's CFLAGS, with our own revision suffix.
    crate::components::run_command(
        "gcc -static pause.c (needs: apt-get install -y build-essential)",
        Command::new(gcc)
            .args(["-Os", "-Wall", "-Werror", "-static"])
            .arg(format!("-DVERSION=v{tag}-learnflow"))
            .arg("-o")
            .arg(dir.join("pause"))
            .arg(pause.join("linux/pause.c")),
    )?;
    std::fs::write(dir.join("pause.tag"), &tag).map_err(HarnessError::io("writing pause.tag"))?;
    say(&format!(
        "pause {tag}: built from build/pause/linux/pause.c"
    ));
    Ok(())
}

/// The pause image tag recorded when the pause binary was built.
pub fn pause_tag() -> Result<String> {
    let path = kubernetes_dir().join("pause.tag");
    std::fs::read_to_string(&path)
        .map(|t| t.trim().to_owned())
        .map_err(|_| not_provisioned("the pause binary", &path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions;

    #[test]
    fn staging_replaces_become_published_requires_and_samples_are_dropped() {
        let go_mod = "require (\n\tk8s.io/api v0.0.0\n)\nreplace (\n\
            \tk8s.io/api => ./staging/src/k8s.io/api\n\
            \tk8s.io/sample-cli-plugin => ./staging/src/k8s.io/sample-cli-plugin\n\
            \tgithub.com/x/y => github.com/x/z v1.0.0\n)\n";
        let published = staging_version(versions::KUBERNETES);
        assert_eq!(
            staging_edits(go_mod),
            vec![
                "-dropreplace=k8s.io/api".to_owned(),
                format!("-require=k8s.io/api@{published}"),
                "-dropreplace=k8s.io/sample-cli-plugin".to_owned(),
                "-droprequire=k8s.io/sample-cli-plugin".to_owned(),
            ]
        );
    }

    #[test]
    fn versions_split_as_kubernetes_stamps_them() {
        assert_eq!(staging_version("v1.34.4"), "v0.34.4");
        assert_eq!(major_minor("v1.34.4"), ("1".to_owned(), "34".to_owned()));
    }
}
