#![allow(unused)]
pub fn hash_password(p: &str) -> String {
    todo!()
}
