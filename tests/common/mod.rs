//! The test harness: real backends and real TLS clients on ephemeral ports.
#![allow(dead_code)]

pub mod backend;
pub mod client;
