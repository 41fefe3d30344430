//! JSON schemas for the offline deploy checks (`tests/deploy`), provisioned from pinned Go
//! modules into the cache (ADR 0011).
//!
//! The Dapr, KEDA, prometheus-operator and Flux CRD manifests are converted into one JSON schema
//! per version (`crds/<group>/<kind>_<version>.json`) by `tests/deploy/crd_schema.py`, run
//! with the tools venv's Python; the compose and skaffold schemas are copied as their
//! projects publish them. The directory is keyed by the pins and the converter, so changing
//! either provisions afresh; `cargo xtask deploy-check` hands it to pytest as
//! `LEARNFLOW_SCHEMAS`.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::paths::{cache_dir, repo_root};
use crate::provision::{Outcome, check_go, disk_usage, ensure, go_env};
use crate::tools::DONE_MARKER;
use crate::{HarnessError, Result, devtools, versions};

/// Environment entry through which the deploy checks find the schema directory.
pub const SCHEMAS_ENV: &str = "LEARNFLOW_SCHEMAS";

/// The CRD converter, run with the tools venv's Python.
const CONVERTER: &str = "tests/deploy/crd_schema.py";

/// What the deploy checks read, relative to the schema directory; provisioning fails
/// unless the pinned sources produce every one.
pub const EXPECTED: &[&str] = &[
    "crds/dapr.io/component_v1alpha1.json",
    "crds/dapr.io/configuration_v1alpha1.json",
    "crds/dapr.io/resiliency_v1alpha1.json",
    "crds/dapr.io/subscription_v2alpha1.json",
    "crds/keda.sh/scaledobject_v1alpha1.json",
    "crds/monitoring.coreos.com/podmonitor_v1.json",
    "crds/monitoring.coreos.com/servicemonitor_v1.json",
    "crds/monitoring.coreos.com/prometheusrule_v1.json",
    "compose/compose-spec.json",
    "skaffold/v4beta14.json",
];

/// One pinned Go module and what is taken from it.
struct Source {
    module: &'static str,
    version: String,
    /// CRD manifests in the module, converted into `crds/`.
    crds: &'static [&'static str],
    /// JSON schemas copied unchanged: (path in the module, path in the schema directory).
    files: &'static [(&'static str, &'static str)],
}

fn sources() -> Vec<Source> {
    vec![
        Source {
            module: "github.com/dapr/dapr",
            version: format!("v{}", versions::DAPR),
            crds: &[
                "charts/dapr/crds/components.yaml",
                "charts/dapr/crds/configuration.yaml",
                "charts/dapr/crds/resiliency.yaml",
                "charts/dapr/crds/subscription.yaml",
            ],
            files: &[],
        },
        Source {
            module: "github.com/kedacore/keda/v2",
            version: versions::KEDA_MODULE.into(),
            crds: &["config/crd/bases/keda.sh_scaledobjects.yaml"],
            files: &[],
        },
        Source {
            module: "github.com/prometheus-operator/prometheus-operator",
            version: versions::PROMETHEUS_OPERATOR_MODULE.into(),
            crds: &[
                "example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml",
                "example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
                "example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
            ],
            files: &[],
        },
        Source {
            module: "github.com/fluxcd/helm-controller",
            version: versions::FLUX_HELM_CONTROLLER_MODULE.into(),
            crds: &["config/crd/bases/helm.toolkit.fluxcd.io_helmreleases.yaml"],
            files: &[],
        },
        Source {
            module: "github.com/fluxcd/source-controller",
            version: versions::FLUX_SOURCE_CONTROLLER_MODULE.into(),
            crds: &["config/crd/bases/source.toolkit.fluxcd.io_ocirepositories.yaml"],
            files: &[],
        },
        Source {
            module: "github.com/compose-spec/compose-go/v2",
            version: versions::COMPOSE_GO_MODULE.into(),
            crds: &[],
            files: &[("schema/compose-spec.json", "compose/compose-spec.json")],
        },
        Source {
            module: "github.com/GoogleContainerTools/skaffold/v2",
            version: versions::SKAFFOLD_MODULE.into(),
            crds: &[],
            files: &[(
                "docs-v2/content/en/schemas/v4beta14.json",
                "skaffold/v4beta14.json",
            )],
        },
    ]
}

/// Directory of the provisioned schemas, keyed by the pins and the converter's content.
pub fn schemas_dir() -> Result<PathBuf> {
    let mut key = String::new();
    for s in sources() {
        key += &format!("{}@{} {:?} {:?}\n", s.module, s.version, s.crds, s.files);
    }
    let converter = repo_root().join(CONVERTER);
    let mut bytes = key.into_bytes();
    bytes.extend(
        std::fs::read(&converter)
            .map_err(HarnessError::io(format!("reading {}", converter.display())))?,
    );
    Ok(cache_dir().join(format!("schemas-{}", devtools::bytes_key(&bytes))))
}

/// The provisioned schema directory, or the command that provisions it.
pub fn locate() -> Result<PathBuf> {
    let dir = schemas_dir()?;
    if dir.join(DONE_MARKER).exists() {
        Ok(dir)
    } else {
        Err(HarnessError::Missing {
            what: format!(
                "the deploy checks' JSON schemas (expected in {})",
                dir.display()
            ),
            fix: "cargo xtask deps".into(),
        })
    }
}

/// Downloads the pinned modules and writes the schemas; needs the tools venv first.
pub fn ensure_schemas(say: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let dir = schemas_dir()?;
    // The directory's key, shortened to fit `cargo xtask deps`' version column.
    let key = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("schemas-"))
        .unwrap_or_default()
        .chars()
        .take(8)
        .collect::<String>();
    ensure("schemas", &key, &dir, say, |dir, say| {
        let python = devtools::python_dir()?.join("venv/bin/python");
        if !python.is_file() {
            return Err(HarnessError::Missing {
                what: format!("the Python tools venv (expected at {})", python.display()),
                fix: "cargo xtask deps".into(),
            });
        }
        let go = check_go()?;
        let modcache = go_env(&go, "GOMODCACHE")?;
        let before = disk_usage(&modcache);
        // A run cut short may have left some files; start from nothing.
        for sub in ["crds", "compose", "skaffold"] {
            let _ = std::fs::remove_dir_all(dir.join(sub));
        }
        let mut crds = Vec::new();
        let mut taken = serde_json::Map::new();
        for source in sources() {
            say(&format!(
                "schemas: go mod download {}@{}",
                source.module, source.version
            ));
            let root = downloaded(&go, source.module, &source.version, dir)?;
            crds.extend(source.crds.iter().map(|crd| root.join(crd)));
            for (from, to) in source.files {
                let target = dir.join(to);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(HarnessError::io(format!("creating {}", parent.display())))?;
                }
                // Read and written rather than copied: the module cache's files are read-only.
                let bytes = std::fs::read(root.join(from)).map_err(HarnessError::io(format!(
                    "reading {from} of {}@{}",
                    source.module, source.version
                )))?;
                std::fs::write(&target, bytes)
                    .map_err(HarnessError::io(format!("writing {}", target.display())))?;
            }
            let paths = source
                .crds
                .iter()
                .chain(source.files.iter().map(|(f, _)| f));
            taken.insert(
                format!("{}@{}", source.module, source.version),
                paths.map(|p| serde_json::Value::from(*p)).collect(),
            );
        }
        say(&format!(
            "schemas: converting {} CRD manifests with {CONVERTER}",
            crds.len()
        ));
        crate::components::run_command(
            CONVERTER,
            Command::new(&python)
                .arg(repo_root().join(CONVERTER))
                .arg(dir.join("crds"))
                .args(&crds),
        )?;
        if let Some(missing) = EXPECTED.iter().find(|f| !dir.join(f).is_file()) {
            return Err(HarnessError::Command {
                what: "provisioning the deploy checks' schemas".into(),
                detail: format!("the pinned sources produced no {missing}"),
            });
        }
        // Which module file each schema came from, for whoever reads the cache.
        let sources_json =
            serde_json::to_vec_pretty(&taken).map_err(|e| HarnessError::Command {
                what: "serialising sources.json".into(),
                detail: e.to_string(),
            })?;
        std::fs::write(dir.join("sources.json"), sources_json)
            .map_err(HarnessError::io("writing sources.json"))?;
        Ok((
            dir.to_path_buf(),
            Some(disk_usage(&modcache).saturating_sub(before)),
        ))
    })
}

/// `go mod download`s `module@version` and returns its directory in the module cache.
///
/// Read in place, not copied like the build sources are: only a few files are needed,
/// and skaffold's module alone is about 100 MB.
fn downloaded(go: &Path, module: &str, version: &str, cwd: &Path) -> Result<PathBuf> {
    let out = Command::new(go)
        .current_dir(cwd)
        .args(["mod", "download", "-json", &format!("{module}@{version}")])
        .output()
        .map_err(HarnessError::io("running go mod download"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let info: serde_json::Value = serde_json::from_str(&stdout).unwrap_or_default();
    match info["Dir"].as_str() {
        Some(found) if out.status.success() => Ok(PathBuf::from(found)),
        _ => Err(HarnessError::Command {
            what: format!("go mod download {module}@{version}"),
            detail: info["Error"].as_str().map_or_else(
                || format!("{}{}", stdout, String::from_utf8_lossy(&out.stderr)),
                str::to_owned,
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{EXPECTED, schemas_dir, sources};

    #[test]
    fn copied_schemas_are_the_expected_ones() {
        let copied: Vec<&str> = sources()
            .iter()
            .flat_map(|s| s.files.iter().map(|(_, to)| *to))
            .collect();
        let expected: Vec<&str> = EXPECTED
            .iter()
            .copied()
            .filter(|f| !f.starts_with("crds/"))
            .collect();
        assert_eq!(copied, expected);
    }

    #[test]
    fn directory_is_keyed_and_stable() {
        let dir = schemas_dir().expect("converter exists");
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        assert!(name.starts_with("schemas-") && name.len() == "schemas-".len() + 16);
        assert_eq!(dir, schemas_dir().expect("again"));
    }
}
