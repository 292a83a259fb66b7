//! A private PostgreSQL server for tests.
//!
//! [`PgServer::start`] initialises a cluster in a temp dir with the binaries of Debian's
//! `postgresql` package (or `PG_BIN`), runs it on a free loopback port, and stops it and
//! removes the dir when dropped (a failing test unwinds through the drop too). The server
//! refuses to run as root, so under root (CI) it runs as `nobody` through `runuser`.
//!
//! Without a server: [`PgServer::start`] prints one SKIP line naming the test and returns
//! `None`; under `CI` it panics instead, because CI installs the package.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The unprivileged user the server runs as when the tests run as root.
const SERVER_USER: &str = "nobody";
/// The cluster's superuser (trust authentication on loopback only).
const SUPERUSER: &str = "rustflow";

/// A running server; dropped = stopped and removed.
pub struct PgServer {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl PgServer {
    /// Starts a fresh server for `test`, or prints one SKIP line and returns `None` when
    /// the machine has no PostgreSQL server (a panic under `CI`).
    pub fn start(test: &str) -> Option<PgServer> {
        let Some(bin) = find_bin() else {
            let why = "no PostgreSQL server binaries (Debian package `postgresql`, or PG_BIN)";
            if std::env::var_os("CI").is_some() {
                panic!("{test}: {why}; CI installs the package, so this is a failure");
            }
            println!("SKIP {test}: {why}");
            return None;
        };
        Some(PgServer::start_with(&bin).unwrap_or_else(|e| panic!("{test}: {e}")))
    }

    fn start_with(bin: &Path) -> Result<PgServer, String> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rustflow-pg-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut server = PgServer {
            bin: bin.to_path_buf(),
            dir,
            port: free_port()?,
            child: None,
        };
        if as_root() {
            let status = Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(&server.dir)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!(
                    "chown {SERVER_USER} {}: {status}",
                    server.dir.display()
                ));
            }
        }
        let data = server.data_dir();
        let out = server
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--no-sync"])
            .args(["--locale=C"])
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        server.run()?;
        Ok(server)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// `name` from the server's bin dir, as the server's user.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", SERVER_USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// Starts the server process and waits until it accepts connections.
    fn run(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.join("server.log"))
            .map_err(|e| format!("server.log: {e}"))?;
        if as_root() {
            let _ = Command::new("chown")
                .arg(format!("{SERVER_USER}:"))
                .arg(self.dir.join("server.log"))
                .status();
        }
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string()])
            .args(["-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", self.dir.display()))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("postgres: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if postgres::Client::connect(&self.url("postgres"), postgres::NoTls).is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(format!("postgres exited ({status}): {}", self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("postgres not ready after 30 s: {}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{database}?connect_timeout=5",
            self.port
        )
    }

    /// Creates an empty database and returns its URL.
    pub fn database(&self, name: &str) -> String {
        let mut admin = postgres::Client::connect(&self.url("postgres"), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test server: {e}"));
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
        self.url(name)
    }

    /// Stops the server (fast shutdown: open connections are cut), keeping its data.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["stop", "-m", "fast", "-w", "-t", "20"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if child.try_wait().ok().flatten().is_none() {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts the stopped server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.run().unwrap_or_else(|e| panic!("restart: {e}"));
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0\n"))
        .unwrap_or(false)
}

/// `PG_BIN`, else `pg_config --bindir`, else the newest /usr/lib/postgresql/N/bin.
fn find_bin() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("postgres").is_file() && dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        return has_server(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().parse().ok()?;
            Some((n, e.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

/// A loopback port nobody listens on now (also where a test wants a server that is not there).
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_serves_restarts_and_stops() {
        let Some(mut server) = PgServer::start("starts_serves_restarts_and_stops") else {
            return;
        };
        let url = server.database("probe");
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("CREATE TABLE t (x INT); INSERT INTO t VALUES (7)")
            .unwrap();
        server.restart();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let x: i32 = c.query_one("SELECT x FROM t", &[]).unwrap().get(0);
        assert_eq!(x, 7, "data survives a restart");
        let dir = server.dir.clone();
        let port = server.port();
        drop(server);
        assert!(!dir.exists(), "the temp dir is removed");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the server is stopped"
        );
    }
}
