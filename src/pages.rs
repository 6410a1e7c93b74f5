//! STUB — replaced by the pages branch.
#![allow(unused)]
pub fn error_page(app_name: &str, status: http::StatusCode, message: &str) -> String {
    todo!()
}
pub fn error_message(status: http::StatusCode) -> &'static str {
    todo!()
}
