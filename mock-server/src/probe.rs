//! `mock-server probe`: a client that asks a URL a few times and reports
//! what it saw, as a Job's termination message: how many requests got an
//! HTTP answer, and of those that did not, whether the connection was
//! refused (a reset or an ICMP reject, as a NetworkPolicy enforcer that
//! rejects answers), timed out (one that drops) or failed otherwise.
//!
//! Each attempt is one plain HTTP/1.1 `GET` on a fresh connection, so every
//! attempt is judged by the network on its own (no connection reuse).

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What `mock-server probe` is told.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "mock-server probe",
    about = "Ask an http:// URL a few times, each on a new connection, and report how many answered, were refused or timed out, as a JSON termination message."
)]
pub struct ProbeArgs {
    /// `http://HOST:PORT/PATH` (a Service's cluster DNS name, say).
    #[arg(long, env = "MOCK_PROBE_URL")]
    pub url: String,
    /// How many requests.
    #[arg(long, env = "MOCK_PROBE_ATTEMPTS", default_value_t = 5)]
    pub attempts: u32,
    /// How long one request may take, connection included, in milliseconds.
    #[arg(long, env = "MOCK_PROBE_TIMEOUT_MS", default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Wait this long before the first request, in milliseconds (a new
    /// pod's address is admitted by a policy enforcer only once it has
    /// seen the pod).
    #[arg(long, env = "MOCK_PROBE_DELAY_MS", default_value_t = 0)]
    pub delay_ms: u64,
    /// Pause between requests, in milliseconds.
    #[arg(long, env = "MOCK_PROBE_INTERVAL_MS", default_value_t = 200)]
    pub interval_ms: u64,
    #[arg(
        long,
        env = "MOCK_PROBE_SUMMARY",
        default_value = "/dev/termination-log"
    )]
    pub summary: PathBuf,
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// An HTTP status line came back.
    Answered(u16),
    /// The connection was refused or reset.
    Refused,
    /// No answer within the timeout (packets dropped).
    TimedOut,
    /// No route: an ICMP host or network unreachable.
    Unreachable,
    /// Anything else (the name did not resolve, a malformed answer).
    Failed(String),
}

/// The termination message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub url: String,
    pub attempts: u32,
    /// Requests that got an HTTP answer (any status).
    pub answered: u32,
    /// HTTP answers by status code.
    pub statuses: BTreeMap<u16, u32>,
    pub refused: u32,
    pub timed_out: u32,
    pub unreachable: u32,
    pub failed: u32,
    /// The first failure's message, if any failed otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

impl Summary {
    fn new(url: &str, outcomes: &[Outcome]) -> Summary {
        let mut s = Summary {
            url: url.to_string(),
            attempts: outcomes.len() as u32,
            answered: 0,
            statuses: BTreeMap::new(),
            refused: 0,
            timed_out: 0,
            unreachable: 0,
            failed: 0,
            first_error: None,
        };
        for o in outcomes {
            match o {
                Outcome::Answered(code) => {
                    s.answered += 1;
                    *s.statuses.entry(*code).or_default() += 1;
                }
                Outcome::Refused => s.refused += 1,
                Outcome::TimedOut => s.timed_out += 1,
                Outcome::Unreachable => s.unreachable += 1,
                Outcome::Failed(e) => {
                    s.failed += 1;
                    s.first_error.get_or_insert_with(|| e.clone());
                }
            }
        }
        s
    }
}

/// `host:port` and the path of an `http://` URL.
pub fn parse_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs can be probed"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() {
        return Err(format!("{url}: no host"));
    }
    let authority = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path.to_string()))
}

/// One request on a new connection.
pub async fn attempt(authority: &str, path: &str, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, request(authority, path)).await {
        Err(_) => Outcome::TimedOut,
        Ok(Ok(code)) => Outcome::Answered(code),
        Ok(Err(e)) => match e.kind() {
            ErrorKind::ConnectionRefused | ErrorKind::ConnectionReset => Outcome::Refused,
            ErrorKind::TimedOut => Outcome::TimedOut,
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => Outcome::Unreachable,
            _ => Outcome::Failed(e.to_string()),
        },
    }
}

async fn request(authority: &str, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(authority).await?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    status_code(&head).ok_or_else(|| {
        std::io::Error::new(
            ErrorKind::InvalidData,
            format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&head)),
        )
    })
}

fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// Runs the probe and writes its summary; the summary.
pub async fn run(args: &ProbeArgs) -> Result<Summary, String> {
    let (authority, path) = parse_url(&args.url)?;
    let timeout = Duration::from_millis(args.timeout_ms);
    tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
    let mut outcomes = Vec::new();
    for i in 0..args.attempts {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
        }
        outcomes.push(attempt(&authority, &path, timeout).await);
    }
    let summary = Summary::new(&args.url, &outcomes);
    crate::summary::write(&args.summary, &summary).map_err(|e| e.to_string())?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        assert_eq!(
            parse_url("http://llm.ns.svc:8000/health").unwrap(),
            ("llm.ns.svc:8000".into(), "/health".into())
        );
        assert_eq!(
            parse_url("http://llm").unwrap(),
            ("llm:80".into(), "/".into())
        );
        assert!(
            parse_url("https://llm")
                .unwrap_err()
                .contains("only http://")
        );
        assert!(parse_url("http:///x").unwrap_err().contains("no host"));
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(status_code(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code(b"SSH-2.0-x\r\n"), None);
    }

    #[test]
    fn outcomes_are_counted() {
        let s = Summary::new(
            "http://x:1/",
            &[
                Outcome::Answered(200),
                Outcome::Answered(200),
                Outcome::Refused,
                Outcome::TimedOut,
                Outcome::Failed("dns".into()),
            ],
        );
        assert_eq!(
            (s.attempts, s.answered, s.refused, s.timed_out, s.failed),
            (5, 2, 1, 1, 1)
        );
        assert_eq!(s.statuses[&200], 2);
        assert_eq!(s.first_error.as_deref(), Some("dns"));
    }

    /// Real sockets: a listener that answers, a port nobody listens on
    /// (refused), and a listener that accepts and never answers (timeout).
    #[tokio::test]
    async fn answered_refused_and_timed_out_are_told_apart() {
        let answering = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = answering.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = answering.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            }
        });
        let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let q = silent.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let t = Duration::from_millis(300);
        assert_eq!(
            attempt(&a.to_string(), "/", t).await,
            Outcome::Answered(204)
        );
        assert_eq!(attempt(&closed.to_string(), "/", t).await, Outcome::Refused);
        assert_eq!(attempt(&q.to_string(), "/", t).await, Outcome::TimedOut);
        drop(silent);
    }
}
