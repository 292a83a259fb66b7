//! A small Chrome DevTools Protocol client for tests (and benchmarks, through `#[path]`): it
//! launches a headless Chromium, opens a page, navigates, evaluates JavaScript, waits for a
//! condition in the page and takes screenshots. The browser is Debian's `chromium`, or the
//! binary `RUSTFLOW_CHROMIUM` names.
#![allow(dead_code)]
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// How long Chromium may take to start listening (a loaded 2-core machine is slow).
pub const LAUNCH_DEADLINE: Duration = Duration::from_secs(20);
/// How long one protocol command may take to be answered.
const CALL_DEADLINE: Duration = Duration::from_secs(30);
/// How often [`Page::wait_until`] asks the page again.
const POLL: Duration = Duration::from_millis(20);
/// How long one socket read blocks before the deadline is looked at again.
const READ_SLICE: Duration = Duration::from_millis(50);
/// The longest a websocket handshake may take on a loaded machine.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(20);

/// The Chromium to run: `RUSTFLOW_CHROMIUM` when set (and there), else `/usr/bin/chromium`,
/// else `chromium` on the PATH.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("RUSTFLOW_CHROMIUM") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let debian = Path::new("/usr/bin/chromium");
    if debian.is_file() {
        return Some(debian.to_path_buf());
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join("chromium"))
        .find(|path| path.is_file())
}

/// A headless Chromium for the test named `test`; without one, prints the one skip line and
/// returns `None`, or fails with that line when `RUSTFLOW_REQUIRE_CHROMIUM=1` (so CI cannot
/// pass by skipping).
pub fn launch_or_skip(test: &str) -> Option<Browser> {
    let Some(chromium) = chromium_path() else {
        let message = format!(
            "SKIP {test}: no chromium (install Debian's chromium, or set RUSTFLOW_CHROMIUM)"
        );
        if std::env::var("RUSTFLOW_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
            panic!("{message}");
        }
        println!("{message}");
        return None;
    };
    Some(Browser::launch(&chromium).unwrap_or_else(|e| panic!("{e}")))
}

/// A running headless Chromium with a profile of its own; ended (and the profile removed)
/// when dropped.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    log: PathBuf,
    /// The DevTools HTTP port and the browser target's websocket path.
    port: u16,
    browser_path: String,
}

impl Browser {
    /// Starts `chromium` headless on a fresh empty profile with DevTools on a free port, and
    /// waits (up to [`LAUNCH_DEADLINE`]) for it to say which port.
    pub fn launch(chromium: &Path) -> Result<Browser, String> {
        static LAUNCHES: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "rustflow-chromium-{}-{}",
            std::process::id(),
            LAUNCHES.fetch_add(1, Ordering::Relaxed)
        );
        let profile = std::env::temp_dir().join(&name);
        let log = std::env::temp_dir().join(format!("{name}.log"));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)
            .map_err(|e| format!("chromium profile {}: {e}", profile.display()))?;
        let log_file = std::fs::File::create(&log)
            .map_err(|e| format!("chromium log {}: {e}", log.display()))?;
        let child = Command::new(chromium)
            // As root Chromium needs --no-sandbox; the network here is closed, so everything
            // that would reach out (updates, sync, QUIC probes) is off or it misbehaves.
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot run chromium {}: {e}", chromium.display()))?;
        let mut browser = Browser {
            child,
            profile,
            log,
            port: 0,
            browser_path: String::new(),
        };
        let started = Instant::now();
        let active_port = browser.profile.join("DevToolsActivePort");
        loop {
            // Two lines, once written whole: the port, then the browser target's path.
            if let Ok(text) = std::fs::read_to_string(&active_port) {
                let mut lines = text.lines();
                if let (Some(Ok(port)), Some(path)) =
                    (lines.next().map(|l| l.trim().parse::<u16>()), lines.next())
                {
                    browser.port = port;
                    browser.browser_path = path.trim().to_string();
                    return Ok(browser);
                }
            }
            if let Ok(Some(status)) = browser.child.try_wait() {
                return Err(format!(
                    "chromium {} ended ({status}) before listening:\n{}",
                    chromium.display(),
                    browser.log_tail()
                ));
            }
            if started.elapsed() > LAUNCH_DEADLINE {
                return Err(format!(
                    "chromium {} wrote no {} within {LAUNCH_DEADLINE:?}:\n{}",
                    chromium.display(),
                    active_port.display(),
                    browser.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines Chromium printed (for a failure message).
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A request to the DevTools HTTP endpoint; its JSON answer. (HTTP/1.1: Chromium refuses
    /// 1.0, and keeps the connection open, so the body is read by its length.)
    fn http(&self, method: &str, path: &str) -> Result<Value, String> {
        let address = format!("127.0.0.1:{}", self.port);
        let failed = |e: std::io::Error| format!("DevTools {method} {path}: {e}");
        let mut stream = TcpStream::connect(&address).map_err(failed)?;
        stream
            .set_read_timeout(Some(CALL_DEADLINE))
            .map_err(failed)?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .map_err(failed)?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        reader.read_line(&mut status_line).map_err(failed)?;
        let mut length = None;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).map_err(failed)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse::<usize>().ok();
            }
        }
        let length = length.ok_or_else(|| {
            format!("DevTools {method} {path}: no Content-Length in {status_line:?}")
        })?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).map_err(failed)?;
        let body = String::from_utf8_lossy(&body);
        if status_line.split_whitespace().nth(1) != Some("200") {
            return Err(format!("DevTools {method} {path}: {status_line}{body}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("DevTools {method} {path}: {e}: {body}"))
    }

    /// A new tab showing `about:blank`, with the page, runtime and network events on.
    pub fn new_page(&self) -> Result<Page, String> {
        let target = self.http("PUT", "/json/new?about:blank")?;
        let url = target["webSocketDebuggerUrl"]
            .as_str()
            .ok_or_else(|| format!("DevTools /json/new: no webSocketDebuggerUrl in {target}"))?;
        let mut page = Page::connect(url, self.port)?;
        page.call("Page.enable", json!({}))?;
        page.call("Network.enable", json!({}))?;
        Ok(page)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Browser.close ends Chromium with all its helper processes; a kill is the fallback.
        if !self.browser_path.is_empty() {
            let url = format!("ws://127.0.0.1:{}{}", self.port, self.browser_path);
            if let Ok(mut browser) = Page::connect(&url, self.port) {
                let _ = browser.send("Browser.close", json!({}));
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// One DevTools target (a tab) over its websocket. Every event received is kept, in order, for
/// [`Page::events`].
pub struct Page {
    socket: WebSocket<TcpStream>,
    next_id: u64,
    events: Vec<Value>,
}

impl Page {
    fn connect(url: &str, port: u16) -> Result<Page, String> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .map_err(|e| format!("DevTools websocket {url}: cannot connect: {e}"))?;
        // The handshake may wait for a busy Chromium; a timed-out read would end it.
        stream
            .set_read_timeout(Some(HANDSHAKE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let (socket, _) = tungstenite::client(url, stream)
            .map_err(|e| format!("DevTools websocket {url}: {e}"))?;
        // Then reads block for a slice only, so deadlines are kept (tungstenite keeps a
        // frame read in part across a timed-out read).
        socket
            .get_ref()
            .set_read_timeout(Some(READ_SLICE))
            .map_err(|e| e.to_string())?;
        Ok(Page {
            socket,
            next_id: 1,
            events: Vec::new(),
        })
    }

    /// Sends a command without waiting for its answer; its id.
    fn send(&mut self, method: &str, params: Value) -> Result<u64, String> {
        let id = self.next_id;
        self.next_id += 1;
        let text = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::text(text))
            .map_err(|e| format!("DevTools {method}: cannot send: {e}"))?;
        Ok(id)
    }

    /// The next message, or `None` when none came by `deadline`.
    fn receive(&mut self, deadline: Instant) -> Result<Option<Value>, String> {
        loop {
            match self.socket.read() {
                Ok(Message::Text(text)) => {
                    return serde_json::from_str(text.as_str())
                        .map(Some)
                        .map_err(|e| format!("DevTools sent no JSON ({e}): {text}"));
                }
                Ok(_) => {}
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    if Instant::now() >= deadline {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(format!("DevTools websocket: {e}")),
            }
        }
    }

    /// Keeps an event; a JavaScript dialog is recorded and then dismissed, since it would
    /// stop the page (and every later command) until answered.
    fn keep_event(&mut self, event: Value) -> Result<(), String> {
        let dialog = event["method"] == "Page.javascriptDialogOpening";
        self.events.push(event);
        if dialog {
            self.send("Page.handleJavaScriptDialog", json!({"accept": false}))?;
        }
        Ok(())
    }

    /// Runs a command and returns its result; events that arrive meanwhile are kept.
    pub fn call(&mut self, method: &str, params: Value) -> Result<Value, String> {
        let id = self.send(method, params)?;
        let deadline = Instant::now() + CALL_DEADLINE;
        loop {
            let Some(mut message) = self.receive(deadline)? else {
                return Err(format!(
                    "DevTools {method}: no answer within {CALL_DEADLINE:?}"
                ));
            };
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    return Err(format!("DevTools {method}: {error}"));
                }
                return Ok(message["result"].take());
            }
            if message.get("method").is_some() {
                self.keep_event(message)?;
            }
        }
    }

    /// Takes the events that arrived up to now (a round trip flushes those already sent).
    fn flush_events(&mut self) -> Result<(), String> {
        self.call("Runtime.evaluate", json!({"expression": "0"}))
            .map(|_| ())
    }

    /// The parameters of the events named `method` received so far.
    pub fn events(&mut self, method: &str) -> Result<Vec<Value>, String> {
        self.flush_events()?;
        Ok(self
            .events
            .iter()
            .filter(|event| event["method"] == method)
            .map(|event| event["params"].clone())
            .collect())
    }

    /// Waits up to `deadline` for an event named `method` whose parameters `matches`; them.
    pub fn wait_for_event(
        &mut self,
        method: &str,
        matches: impl Fn(&Value) -> bool,
        deadline: Duration,
    ) -> Result<Value, String> {
        let started = Instant::now();
        loop {
            if let Some(found) = self
                .events
                .iter()
                .find(|event| event["method"] == method && matches(&event["params"]))
            {
                return Ok(found["params"].clone());
            }
            let Some(message) = self.receive(started + deadline)? else {
                return Err(format!("no matching {method} event within {deadline:?}"));
            };
            if message.get("method").is_some() {
                self.keep_event(message)?;
            }
        }
    }

    /// Opens `url` in this tab (returns once the navigation is under way).
    pub fn navigate(&mut self, url: &str) -> Result<(), String> {
        let result = self.call("Page.navigate", json!({"url": url}))?;
        match result.get("errorText") {
            Some(error) => Err(format!("navigating to {url}: {error}")),
            None => Ok(()),
        }
    }

    /// Evaluates `expression` in the page (awaiting it if it is a promise); its value as JSON.
    pub fn evaluate(&mut self, expression: &str) -> Result<Value, String> {
        let mut result = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            return Err(format!("{expression}: {exception}"));
        }
        Ok(result["result"]["value"].take())
    }

    /// Asks the page every [`POLL`] whether `condition` (JavaScript) is true, up to
    /// `deadline`; how long it took until the page said so.
    pub fn wait_until(&mut self, condition: &str, deadline: Duration) -> Result<Duration, String> {
        let started = Instant::now();
        loop {
            if self.evaluate(condition)? == Value::Bool(true) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > deadline {
                return Err(format!("still not true after {deadline:?}: {condition}"));
            }
            std::thread::sleep(POLL);
        }
    }

    /// Lays the page out at `width`×`height` CSS pixels (`mobile` as a phone would) and saves
    /// what shows as a PNG at `path` (its folder made if needed).
    pub fn screenshot(
        &mut self,
        width: u32,
        height: u32,
        mobile: bool,
        path: &Path,
    ) -> Result<(), String> {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile}),
        )?;
        // Two frames: the new layout is painted before the capture.
        self.evaluate(
            "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))",
        )?;
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}))?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| format!("Page.captureScreenshot: no data in {shot}"))?;
        let png = decode_base64(data)?;
        let size = png_size(&png)?;
        if size != (width, height) {
            return Err(format!(
                "the screenshot is {}x{}, not {width}x{height}",
                size.0, size.1
            ));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        std::fs::write(path, png).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// Standard base64 (with or without `=` padding) to bytes.
pub fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0u32);
    for (at, byte) in text.bytes().enumerate() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            other => return Err(format!("base64: byte {other:#04x} at {at}")),
        };
        bits = (bits << 6) | u32::from(value);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push(((bits >> count) & 0xff) as u8);
            bits &= (1 << count) - 1;
        }
    }
    Ok(bytes)
}

/// The width and height a PNG's header gives.
pub fn png_size(png: &[u8]) -> Result<(u32, u32), String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if png.len() < 24 || !png.starts_with(SIGNATURE) || &png[12..16] != b"IHDR" {
        return Err("not a PNG (no signature and IHDR header)".to_string());
    }
    let number = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    Ok((number(16), number(20)))
}

#[test]
fn base64_decodes_with_and_without_padding() {
    assert_eq!(decode_base64("aGVsbG8gd29ybGQ=").unwrap(), b"hello world");
    assert_eq!(decode_base64("aGVsbG8gd29ybGQ").unwrap(), b"hello world");
    assert_eq!(decode_base64("/+8A").unwrap(), [0xff, 0xef, 0x00]);
    assert!(decode_base64("a b").is_err());
}
