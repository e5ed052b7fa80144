//! Child processes that cannot outlive their test.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A free loopback port: bound, read, released. The tiny window before the
/// caller binds it again is acceptable for test servers that cannot take a
/// listener (such as `redis-server`); callers retry on a clash.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind a loopback port")
}

/// A running child, killed on drop.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    addrs: Vec<SocketAddr>,
}

impl ChildProcess {
    /// Starts `program args…` and waits (up to 20 s) for a stdout line
    /// containing `http://ADDR`: the addresses it listens on, in order.
    pub fn spawn_server(program: &std::path::Path, args: &[&str]) -> ChildProcess {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            while let Some(Ok(line)) = lines.next() {
                let addrs: Vec<String> = line
                    .split("http://")
                    .skip(1)
                    .map(|rest| {
                        rest.split(|c: char| c.is_whitespace() || c == ')')
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .collect();
                if !addrs.is_empty() {
                    let _ = tx.send(addrs);
                }
            }
        });
        let mut process = ChildProcess {
            child,
            addrs: Vec::new(),
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(addrs) => {
                process.addrs = addrs
                    .iter()
                    .map(|a| a.parse().expect("a socket address"))
                    .collect();
            }
            Err(_) => {
                let status = process.child.try_wait().ok().flatten();
                panic!(
                    "{} {args:?} did not report its address (exit: {status:?})",
                    program.display()
                );
            }
        }
        process
    }

    /// The first address the server reported.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server reported (a proxy: clients, then admin).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits up to `limit` for the exit; returns the exit
    /// code, or None if it had to be killed.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
