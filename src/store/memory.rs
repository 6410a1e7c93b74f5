//! Embedded store (to be written).
