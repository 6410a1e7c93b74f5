//! STUB — replaced by the config branch.
#![allow(unused)]
pub fn server_config(
    tls: &crate::config::Tls,
) -> Result<std::sync::Arc<rustls::ServerConfig>, crate::config::ConfigError> {
    todo!()
}
