//! The real `gatehouse` binary as a child process: a config the harness
//! wrote, moved onto fixed free ports (the binary binds what the file
//! says); stderr collected as it comes; signals sent with `kill`; killed on
//! drop so a failing test leaves nothing behind. Also one-shot commands
//! (`gatehouse sessions …`).
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
/// Bound on anything these helpers wait for.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Runs `gatehouse ARGS` to completion (stdin closed) and returns its output.
pub fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run gatehouse")
}

/// The addresses a config rewritten by [`fix_ports`] listens on.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    pub https: SocketAddr,
    pub admin: SocketAddr,
}

/// Replaces the harness's `127.0.0.1:0` listen addresses in `config` with
/// free ports (bound, then released), since the binary binds what the file
/// says and a test must know where to connect.
pub fn fix_ports(config: &Path) -> Ports {
    let ports = Ports {
        https: free_addr(),
        admin: free_addr(),
    };
    let text = std::fs::read_to_string(config).expect("read proxy.toml");
    let text = text
        .replacen(
            "https = \"127.0.0.1:0\"",
            &format!("https = \"{}\"", ports.https),
            1,
        )
        .replacen(
            "admin = \"127.0.0.1:0\"",
            &format!("admin = \"{}\"", ports.admin),
            1,
        );
    std::fs::write(config, text).expect("write proxy.toml");
    ports
}

/// A free port on 127.0.0.1 (bound, then released: a config needs a
/// literal address).
pub fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
}

/// A running `gatehouse --config PATH`.
pub struct Process {
    child: Child,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    /// Starts the binary with `envs` on top of an environment without
    /// `RUST_LOG` and `GATEHOUSE_LOG_FORMAT`.
    pub fn start(config: &Path, envs: &[(&str, &str)]) -> Process {
        let mut child = Command::new(BIN)
            .args(["--config", config.to_str().expect("UTF-8 path")])
            .env_remove("RUST_LOG")
            .env_remove("GATEHOUSE_LOG_FORMAT")
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gatehouse");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Process {
            child,
            stderr,
            reader: Some(reader),
        }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Sends `signal` (e.g. `"HUP"`, `"TERM"`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Polls until `addr` accepts TCP connections, failing early (with the
    /// log) if the process died.
    pub async fn wait_accepting(&mut self, addr: SocketAddr) {
        let start = Instant::now();
        loop {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "gatehouse exited ({status}) before listening:\n{}",
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{addr} not accepting:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls stderr until it contains `needle` at least `count` times.
    pub async fn wait_log(&self, needle: &str, count: usize) {
        let start = Instant::now();
        while self.stderr().matches(needle).count() < count {
            assert!(
                start.elapsed() < DEADLINE,
                "{needle:?} not logged {count} time(s):\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit code and the
    /// complete stderr. Kills the process and fails if it does not exit.
    pub fn stop(&mut self) -> (Option<i32>, String) {
        self.signal("TERM");
        self.wait_exit(DEADLINE)
    }

    /// Waits up to `limit` for the process to exit; returns its exit code
    /// and its complete stderr. Kills it and fails if it does not exit.
    pub fn wait_exit(&mut self, limit: Duration) -> (Option<i32>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            if start.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "gatehouse still running after {limit:?}:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        (status.code(), self.stderr())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
