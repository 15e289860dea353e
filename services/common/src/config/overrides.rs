//! The command line as the top configuration layer: `--set section.key=value`
//! and the named flags (`--bind`, `--data-dir`, …) become overrides merged
//! after the file and the environment, and are checked like them.

use std::str::FromStr;

use figment::providers::Serialized;
use figment::value::Value;

/// One setting from the command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    key: String,
    value: Value,
}

impl Override {
    /// `key` is a dotted path (`server.bind`); the value is taken as written,
    /// never reinterpreted as a number or a boolean.
    pub fn text(key: &str, value: impl Into<String>) -> Self {
        Override {
            key: key.to_string(),
            value: Value::from(value.into()),
        }
    }

    /// A numeric setting.
    pub fn number(key: &str, value: usize) -> Self {
        Override {
            key: key.to_string(),
            value: Value::from(value),
        }
    }

    /// The dotted key it sets.
    pub fn key(&self) -> &str {
        &self.key
    }

    pub(super) fn provider(&self) -> Serialized<Value> {
        Serialized::default(&self.key, self.value.clone())
    }
}

/// Why a `--set` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidOverride(String);

impl From<InvalidOverride> for figment::Error {
    fn from(error: InvalidOverride) -> Self {
        figment::Error::from(error.0)
    }
}

impl FromStr for Override {
    type Err = InvalidOverride;
    /// `section.key=value`; the value is read as the environment layer reads
    /// one (`4` a number, `true` a boolean, anything else text).
    fn from_str(setting: &str) -> Result<Self, Self::Err> {
        let (key, value) = setting.split_once('=').ok_or_else(|| {
            InvalidOverride(format!(
                "{setting:?} is not KEY=VALUE (e.g. ingest.workers=2)"
            ))
        })?;
        let key = key.trim();
        let well_formed = !key.is_empty()
            && key.split('.').all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
        if !well_formed {
            return Err(InvalidOverride(format!(
                "{key:?} is not a setting's key (e.g. ingest.workers)"
            )));
        }
        let value = match value.parse::<Value>() {
            Ok(value) => value,
            Err(never) => match never {},
        };
        Ok(Override {
            key: key.to_string(),
            value,
        })
    }
}
