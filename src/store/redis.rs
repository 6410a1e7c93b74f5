//! Redis store (to be written).
