//! A real `redis-server` for tests and benchmarks: no persistence, loopback
//! only, a free port, stopped on drop. With TLS, a CA and a server
//! certificate made for the test (rcgen), removed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// A running `redis-server`.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// Extra arguments (cluster mode, TLS).
    extra: Vec<String>,
    /// The TLS listener, when started with [`RedisServer::start_tls`].
    tls: Option<Tls>,
}

/// A TLS port beside the plain one, and the files it was started with.
#[derive(Debug)]
struct Tls {
    port: u16,
    dir: std::path::PathBuf,
    ca_pem: String,
}

impl RedisServer {
    /// Whether `redis-server` can be found (`AUTHSCALE_REDIS_SERVER` or PATH).
    pub fn available() -> bool {
        Command::new(binary())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts a server on a free port and waits until it answers PING.
    /// Panics with what to do when `redis-server` is not installed.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra arguments (for instance cluster mode).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        assert!(
            RedisServer::available(),
            "redis-server not found: run scripts/setup.sh (Debian/Ubuntu), \
             or install Redis and put redis-server on PATH, or set AUTHSCALE_REDIS_SERVER"
        );
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                tls: None,
            };
            if server.launch() {
                return server;
            }
        }
        panic!("redis-server did not start after 5 attempts");
    }

    /// Starts a server that also speaks TLS on a second port
    /// ([`RedisServer::tls_url`]), with a certificate for `127.0.0.1` and
    /// `localhost` signed by a CA made here ([`RedisServer::ca_pem`]). The
    /// plain port stays for the test's own commands. Panics when this
    /// `redis-server` was built without TLS.
    pub fn start_tls() -> RedisServer {
        assert!(
            RedisServer::available(),
            "redis-server not found: run scripts/setup.sh"
        );
        let dir = std::env::temp_dir().join(format!(
            "authscale-redis-tls-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("TLS folder");
        let (ca_pem, cert_pem, key_pem) = server_certificate();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).expect("write a TLS file");
            path.to_str().expect("utf-8 path").to_owned()
        };
        let ca_file = file("ca.pem", &ca_pem);
        let cert_file = file("server.pem", &cert_pem);
        let key_file = file("server.key", &key_pem);
        for _ in 0..5 {
            let tls_port = free_port();
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                extra: vec![
                    "--tls-port".into(),
                    tls_port.to_string(),
                    "--tls-cert-file".into(),
                    cert_file.clone(),
                    "--tls-key-file".into(),
                    key_file.clone(),
                    "--tls-ca-cert-file".into(),
                    ca_file.clone(),
                    "--tls-auth-clients".into(),
                    "no".into(),
                ],
                tls: None,
            };
            if server.launch() {
                server.tls = Some(Tls {
                    port: tls_port,
                    dir,
                    ca_pem,
                });
                return server;
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "redis-server did not start with --tls-port after 5 attempts \
             (is it built with TLS? `redis-server --tls-port 0` must be accepted)"
        );
    }

    /// `rediss://127.0.0.1:TLS_PORT` of a server from [`RedisServer::start_tls`].
    pub fn tls_url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.tls().port)
    }

    /// The PEM certificate of the CA that signed the TLS certificate.
    pub fn ca_pem(&self) -> &[u8] {
        self.tls().ca_pem.as_bytes()
    }

    /// Where the CA certificate is, for a node's `--redis-ca-file`.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.tls().dir.join("ca.pem")
    }

    fn tls(&self) -> &Tls {
        self.tls
            .as_ref()
            .expect("a TLS server: start it with RedisServer::start_tls")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (SIGKILL: an abrupt outage, as a crash would be).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty: no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.launch() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs one command and returns the reply as text (bulk, simple or
    /// integer replies; errors are returned prefixed with `-`).
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream
            .write_all(request.as_bytes())
            .expect("write to redis");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).expect("read from redis");
        let line = line.trim_end();
        match line.as_bytes().first() {
            Some(b'$') => {
                let len: i64 = line[1..].parse().unwrap_or(-1);
                if len < 0 {
                    return String::new();
                }
                let mut body = vec![0u8; len as usize + 2];
                reader.read_exact(&mut body).expect("read bulk reply");
                body.truncate(len as usize);
                String::from_utf8_lossy(&body).into_owned()
            }
            Some(b'-') => line.to_owned(),
            _ => line.get(1..).unwrap_or("").to_owned(),
        }
    }

    /// `INFO commandstats` as (command, calls) pairs.
    pub fn command_calls(&self) -> Vec<(String, u64)> {
        self.command(&["INFO", "commandstats"])
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("cmdstat_")?;
                let (name, stats) = rest.split_once(':')?;
                let calls = stats
                    .split(',')
                    .find_map(|kv| kv.strip_prefix("calls="))?
                    .parse()
                    .ok()?;
                Some((name.to_owned(), calls))
            })
            .collect()
    }

    /// Calls of one command since the last `CONFIG RESETSTAT`.
    pub fn calls_of(&self, command: &str) -> u64 {
        self.command_calls()
            .into_iter()
            .find(|(name, _)| name == command)
            .map_or(0, |(_, calls)| calls)
    }

    /// Fills the server with 1 MiB of data, then caps its memory below
    /// what it uses, with `noeviction`: every write is refused with `-OOM`
    /// (reads still work) until `FLUSHALL` frees the memory.
    pub fn fill_until_out_of_memory(&self) {
        let value = "x".repeat(16 * 1024);
        for i in 0..64 {
            assert_eq!(self.command(&["SET", &format!("fill:{i}"), &value]), "OK");
        }
        let used: u64 = self
            .command(&["INFO", "memory"])
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory in INFO");
        let cap = (used - 512 * 1024).to_string();
        assert_eq!(
            self.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]),
            "OK"
        );
        assert_eq!(self.command(&["CONFIG", "SET", "maxmemory", &cap]), "OK");
        let reply = self.command(&["SET", "fill:probe", "1"]);
        assert!(reply.starts_with("-OOM"), "a write over the cap: {reply}");
    }

    fn launch(&mut self) -> bool {
        let port = self.port.to_string();
        let child = Command::new(binary())
            .args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(mut child) = child else { return false };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return false; // exited: most likely the port was taken
            }
            if ping(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }
}

/// A local Redis Cluster of `masters` servers (no replicas) on free ports,
/// formed with `redis-cli --cluster create`; stopped on drop.
#[derive(Debug)]
pub struct RedisCluster {
    pub servers: Vec<RedisServer>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    pub fn start(masters: usize) -> RedisCluster {
        let dir = std::env::temp_dir().join(format!(
            "authscale-cluster-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        let servers: Vec<RedisServer> = (0..masters)
            .map(|i| {
                let conf = dir.join(format!("nodes-{i}.conf"));
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().expect("utf-8 path"),
                ])
            })
            .collect();
        let addrs: Vec<String> = servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        let created = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (from redis-tools) runs");
        assert!(created.success(), "redis-cli --cluster create failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !servers
            .iter()
            .all(|s| s.command(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                Instant::now() < deadline,
                "the cluster did not reach state ok"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        RedisCluster { servers, dir }
    }

    /// `redis-cluster://127.0.0.1:P1,127.0.0.1:P2,…`
    pub fn url(&self) -> String {
        let nodes: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis-cluster://{}", nodes.join(","))
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for server in &mut self.servers {
            server.stop();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(tls) = &self.tls {
            let _ = std::fs::remove_dir_all(&tls.dir);
        }
    }
}

/// A CA certificate (PEM) that signed nothing a test server uses: a client
/// trusting only it must refuse every test server.
pub fn unrelated_ca_pem() -> Vec<u8> {
    certificate_authority("authscale unrelated test CA")
        .pem()
        .into_bytes()
}

fn certificate_authority(name: &str) -> rcgen::CertifiedIssuer<'static, rcgen::KeyPair> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().expect("CA key");
    rcgen::CertifiedIssuer::self_signed(params, key).expect("CA certificate")
}

/// (CA certificate, server certificate, server key), PEM, for 127.0.0.1
/// and localhost.
pub(crate) fn server_certificate() -> (String, String, String) {
    let ca = certificate_authority("authscale test CA");
    let key = rcgen::KeyPair::generate().expect("server key");
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("server params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "authscale test redis");
    let cert = params.signed_by(&key, &ca).expect("server certificate");
    (ca.pem(), cert.pem(), key.serialize_pem())
}

fn binary() -> String {
    std::env::var("AUTHSCALE_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into())
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok();
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    stream.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}
