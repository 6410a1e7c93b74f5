//! The serde shape of proxy.toml (to be written).
use super::{Config, ConfigError};
use std::path::Path;
pub(super) fn load(_path: &Path) -> Result<Config, ConfigError> {
    todo!()
}
