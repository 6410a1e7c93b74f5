//! STUB — replaced by the rules branch.
#![allow(unused)]
pub struct NormalizedPath {
    pub forward: String,
    pub matching: String,
}
#[derive(Debug)]
pub struct PathError;
pub fn normalize_path(raw: &str) -> Result<NormalizedPath, PathError> {
    todo!()
}
