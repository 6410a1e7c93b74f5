//! HTTP/1.1 on the wire, for tests that must control the exact bytes a
//! client sends (paths reqwest would normalize, hop-by-hop headers, a
//! `Host` of our choosing) or keep one connection open across requests.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

use super::client::{raw_request, tls_connect};

/// One parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Lower-case names, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Reply {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// `GET target` with `Host: host`, the `extra` header lines (each ending in
/// `\r\n`) and `Connection: close`, as bytes.
pub fn get(target: &str, host: &str, extra: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
        .into_bytes()
}

/// Sends `request` on a fresh TLS connection (ALPN `http/1.1`) to the
/// proxy at `addr`, reads until the proxy closes, and parses the answer.
/// Panics with the raw bytes when they are not one HTTP/1.1 response.
pub async fn send(addr: SocketAddr, request: &[u8]) -> Reply {
    let mut tls = tls_connect(addr, &[b"http/1.1"]).await;
    let bytes = raw_request(&mut tls, request).await;
    parse(&bytes).unwrap_or_else(|| {
        panic!(
            "not one complete HTTP/1.1 response: {:?}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// Parses one complete response from the start of `bytes`; `None` while
/// incomplete (or when it is no response at all).
pub fn parse(bytes: &[u8]) -> Option<Reply> {
    parse_with_len(bytes).map(|(reply, _)| reply)
}

/// Reads exactly one response from a kept-alive connection. `None` when
/// the connection ends (EOF, error) before a whole response arrived, or
/// after `within`.
pub async fn read_one<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Option<Reply> {
    let deadline = Instant::now() + within;
    let mut bytes = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some((reply, _)) = parse_with_len(&bytes) {
            return Some(reply);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n @ 1..)) => bytes.extend_from_slice(&buf[..n]),
            _ => return None,
        }
    }
}

/// What a read on an otherwise quiet connection found.
#[derive(Debug, PartialEq, Eq)]
pub enum Quiet {
    /// Nothing arrived and the connection stayed open for the whole wait.
    StillOpen,
    /// The peer closed it (EOF, reset, or TLS close), after this long.
    Closed(Duration),
    /// Bytes arrived.
    Data(Vec<u8>),
}

/// Waits up to `within` for the peer to close a connection it has nothing
/// more to say on.
pub async fn wait_for_close<S: AsyncRead + Unpin>(stream: &mut S, within: Duration) -> Quiet {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Err(_) => Quiet::StillOpen,
        Ok(Ok(0)) | Ok(Err(_)) => Quiet::Closed(start.elapsed()),
        Ok(Ok(n)) => Quiet::Data(buf[..n].to_vec()),
    }
}

fn parse_with_len(bytes: &[u8]) -> Option<(Reply, usize)> {
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&bytes[..head_end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let headers: Vec<(String, String)> = lines
        .filter(|line| !line.is_empty())
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let rest = &bytes[head_end..];
    let no_body = status == 101 || status == 204 || status == 304 || (100..200).contains(&status);
    let (body, used) = if no_body {
        (Vec::new(), 0)
    } else if find("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = find("content-length") {
        let length: usize = length.parse().ok()?;
        (rest.get(..length)?.to_vec(), length)
    } else {
        // Delimited by the close: whatever arrived.
        (rest.to_vec(), rest.len())
    };
    Some((
        Reply {
            status,
            headers,
            body,
        },
        head_end + used,
    ))
}

fn dechunk(mut rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    let total = rest.len();
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // No trailers expected: the final CRLF.
            rest = rest.strip_prefix(b"\r\n")?;
            return Some((body, total - rest.len()));
        }
        body.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size..)?.strip_prefix(b"\r\n")?;
    }
}
