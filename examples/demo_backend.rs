//! A stand-in for "your application": a plain-HTTP server on
//! 127.0.0.1:3000 that shows the identity headers gatehouse sends it.
//!
//! Run it with `cargo run --example demo_backend`, start gatehouse, and
//! browse to https://localhost:8443/.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:3000").await?;
    println!("demo backend on http://127.0.0.1:3000");
    loop {
        let (tcp, _) = listener.accept().await?;
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service_fn(page))
                .await;
        });
    }
}

async fn page(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(escape)
            .unwrap_or_else(|| "(none)".into())
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Demo app</title>\
         <body style=\"font-family:system-ui;max-width:40rem;margin:3rem auto\">\
         <h1>Hello, {user}</h1><p>This page is served by the demo backend behind gatehouse.</p>\
         <ul><li>X-Forwarded-User: {user}</li><li>X-Forwarded-Email: {email}</li>\
         <li>X-Forwarded-Groups: {groups}</li><li>Path: {path}</li></ul>\
         <form method=\"post\" action=\"/.gatehouse/logout\"><button>Sign out</button></form>\
         </body></html>",
        user = header("x-forwarded-user"),
        email = header("x-forwarded-email"),
        groups = header("x-forwarded-groups"),
        path = escape(req.uri().path()),
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(response)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
