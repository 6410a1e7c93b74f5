//! A real `redis-server` for tests: started on an ephemeral port (or a
//! unix socket) with persistence off, ready when it answers `PING`, killed
//! on drop. If it dies, the panic message carries its log.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server gets to answer `PING`.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// Attempts at finding a port nobody else grabbed meanwhile.
const PORT_ATTEMPTS: usize = 5;

/// Where the server listens.
#[derive(Debug, Clone)]
enum Listen {
    Tcp(u16),
    Unix(PathBuf),
}

/// One `redis-server` process owned by a test.
pub struct RedisServer {
    listen: Listen,
    /// Private folder for the log, the socket and the (unused) dump dir.
    dir: PathBuf,
    /// Arguments before the defaults (a config file must come first).
    leading: Vec<String>,
    /// Arguments beyond the defaults (cluster mode, replication).
    extra: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// A server on a free ephemeral port of 127.0.0.1.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server on a free ephemeral port with `extra` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let mut server = Self::unstarted(Listen::Tcp(free_port()));
            server.extra = extra.iter().map(|a| a.to_string()).collect();
            match server.spawn() {
                Ok(()) => return server,
                // Someone took the port between our probe and the bind: try another.
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("redis-server did not start:\n{log}"),
            }
        }
        panic!("redis-server found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// A server on `port`, e.g. one a store was pointed at before any
    /// server existed.
    pub fn start_on(port: u16) -> Self {
        let mut server = Self::unstarted(Listen::Tcp(port));
        if let Err(log) = server.spawn() {
            panic!("redis-server did not start on port {port}:\n{log}");
        }
        server
    }

    /// A Redis Sentinel on a free port that monitors the master on
    /// `master_port` as `mymaster` (quorum 1), and calls it down after
    /// 500 ms of silence, so a failover takes a few seconds.
    pub fn start_sentinel(master_port: u16) -> Self {
        for _ in 0..PORT_ATTEMPTS {
            let mut server = Self::unstarted(Listen::Tcp(free_port()));
            let conf = server.dir.join("sentinel.conf");
            std::fs::write(
                &conf,
                format!(
                    "sentinel monitor mymaster 127.0.0.1 {master_port} 1\n\
                     sentinel down-after-milliseconds mymaster 500\n\
                     sentinel failover-timeout mymaster 5000\n"
                ),
            )
            .expect("write sentinel.conf");
            server.leading = vec![conf.display().to_string()];
            server.extra = vec!["--sentinel".into()];
            match server.spawn() {
                Ok(()) => return server,
                Err(log) if log.contains("Address already in use") => continue,
                Err(log) => panic!("redis-server --sentinel did not start:\n{log}"),
            }
        }
        panic!("redis-server --sentinel found no free port in {PORT_ATTEMPTS} attempts");
    }

    /// A server listening only on a unix socket (`--port 0`).
    pub fn start_unix() -> Self {
        let dir = private_dir();
        let mut server = RedisServer {
            listen: Listen::Unix(dir.join("redis.sock")),
            dir,
            leading: Vec::new(),
            extra: Vec::new(),
            child: None,
        };
        if let Err(log) = server.spawn() {
            panic!("redis-server did not start on a unix socket:\n{log}");
        }
        server
    }

    /// The URL a store uses to reach this server.
    pub fn url(&self) -> String {
        match &self.listen {
            Listen::Tcp(port) => format!("redis://127.0.0.1:{port}/0"),
            Listen::Unix(path) => format!("redis+unix://{}", path.display()),
        }
    }

    /// The TCP port (panics for a unix-socket server).
    pub fn port(&self) -> u16 {
        match self.listen {
            Listen::Tcp(port) => port,
            Listen::Unix(_) => panic!("a unix-socket redis-server has no port"),
        }
    }

    /// Kills the server (SIGKILL: no goodbye to clients) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again at the same address, empty (nothing is saved).
    pub fn restart(&mut self) {
        self.kill();
        if let Err(log) = self.spawn() {
            panic!("redis-server did not restart at {}:\n{log}", self.url());
        }
    }

    /// Runs `redis-cli` against this server; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        match &self.listen {
            Listen::Tcp(port) => cmd.arg("-p").arg(port.to_string()),
            Listen::Unix(path) => cmd.arg("-s").arg(path),
        };
        let out = match cmd.args(args).stdin(Stdio::null()).output() {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-cli not found: install it with apt-get install redis-server")
            }
            Err(e) => panic!("cannot run redis-cli: {e}"),
        };
        assert!(
            out.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn unstarted(listen: Listen) -> Self {
        RedisServer {
            listen,
            dir: private_dir(),
            leading: Vec::new(),
            extra: Vec::new(),
            child: None,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    /// Starts the process and waits until it answers `PING`; on failure
    /// returns its log.
    fn spawn(&mut self) -> Result<(), String> {
        let mut cmd = Command::new("redis-server");
        cmd.args(&self.leading);
        cmd.args(["--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.log_path());
        match &self.listen {
            Listen::Tcp(port) => cmd.arg("--port").arg(port.to_string()),
            Listen::Unix(path) => cmd.args(["--port", "0", "--unixsocket"]).arg(path),
        };
        cmd.args(&self.extra);
        let child = match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!("redis-server not found: install it with apt-get install redis-server")
            }
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        self.child = Some(child);
        let deadline = Instant::now() + START_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    self.child = None;
                    return Err(format!("exited with {status}\n{}", self.log()));
                }
            }
            if answers_ping(&self.listen) {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!("no PONG within {START_DEADLINE:?}\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port that was free a moment ago: bind port 0, note it, release it.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// True once the server answers `PING` with `+PONG`.
fn answers_ping(listen: &Listen) -> bool {
    fn ping(mut stream: impl Read + Write) -> bool {
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
    let timeout = Some(Duration::from_millis(500));
    match listen {
        Listen::Tcp(port) => TcpStream::connect(("127.0.0.1", *port))
            .and_then(|s| s.set_read_timeout(timeout).map(|()| s))
            .is_ok_and(ping),
        Listen::Unix(path) => UnixStream::connect(path)
            .and_then(|s| s.set_read_timeout(timeout).map(|()| s))
            .is_ok_and(ping),
    }
}

/// A fresh folder under the system temp dir, unique to this process and call.
fn private_dir() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "gatehouse-redis-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a temp dir for redis-server");
    dir
}

/// Runs `redis-cli` with `args` (no server selected); returns its stdout.
fn redis_cli(args: &[&str]) -> String {
    let out = match Command::new("redis-cli")
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("redis-cli not found: install it with apt-get install redis-server")
        }
        Err(e) => panic!("cannot run redis-cli: {e}"),
    };
    assert!(
        out.status.success(),
        "redis-cli {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A real 3-master Redis Cluster (no replicas): three `redis-server
/// --cluster-enabled yes` on ephemeral ports joined by `redis-cli
/// --cluster create`, ready once every node says `cluster_state:ok`.
/// Killed on drop, like its servers.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> Self {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The bus port defaults to port + 10000, which overflows
                // for high ephemeral ports: pick one explicitly.
                let bus = free_port().to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    &bus,
                ])
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis_cli(&args);
        let cluster = RedisCluster { nodes };
        let deadline = Instant::now() + START_DEADLINE;
        while !cluster.is_ok() {
            if Instant::now() > deadline {
                let logs: Vec<String> = cluster.nodes.iter().map(RedisServer::log).collect();
                panic!(
                    "the cluster did not reach cluster_state:ok within {START_DEADLINE:?}\n{}",
                    logs.join("\n----\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        cluster
    }

    /// Every node says `cluster_state:ok` and knows all three masters.
    fn is_ok(&self) -> bool {
        self.nodes.iter().all(|n| {
            let info = n.cli(&["CLUSTER", "INFO"]);
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
        })
    }

    /// Seed URLs for `[store] cluster`.
    pub fn seeds(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port()))
            .collect()
    }

    /// `cluster = [...]` for a `[store]` table.
    pub fn store_toml(&self) -> String {
        let seeds: Vec<String> = self.seeds().iter().map(|s| format!("\"{s}\"")).collect();
        format!("cluster = [{}]\n", seeds.join(", "))
    }

    /// Every key on every master.
    pub fn keys(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|n| {
                n.cli(&["--scan"])
                    .lines()
                    .filter(|k| !k.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .collect()
    }
}

/// A master watched by one Redis Sentinel (`mymaster`, quorum 1), and
/// optionally one replica the sentinel can promote. Killed on drop.
pub struct RedisSentinel {
    pub master: RedisServer,
    pub replica: Option<RedisServer>,
    pub sentinel: RedisServer,
}

impl RedisSentinel {
    /// A master and a sentinel.
    pub fn start() -> Self {
        let master = RedisServer::start();
        let sentinel = RedisServer::start_sentinel(master.port());
        let watched = RedisSentinel {
            master,
            replica: None,
            sentinel,
        };
        watched.wait_until(
            |s| s.master_port() == Some(s.master.port()),
            "names the master",
        );
        watched
    }

    /// A master, a replica in sync with it, and a sentinel that knows both,
    /// so killing the master makes the sentinel promote the replica.
    pub fn start_with_replica() -> Self {
        let master = RedisServer::start();
        let port = master.port().to_string();
        let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &port]);
        let deadline = Instant::now() + START_DEADLINE;
        while !replica
            .cli(&["INFO", "replication"])
            .contains("master_link_status:up")
        {
            assert!(
                Instant::now() < deadline,
                "the replica never synced:\n{}",
                replica.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Started after the replica synced: its first INFO of the master
        // already lists the replica.
        let sentinel = RedisServer::start_sentinel(master.port());
        let watched = RedisSentinel {
            master,
            replica: Some(replica),
            sentinel,
        };
        watched.wait_until(
            |s| {
                s.sentinel
                    .cli(&["SENTINEL", "REPLICAS", "mymaster"])
                    .contains("127.0.0.1")
            },
            "knows the replica",
        );
        watched
    }

    /// The master's port as the sentinel reports it now.
    pub fn master_port(&self) -> Option<u16> {
        let out = self
            .sentinel
            .cli(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster"]);
        out.lines().nth(1).and_then(|p| p.trim().parse().ok())
    }

    fn wait_until(&self, done: impl Fn(&Self) -> bool, what: &str) {
        let deadline = Instant::now() + START_DEADLINE;
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "the sentinel never {what}:\n{}",
                self.sentinel.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The sentinel's address, for `[store] sentinels`.
    pub fn sentinel_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.sentinel.port())
    }

    /// `sentinels = [...]` and `sentinel_master` for a `[store]` table.
    pub fn store_toml(&self) -> String {
        format!(
            "sentinels = [\"{}\"]\nsentinel_master = \"mymaster\"\n",
            self.sentinel_url()
        )
    }
}
