//! Shared helpers of the CLI tests: run the built `rustflow` binary, start its wallboard, find
//! the example flows and the shared corpus.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// What a `rustflow` run printed and returned.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `rustflow ARGS` from the repository root.
pub fn rustflow(args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_rustflow"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("the rustflow binary runs");
    Output {
        status: output.status.code().expect("rustflow exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

pub fn examples_dir() -> PathBuf {
    repo_root().join("examples/flows")
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `../shared/corpus` next to the repository, when it is there.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = repo_root().parent()?.join("shared/corpus");
    dir.is_dir().then_some(dir)
}

/// A fresh, empty scratch directory for one test (named per test and process, so tests
/// running in parallel never share one).
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rustflow-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running board, ended when dropped.
pub struct Board {
    child: Child,
    /// `ADDR:PORT` it listens on.
    pub address: String,
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `rustflow cc --store STORE wallboard --listen 127.0.0.1:0 EXTRA…` and reads where it
/// listens from its first line.
pub fn start_board(store: &str, extra: &[&str]) -> Board {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rustflow"))
        .args([
            "cc",
            "--store",
            store,
            "wallboard",
            "--listen",
            "127.0.0.1:0",
        ])
        .args(extra)
        .current_dir(repo_root())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the rustflow binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .strip_prefix("wallboard listening on http://")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or_else(|| panic!("the board prints where it listens, got {line:?}"))
        .to_string();
    Board { child, address }
}

/// Sends `GET path` (HTTP/1.0: the body ends when the connection does) with extra header
/// lines; the connection after the request.
pub fn get(board: &Board, path: &str, headers: &str) -> BufReader<TcpStream> {
    let mut stream = TcpStream::connect(&board.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {}\r\n{headers}\r\n",
        board.address
    )
    .unwrap();
    BufReader::new(stream)
}

/// The status code and header lines of a response.
pub fn read_head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<String>) {
    let mut status_line = String::new();
    reader.read_line(&mut status_line).unwrap();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            return (status, headers);
        }
        headers.push(line.trim().to_lowercase());
    }
}

/// The data of the next server-sent event (its `data:` lines joined).
pub fn next_event(reader: &mut BufReader<TcpStream>) -> String {
    let mut data = Vec::new();
    loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "the feed ended");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() && !data.is_empty() {
            return data.join("\n");
        }
        if let Some(rest) = line.strip_prefix("data:") {
            data.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        }
    }
}
