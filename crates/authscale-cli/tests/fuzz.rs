//! Mutated raw requests against a real node and a real proxy in front of
//! two nodes: whatever a client sends, no 5xx of its making, no upstream
//! marked down, both processes alive, memory bounded.
//!
//! Deterministic: case `i` is built from `seed + i` alone. Set
//! `AUTHSCALE_FUZZ_SEED` to replay a reported seed.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{Ending, alive, assert_upstreams_untouched, exchange, metric, node, proxy, rss_kib};

const CASES: usize = 3000;
const WORKERS: usize = 16;
/// New cases stop after this, so a slow machine shortens the run instead
/// of failing it.
const BUDGET: Duration = Duration::from_secs(45);
/// Body and idle timeouts of the servers under test: short, so stalled
/// cases end quickly.
const SERVER_TIMEOUT: &str = "1s";
/// A case whose connection is still open after this was held too long:
/// every timeout involved is at most a few seconds.
const HELD_TOO_LONG: Duration = Duration::from_secs(15);
/// Growth of resident memory over the run that counts as a leak. Thousands
/// of short connections leave allocator slack of a few MiB, not this.
const RSS_GROWTH_KIB: u64 = 64 * 1024;

/// SplitMix64: tiny, seedable, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// One valid request to start from.
fn template(rng: &mut Rng) -> Vec<u8> {
    let password = authscale_auth::Directory::new(1, 10_000).password(1);
    let login = format!(r#"{{"user":"user1","password":"{password}"}}"#);
    match rng.below(6) {
        0 => b"GET /api/me HTTP/1.1\r\nHost: app\r\n\r\n".to_vec(),
        1 => format!(
            "POST /login HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{login}",
            login.len()
        )
        .into_bytes(),
        2 => {
            let (a, b) = login.split_at(login.len() / 2);
            format!(
                "POST /login HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
                a.len(),
                b.len()
            )
            .into_bytes()
        }
        3 => b"GET /healthz HTTP/1.1\r\nHost: app\r\nConnection: keep-alive\r\n\r\n".to_vec(),
        4 => b"POST /logout HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\n\r\n".to_vec(),
        _ => {
            let size = 4096 + rng.below(64 * 1024);
            let mut r = format!(
                "POST /login HTTP/1.1\r\nHost: app\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
            )
            .into_bytes();
            r.extend(std::iter::repeat_n(b'a', size));
            r
        }
    }
}

fn head_end(request: &[u8]) -> usize {
    request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(request.len(), |i| i + 2)
}

/// Inserts a header line just before the end of the head.
fn add_header(request: &mut Vec<u8>, line: &[u8]) {
    let at = head_end(request);
    request.splice(at..at, line.iter().copied().chain(*b"\r\n"));
}

fn replace_first(request: &mut Vec<u8>, from: &[u8], to: &[u8]) {
    if let Some(i) = request.windows(from.len()).position(|w| w == from) {
        request.splice(i..i + from.len(), to.iter().copied());
    }
}

fn mutate(rng: &mut Rng, request: &mut Vec<u8>) {
    const JUNK: &[&[u8]] = &[
        b"\r\n",
        b"\n",
        b"\0",
        b" ",
        b":",
        b"\xff\xfe",
        b"HTTP/1.1",
        b"\r\n\r\n",
        b"0\r\n\r\n",
        b"\t",
    ];
    match rng.below(16) {
        0 => {
            // Flip a few bytes anywhere.
            for _ in 0..1 + rng.below(4) {
                if !request.is_empty() {
                    let i = rng.below(request.len());
                    request[i] = rng.next() as u8;
                }
            }
        }
        1 => {
            let i = rng.below(request.len() + 1);
            let junk = rng.pick(JUNK);
            request.splice(i..i, junk.iter().copied());
        }
        2 => {
            let i = rng.below(request.len() + 1);
            let j = (i + rng.below(16)).min(request.len());
            request.drain(i..j);
        }
        3 => replace_first(request, b"Host: app\r\n", b""),
        4 => add_header(request, b"Host: other"),
        5 => {
            let lengths: &[&[u8]] = &[
                b"Content-Length: -1",
                b"Content-Length: 99999999999999999999",
                b"Content-Length: 12abc",
                b"Content-Length: 5",
                b"Content-Length: 1000",
                b"Content-Length: 10, 11",
                b"Content-Length: 18446744073709551615",
            ];
            add_header(request, rng.pick(lengths));
        }
        6 => {
            let sizes: &[&[u8]] = &[
                b"zz",
                b"ffffffffffffffffffff",
                b"-1",
                b"1;ext=\"x",
                b"",
                b"7fffffff",
                b" 1",
            ];
            add_header(request, b"Transfer-Encoding: chunked");
            let at = head_end(request) + 2;
            let size = rng.pick(sizes);
            request.splice(
                at.min(request.len())..,
                size.iter().copied().chain(*b"\r\nxyz\r\n"),
            );
        }
        7 => add_header(request, b"Transfer-Encoding: gzip, chunked"),
        8 => add_header(request, b"X-Folded: a\r\n continued"),
        9 => {
            let long = vec![b'a'; 4096 + rng.below(12 * 1024)];
            let mut line = b"X-Long: ".to_vec();
            line.extend(long);
            add_header(request, &line);
        }
        10 => {
            let methods: &[&[u8]] = &[b"CONNECT", b"PRI", b"G\0T", b"", b"TRACE", b"OPTIONS"];
            let first = request.iter().position(|b| *b == b' ').unwrap_or(0);
            request.splice(..first, rng.pick(methods).iter().copied());
        }
        11 => {
            let targets: &[&[u8]] = &[
                b"*",
                b"http://evil.example/api/me",
                b"//x",
                b"/%00",
                b"/../../etc/passwd",
                b"app:80",
            ];
            replace_first(request, b"/", b"\x01");
            replace_first(request, b"\x01", rng.pick(targets));
        }
        12 => {
            let versions: &[&[u8]] = &[
                b"HTTP/1.0",
                b"HTTP/2.0",
                b"HTTP/0.9",
                b"HTTP/1.1 x",
                b"http/1.1",
            ];
            replace_first(request, b"HTTP/1.1", rng.pick(versions));
        }
        13 => add_header(
            request,
            b"X-Forwarded-Proto: https\r\nX-Forwarded-For: 1.2.3.4\r\nX-Forwarded-For: junk",
        ),
        14 => {
            // A second request pipelined behind the first.
            let again = request.clone();
            request.extend(again);
        }
        _ => add_header(request, b"Expect: 100-continue"),
    }
}

/// Case `index` of the run seeded `seed`: the bytes and how to end.
fn case(seed: u64, index: usize) -> (Vec<u8>, Ending) {
    // Mixed so that neighbouring seeds do not share cases.
    let mut rng = Rng(seed ^ (index as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
    let mut request = template(&mut rng);
    for _ in 0..1 + rng.below(3) {
        mutate(&mut rng, &mut request);
    }
    let ending = match rng.below(100) {
        0..=3 => Ending::Stall,
        4..=11 => Ending::Reset,
        _ => Ending::HalfClose,
    };
    if rng.chance(15) {
        // Cut it short anywhere.
        let keep = rng.below(request.len() + 1);
        request.truncate(keep);
    }
    (request, ending)
}

struct Finding {
    index: usize,
    target: &'static str,
    what: String,
    request: Vec<u8>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mutated_requests_never_cause_5xx_or_hurt_the_servers() {
    let seed: u64 = std::env::var("AUTHSCALE_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00C0_FFEE);
    eprintln!("fuzz seed {seed} (replay with AUTHSCALE_FUZZ_SEED={seed})");
    let timeouts = [
        "--body-timeout",
        SERVER_TIMEOUT,
        "--idle-timeout",
        SERVER_TIMEOUT,
    ];
    let lone = node("lone", &timeouts);
    // Behind the proxy, the nodes keep their default idle timeout: longer
    // than the proxy keeps idle upstream connections, as it must be.
    let behind = ["--body-timeout", SERVER_TIMEOUT];
    let (a, b) = (node("a", &behind), node("b", &behind));
    let front = proxy(&[a.addr(), b.addr()], &timeouts);
    let admin = front.addrs()[1];
    let watched = [("node", lone.id()), ("proxy", front.id())];
    let rss_before: Vec<u64> = watched.iter().map(|(_, pid)| rss_kib(*pid)).collect();

    let targets: [(&'static str, SocketAddr); 2] = [("node", lone.addr()), ("proxy", front.addr())];
    let next = Arc::new(AtomicUsize::new(0));
    let findings = Arc::new(Mutex::new(Vec::<Finding>::new()));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (next, findings) = (next.clone(), findings.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= CASES || started.elapsed() > BUDGET {
                    return;
                }
                let (request, ending) = case(seed, index);
                // One in three to the node alone, the rest through the proxy.
                let (target, addr) = targets[usize::from(index % 3 != 0)];
                let answer = exchange(addr, &request, ending, HELD_TOO_LONG).await;
                let server_errors: Vec<u16> = answer
                    .statuses()
                    .into_iter()
                    // 505 is the correct answer to an unsupported version,
                    // 501 to a transfer coding other than chunked alone
                    // (RFC 9112 §6.1).
                    .filter(|s| *s >= 500 && *s != 505 && *s != 501)
                    .collect();
                let what = if !server_errors.is_empty() {
                    Some(format!("5xx {server_errors:?}: {}", answer.text()))
                } else if !answer.closed {
                    Some(format!("connection held over {HELD_TOO_LONG:?}"))
                } else {
                    None
                };
                if let Some(what) = what {
                    findings.lock().expect("lock").push(Finding {
                        index,
                        target,
                        what,
                        request,
                    });
                }
            }
        }));
    }
    for worker in workers {
        worker.await.expect("fuzz worker");
    }
    let ran = next.load(Ordering::Relaxed).min(CASES);
    eprintln!("fuzz: {ran} cases in {:?}", started.elapsed());

    let findings = std::mem::take(&mut *findings.lock().expect("lock"));
    if let Some(first) = findings.first() {
        for f in findings.iter().take(5) {
            eprintln!(
                "seed {seed} case {} ({}): {}\n  request: {:?}",
                f.index,
                f.target,
                f.what,
                String::from_utf8_lossy(&f.request)
            );
        }
        panic!(
            "{} of {ran} cases failed (seed {seed}); first: case {} to the {}: {}",
            findings.len(),
            first.index,
            first.target,
            first.what
        );
    }
    for (name, pid) in watched {
        assert!(alive(pid), "the {name} died");
    }
    assert_upstreams_untouched(admin, &format!("after fuzzing with seed {seed}")).await;
    let (_, metrics) = support::admin_call(admin, "GET", "/metrics", &[], "").await;
    for status in ["502", "503", "504"] {
        let series = format!(r#"authscale_proxy_local_answers_total{{status="{status}"}}"#);
        assert_eq!(metric(&metrics, &series), 0, "{series}");
    }
    for ((name, pid), before) in watched.iter().zip(rss_before) {
        let after = rss_kib(*pid);
        eprintln!("{name}: VmRSS {before} KiB before, {after} KiB after");
        assert!(
            after < before + RSS_GROWTH_KIB,
            "the {name} grew from {before} to {after} KiB"
        );
    }
    // Still serving.
    assert_eq!(
        authscale_testkit::get(front.addr(), "/api/me").await.status,
        200
    );
    assert_eq!(
        authscale_testkit::get(lone.addr(), "/api/me").await.status,
        200
    );
}
