//! Layered, typed configuration for LearnFlow services.
//!
//! Layout: one function, [`load`], merges three layers into a `serde` type:
//! 1. the defaults, a TOML document embedded in the service (`include_str!`);
//! 2. an optional TOML file (`--config <path>` or `LEARNFLOW_CONFIG`);
//! 3. environment entries `LEARNFLOW_<SECTION>__<KEY>=value` (double underscore
//!    separates nesting levels; names are case-insensitive).
//!
//! The environment is passed in as an iterator, so tests hand in a map instead
//! of mutating the process environment. A value from the environment takes the
//! type of the default it overrides (integer, float, boolean or string), so a
//! numeric-looking secret stays a string.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

/// Prefix of every environment entry this loader reads.
pub const ENV_PREFIX: &str = "LEARNFLOW_";

/// Environment entry naming an optional configuration file.
pub const CONFIG_FILE_ENV: &str = "LEARNFLOW_CONFIG";

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The embedded defaults are not valid TOML (a bug in the service).
    #[error("embedded defaults are not valid TOML: {0}")]
    Defaults(#[source] toml::de::Error),
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    ReadFile {
        /// The file that was named.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("config file {path} is not valid TOML: {source}")]
    ParseFile {
        /// The file that was named.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: toml::de::Error,
    },
    /// An environment entry does not fit the type of the setting it names.
    #[error("environment entry {name}={value:?}: expected {expected}")]
    EnvType {
        /// The entry's name.
        name: String,
        /// The entry's value.
        value: String,
        /// The type of the default it overrides.
        expected: &'static str,
    },
    /// An environment entry names a setting that does not exist.
    #[error("environment entry {name} names no known setting (known sections: {known})")]
    UnknownSetting {
        /// The entry's name.
        name: String,
        /// The top-level sections that exist.
        known: String,
    },
    /// The merged document does not match the service's settings.
    #[error("invalid configuration: {0}")]
    Invalid(#[source] toml::de::Error),
}

/// Merges defaults, an optional file and `LEARNFLOW_*` environment entries into `T`.
///
/// Only entries named `LEARNFLOW_<SECTION>__<KEY>…` are settings; others (no prefix,
/// or a single segment like [`CONFIG_FILE_ENV`] or `LEARNFLOW_CACHE`) are ignored.
pub fn load<T: DeserializeOwned>(
    defaults: &str,
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut merged: Table = defaults.parse().map_err(ConfigError::Defaults)?;
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        let overlay: Table = text.parse().map_err(|source| ConfigError::ParseFile {
            path: path.to_owned(),
            source,
        })?;
        merge(&mut merged, overlay);
    }
    // Only `LEARNFLOW_<SECTION>__<KEY>` names settings; single-segment names such as
    // LEARNFLOW_CACHE belong to tooling and are left alone.
    let mut entries: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX) && k[ENV_PREFIX.len()..].contains("__"))
        .collect();
    // Deterministic order, whatever order the environment came in.
    entries.sort();
    for (name, value) in entries {
        apply_env(&mut merged, &name, value)?;
    }
    T::deserialize(Value::Table(merged)).map_err(ConfigError::Invalid)
}

/// [`load`] with the file named by `--config <path>` in `args` or `LEARNFLOW_CONFIG` in `env`:
/// what a service's `main` calls with `std::env::args()` and `std::env::vars()`.
pub fn load_from_args<T: DeserializeOwned>(
    defaults: &str,
    args: impl IntoIterator<Item = String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let file = config_file_from(args, env.iter().cloned());
    load(defaults, file.as_deref(), env)
}

/// The configuration file named by `--config <path>` in `args` or by `LEARNFLOW_CONFIG` in `env`.
pub fn config_file_from(
    args: impl IntoIterator<Item = String>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Option<PathBuf> {
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if arg == "--config" {
            return args.next().map(PathBuf::from);
        }
        if let Some(path) = arg.strip_prefix("--config=") {
            return Some(PathBuf::from(path));
        }
    }
    env.into_iter()
        .find(|(k, _)| k == CONFIG_FILE_ENV)
        .map(|(_, v)| PathBuf::from(v))
}

fn merge(base: &mut Table, overlay: Table) {
    for (key, value) in overlay {
        match (base.get_mut(&key), value) {
            (Some(Value::Table(base_table)), Value::Table(overlay_table)) => {
                merge(base_table, overlay_table);
            }
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

fn apply_env(root: &mut Table, name: &str, value: String) -> Result<(), ConfigError> {
    let path: Vec<String> = name[ENV_PREFIX.len()..]
        .split("__")
        .map(str::to_ascii_lowercase)
        .collect();
    let known = root_keys(root);
    let unknown = || ConfigError::UnknownSetting {
        name: name.to_owned(),
        known: known.clone(),
    };
    let (last, sections) = path.split_last().ok_or_else(unknown)?;
    let mut table = &mut *root;
    for section in sections {
        table = match table.get_mut(section) {
            Some(Value::Table(t)) => t,
            _ => return Err(unknown()),
        };
    }
    let typed = match table.get(last) {
        Some(Value::Integer(_)) => {
            Value::Integer(value.trim().parse().map_err(|_| ConfigError::EnvType {
                name: name.to_owned(),
                value: value.clone(),
                expected: "an integer",
            })?)
        }
        Some(Value::Float(_)) => {
            Value::Float(value.trim().parse().map_err(|_| ConfigError::EnvType {
                name: name.to_owned(),
                value: value.clone(),
                expected: "a number",
            })?)
        }
        Some(Value::Boolean(_)) => {
            Value::Boolean(value.trim().parse().map_err(|_| ConfigError::EnvType {
                name: name.to_owned(),
                value: value.clone(),
                expected: "true or false",
            })?)
        }
        Some(Value::Array(_)) => Value::Array(
            value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_owned()))
                .collect(),
        ),
        Some(Value::Table(_)) | None => return Err(unknown()),
        Some(_) => Value::String(value),
    };
    table.insert(last.clone(), typed);
    Ok(())
}

fn root_keys(root: &Table) -> String {
    root.keys().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use secrecy::{ExposeSecret, SecretString};
    use serde::Deserialize;

    const DEFAULTS: &str = r#"
        [server]
        host = "127.0.0.1"
        port = 8080
        cors_origins = []
        [database]
        url = "postgres://localhost/db"
        [limits]
        ratio = 0.5
        enabled = true
    "#;

    #[derive(Debug, Deserialize)]
    struct Settings {
        server: Server,
        database: Database,
        limits: Limits,
    }
    #[derive(Debug, Deserialize)]
    struct Server {
        host: String,
        port: u16,
        cors_origins: Vec<String>,
    }
    #[derive(Debug, Deserialize)]
    struct Database {
        url: SecretString,
    }
    #[derive(Debug, Deserialize)]
    struct Limits {
        ratio: f64,
        enabled: bool,
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_alone_load() {
        let s: Settings = load(DEFAULTS, None, env(&[])).unwrap();
        assert_eq!(s.server.port, 8080);
        assert_eq!(s.server.host, "127.0.0.1");
        assert!(s.limits.enabled);
    }

    #[test]
    fn file_overrides_defaults_and_env_overrides_file() {
        let dir = std::env::temp_dir().join(format!("lf-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(&file, "[server]\nport = 9000\nhost = \"0.0.0.0\"\n").unwrap();
        let s: Settings = load(
            DEFAULTS,
            Some(&file),
            env(&[("LEARNFLOW_SERVER__PORT", "9100"), ("OTHER", "x")]),
        )
        .unwrap();
        assert_eq!(s.server.port, 9100);
        assert_eq!(s.server.host, "0.0.0.0");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn env_values_take_the_type_of_their_default() {
        let s: Settings = load(
            DEFAULTS,
            None,
            env(&[
                ("LEARNFLOW_DATABASE__URL", "12345"),
                ("LEARNFLOW_LIMITS__RATIO", "0.25"),
                ("LEARNFLOW_LIMITS__ENABLED", "false"),
                ("LEARNFLOW_SERVER__CORS_ORIGINS", "http://a, http://b"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database.url.expose_secret(), "12345");
        assert_eq!(s.limits.ratio, 0.25);
        assert!(!s.limits.enabled);
        assert_eq!(s.server.cors_origins, vec!["http://a", "http://b"]);
    }

    #[test]
    fn a_badly_typed_env_value_names_the_entry() {
        let err = load::<Settings>(DEFAULTS, None, env(&[("LEARNFLOW_SERVER__PORT", "eighty")]))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("LEARNFLOW_SERVER__PORT"), "{msg}");
        assert!(msg.contains("integer"), "{msg}");
    }

    #[test]
    fn an_unknown_env_setting_is_an_error() {
        let err =
            load::<Settings>(DEFAULTS, None, env(&[("LEARNFLOW_SERVR__PORT", "1")])).unwrap_err();
        assert!(matches!(err, ConfigError::UnknownSetting { .. }), "{err}");
    }

    #[test]
    fn single_segment_entries_belong_to_tooling_and_are_ignored() {
        let s: Settings = load(
            DEFAULTS,
            None,
            env(&[
                ("LEARNFLOW_CACHE", "/tmp/x"),
                ("LEARNFLOW_CHAOS", "full"),
                ("LEARNFLOW_CONFIG", "c.toml"),
            ]),
        )
        .unwrap();
        assert_eq!(s.server.port, 8080);
    }

    #[test]
    fn an_out_of_range_value_is_invalid() {
        let err = load::<Settings>(DEFAULTS, None, env(&[("LEARNFLOW_SERVER__PORT", "70000")]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    }

    #[test]
    fn config_file_comes_from_args_then_env() {
        let from_args = config_file_from(
            ["svc".to_owned(), "--config".to_owned(), "a.toml".to_owned()],
            env(&[("LEARNFLOW_CONFIG", "b.toml")]),
        );
        assert_eq!(from_args, Some(PathBuf::from("a.toml")));
        let from_env = config_file_from(["svc".to_owned()], env(&[("LEARNFLOW_CONFIG", "b.toml")]));
        assert_eq!(from_env, Some(PathBuf::from("b.toml")));
        assert_eq!(config_file_from(["svc".to_owned()], env(&[])), None);
    }
}
