//! A local emulator's process for tests (feature `emulators`): found through an environment
//! variable that `scripts/test` sets, started on a free loopback port, waited for until it
//! listens, and killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running emulator, stopped when dropped.
#[derive(Debug)]
pub(crate) struct EmulatorProcess {
    child: Child,
    pub(crate) port: u16,
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The executable named by `variable`, else `~/.cache/visiobook/<cached>` where the setup
/// scripts install it.
pub(crate) fn executable(variable: &str, cached: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let path = PathBuf::from(home).join(".cache/visiobook").join(cached);
            path.exists().then_some(path)
        })
        .unwrap_or_else(|| {
            panic!("{cached} is not installed: scripts/test installs it ({variable})")
        })
}

impl EmulatorProcess {
    /// Picks a free loopback port, lets `command` take it (silenced), starts it and waits up to
    /// 30 s until the port accepts connections.
    pub(crate) async fn start(what: &str, command: impl FnOnce(u16) -> Command) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = command(port)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("{what} does not start: {error}"));
        let process = Self { child, port };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{what} did not listen within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        process
    }
}
