//! Config errors (to be written).
/// A config problem, naming file, key and reason.
#[derive(Debug, thiserror::Error)]
#[error("config error")]
pub struct ConfigError;
