//! Third-party images: pulled when a registry answers, else a stand-in built here from
//! `docker/standins/<name>` under the same name and tag.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::*;
use crate::paths::{cache_dir, repo_root};
use crate::{HarnessError, Result};

use super::base::pulled;

/// A fresh build context holding `docker/standins/<name>/`.
pub(super) fn stand_in_context(name: &str) -> Result<PathBuf> {
    let context = cache_dir().join("build").join(format!("standin-{name}"));
    let _ = std::fs::remove_dir_all(&context);
    std::fs::create_dir_all(context.parent().unwrap_or(&context))
        .map_err(HarnessError::io("creating the build directory"))?;
    crate::components::run_command(
        "copying the stand-in recipe",
        Command::new("cp")
            .arg("-r")
            .arg(repo_root().join("docker/standins").join(name))
            .arg(&context),
    )?;
    Ok(context)
}

pub(super) fn copy_tree(from: &Path, into: &Path) -> Result<()> {
    crate::components::run_command(
        &format!("copying {}", from.display()),
        Command::new("cp").arg("-a").arg(from).arg(into),
    )
    .map(|_| ())
}

/// One third-party image and its stand-in recipe.
#[derive(Debug, Clone, Copy)]
pub struct StandIn {
    /// The image reference the compose files use.
    pub reference: &'static str,
    /// Its recipe directory under `docker/standins/`.
    pub recipe: &'static str,
}

/// Every third-party image the compose files run, with its stand-in. Grafana has none:
/// it is neither in Debian nor buildable here (docker/README.md).
pub const STAND_INS: &[StandIn] = &[
    StandIn {
        reference: "postgres:15.20-bookworm",
        recipe: "postgres",
    },
    StandIn {
        reference: "apache/kafka:4.1.2",
        recipe: "kafka",
    },
    StandIn {
        reference: "daprio/daprd:1.18.3",
        recipe: "daprd",
    },
    StandIn {
        reference: "prom/prometheus:v3.13.1",
        recipe: "prometheus",
    },
    StandIn {
        reference: "jaegertracing/jaeger:2.13.0",
        recipe: "jaeger",
    },
    StandIn {
        reference: "prom/alertmanager:v0.31.1",
        recipe: "alertmanager",
    },
    StandIn {
        reference: "prometheuscommunity/postgres-exporter:v0.11.1",
        recipe: "postgres-exporter",
    },
    StandIn {
        reference: "victoriametrics/victoria-logs:v1.52.2",
        recipe: "victorialogs",
    },
    StandIn {
        reference: "victoriametrics/vlagent:v1.52.2",
        recipe: "vlagent",
    },
];

/// Third-party images the compose files name that no stand-in replaces.
pub const WITHOUT_STAND_IN: &[&str] = &["grafana/grafana:13.1.0"];

/// Pulls each third-party image, or builds its stand-in when no registry answers.
/// Returns the references that are stand-ins.
pub fn ensure_third_party_images(
    engine: &Engine,
    say: &mut dyn FnMut(&str),
) -> Result<Vec<&'static str>> {
    let all: Vec<&str> = STAND_INS.iter().map(|s| s.reference).collect();
    ensure_images(engine, &all, say)
}

/// [`ensure_third_party_images`] for some of them only (`references` must each have a
/// stand-in in [`STAND_INS`]): the cluster runs Kafka and PostgreSQL but none of the rest.
pub fn ensure_images(
    engine: &Engine,
    references: &[&str],
    say: &mut dyn FnMut(&str),
) -> Result<Vec<&'static str>> {
    if let Some(unknown) = references
        .iter()
        .find(|r| !STAND_INS.iter().any(|s| s.reference == **r))
    {
        return Err(HarnessError::Command {
            what: "choosing third-party images".into(),
            detail: format!("{unknown} has no stand-in recipe"),
        });
    }
    ensure_base_images(engine, say)?;
    let mut stand_ins = Vec::new();
    for image in STAND_INS
        .iter()
        .filter(|s| references.contains(&s.reference))
    {
        let key = recipe_key(image)?;
        if engine.has_image(image.reference) {
            // A real image (pulled, or the user's own) is never replaced.
            if label(engine, image.reference, "io.learnflow.stand-in").is_none() {
                continue;
            }
            if label(engine, image.reference, "io.learnflow.stand-in.recipe").as_deref()
                == Some(key.as_str())
            {
                stand_ins.push(image.reference);
                continue;
            }
            say(&format!(
                "{}: its stand-in recipe or artefacts changed; rebuilding",
                image.reference
            ));
        } else if pulled(engine, image.reference, say) {
            continue;
        }
        build_stand_in(engine, image, &key, say)?;
        stand_ins.push(image.reference);
    }
    Ok(stand_ins)
}

/// A label of an image, if it has it.
fn label(engine: &Engine, reference: &str, name: &str) -> Option<String> {
    engine
        .run(
            "docker image inspect",
            &[
                "image",
                "inspect",
                "--format",
                &format!("{{{{index .Config.Labels \"{name}\"}}}}"),
                reference,
            ],
        )
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty() && v != "<no value>")
}

/// What a stand-in is made of: its recipe files and the provisioned artefact it copies
/// (whose cache directory name carries its version). A change to either rebuilds it.
pub(super) fn recipe_key(image: &StandIn) -> Result<String> {
    let dir = repo_root().join("docker/standins").join(image.recipe);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(HarnessError::io(format!("reading {}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut bytes = Vec::new();
    for file in files {
        bytes.extend(
            file.file_name()
                .map(|n| n.as_encoded_bytes().to_vec())
                .unwrap_or_default(),
        );
        bytes.extend(
            std::fs::read(&file)
                .map_err(HarnessError::io(format!("reading {}", file.display())))?,
        );
    }
    if let Some(artefact) = artefact_dir(image.recipe) {
        bytes.extend(artefact.display().to_string().into_bytes());
    }
    Ok(crate::devtools::bytes_key(&bytes))
}

/// The provisioned directory whose content a stand-in copies.
pub(super) fn artefact_dir(recipe: &str) -> Option<PathBuf> {
    match recipe {
        "daprd" => Some(daprd_dir()),
        "jaeger" => Some(jaeger_dir()),
        "alertmanager" => Some(alertmanager_dir()),
        "kafka" => Some(kafka_dir()),
        "victorialogs" | "vlagent" => Some(victorialogs_dir()),
        _ => None,
    }
}

fn build_stand_in(
    engine: &Engine,
    image: &StandIn,
    key: &str,
    say: &mut dyn FnMut(&str),
) -> Result<()> {
    let started = Instant::now();
    let context = stand_in_context(image.recipe)?;
    let artefact = |path: PathBuf| -> Result<PathBuf> {
        if path.exists() {
            Ok(path)
        } else {
            Err(HarnessError::Missing {
                what: format!("{} (for the {} stand-in)", path.display(), image.reference),
                fix: "cargo xtask deps".into(),
            })
        }
    };
    match image.recipe {
        "daprd" => copy_tree(&artefact(daprd_dir().join("daprd"))?, &context)?,
        "jaeger" => copy_tree(&artefact(jaeger_dir().join("jaeger"))?, &context)?,
        "alertmanager" => {
            for binary in ["alertmanager", "amtool"] {
                copy_tree(&artefact(alertmanager_dir().join(binary))?, &context)?;
            }
        }
        "kafka" => copy_tree(&artefact(kafka_dir().join("libs"))?, &context)?,
        "victorialogs" => copy_tree(
            &artefact(victorialogs_dir().join("victoria-logs"))?,
            &context,
        )?,
        "vlagent" => copy_tree(&artefact(victorialogs_dir().join("vlagent"))?, &context)?,
        _ => {}
    }
    // Marks it as ours, so a later run knows the image is a stand-in (not the real one)
    // and which recipe made it.
    let dockerfile = context.join("Dockerfile");
    let mut text = std::fs::read_to_string(&dockerfile)
        .map_err(HarnessError::io("reading the stand-in Dockerfile"))?;
    text.push_str(&format!(
        "\nLABEL io.learnflow.stand-in=\"true\" io.learnflow.stand-in.for=\"{}\" \
         io.learnflow.stand-in.recipe=\"{key}\"\n",
        image.reference
    ));
    std::fs::write(&dockerfile, text)
        .map_err(HarnessError::io("writing the stand-in Dockerfile"))?;
    engine.build(image.reference, &dockerfile, &context, &[], say)?;
    let _ = std::fs::remove_dir_all(&context);
    say(&format!(
        "{} (stand-in): built in {:.0} s ({} MB)",
        image.reference,
        started.elapsed().as_secs_f64(),
        engine.image_size(image.reference)? / 1_000_000
    ));
    Ok(())
}
