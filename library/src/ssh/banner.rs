//! The one notion of "sshd answers": a TCP connection that gives an SSH
//! identification line (`SSH-2.0-...`, RFC 4253 4.2) within a short timeout.
//!
//! A TCP port that accepts a connection is not enough: an edge gateway's DNAT,
//! a jump host's port forward or a hypervisor's user-mode NAT accept every
//! connection and reset or close it when sshd behind them is gone, and a
//! dropping firewall gives a timeout instead of a refusal. So refused, reset,
//! closed before the banner, or no banner in time all mean "not answering".

use super::error::{SshError, SshErrorKind};
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// At most this many bytes are read looking for the identification line
/// (RFC 4253 allows other lines before it).
const MAX_PREAMBLE: usize = 8192;

/// The identification line if `data` holds a complete one (`SSH-` at the start
/// of a line, ended by LF), else `None`.
pub fn find_banner(data: &[u8]) -> Option<String> {
    let mut start = 0;
    while let Some(nl) = data[start..].iter().position(|&b| b == b'\n') {
        let line = &data[start..start + nl];
        if line.starts_with(b"SSH-") {
            let text = String::from_utf8_lossy(line);
            return Some(text.trim_end_matches('\r').to_string());
        }
        start += nl + 1;
    }
    None
}

fn classify(target: &str, e: &std::io::Error, timeout: Duration) -> SshError {
    let kind = SshErrorKind::of_io(e);
    let detail = match kind {
        SshErrorKind::Refused => "connection refused (nothing listens on the SSH port)".to_string(),
        SshErrorKind::Timeout => {
            format!("no SSH banner within {:.1} s (no answer, or a firewall drops the packets)", timeout.as_secs_f64())
        }
        SshErrorKind::Dropped => {
            format!("the connection was reset before the SSH banner (sshd is not answering behind a port forward or NAT?): {e}")
        }
        _ => e.to_string(),
    };
    SshError::new(kind, target, detail)
}

fn probe_addr(target: &str, addr: &SocketAddr, timeout: Duration) -> Result<String, SshError> {
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(addr, timeout).map_err(|e| classify(target, &e, timeout))?;
    let mut data = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(classify(target, &std::io::Error::from(ErrorKind::TimedOut), timeout));
        }
        stream.set_read_timeout(Some(left)).map_err(|e| classify(target, &e, timeout))?;
        match stream.read(&mut buf) {
            Ok(0) => return Err(closed_early(target)),
            Ok(n) => {
                data.extend_from_slice(&buf[..n]);
                if let Some(b) = find_banner(&data) {
                    return Ok(b);
                }
                if data.len() > MAX_PREAMBLE {
                    return Err(not_ssh(target));
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(classify(target, &e, timeout)),
        }
    }
}

/// Wait on a connected `stream` until sshd's banner has arrived, without
/// consuming it (`peek`), so the SSH handshake can go on over the same
/// connection; fails as [`sshd_answers`] does. The read timeout is cleared
/// again before returning.
pub fn peek_banner(stream: &TcpStream, target: &str, timeout: Duration) -> Result<String, SshError> {
    let start = Instant::now();
    let mut buf = vec![0u8; MAX_PREAMBLE + 1];
    let result = loop {
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            break Err(classify(target, &std::io::Error::from(ErrorKind::TimedOut), timeout));
        }
        if let Err(e) = stream.set_read_timeout(Some(left)) {
            break Err(classify(target, &e, timeout));
        }
        match stream.peek(&mut buf) {
            Ok(0) => break Err(closed_early(target)),
            Ok(n) => {
                if let Some(b) = find_banner(&buf[..n]) {
                    break Ok(b);
                }
                if n > MAX_PREAMBLE {
                    break Err(not_ssh(target));
                }
                // part of the preamble is here: peek again once more may have come
                std::thread::sleep(Duration::from_millis(20).min(left));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break Err(classify(target, &e, timeout)),
        }
    };
    let _ = stream.set_read_timeout(None);
    result
}

fn closed_early(target: &str) -> SshError {
    SshError::new(
        SshErrorKind::Dropped,
        target,
        "the connection was closed before the SSH banner (sshd is not answering behind a port forward or NAT?)",
    )
}

fn not_ssh(target: &str) -> SshError {
    SshError::new(SshErrorKind::Other, target, "the port answers, but not with an SSH banner")
}

/// Whether sshd answers on `host:port`: `Ok(identification line)` when one
/// address gives an SSH banner within `timeout`, else the reason it does not
/// (the last address's), classified as the session errors are.
pub fn sshd_answers(host: &str, port: u16, timeout: Duration) -> Result<String, SshError> {
    let target = if port == 22 { host.to_string() } else { format!("{host}:{port}") };
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| SshError::new(SshErrorKind::Resolve, &target, format!("cannot resolve the address: {e}")))?
        .collect();
    let mut last = SshError::new(SshErrorKind::Resolve, &target, "no address found");
    for a in &addrs {
        match probe_addr(&target, a, timeout) {
            Ok(b) => return Ok(b),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// True when the error means "sshd is not answering" (as opposed to "cannot tell").
pub fn is_not_answering(kind: SshErrorKind) -> bool {
    matches!(kind, SshErrorKind::Refused | SshErrorKind::Timeout | SshErrorKind::Dropped | SshErrorKind::Unreachable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::TcpListener;

    #[test]
    fn banner_found_after_other_lines() {
        assert_eq!(find_banner(b"SSH-2.0-OpenSSH_9.2p1 Debian\r\n"), Some("SSH-2.0-OpenSSH_9.2p1 Debian".to_string()));
        assert_eq!(find_banner(b"hello\r\nSSH-2.0-x\r\n"), Some("SSH-2.0-x".to_string()));
        assert_eq!(find_banner(b"SSH-2.0-incomplete"), None);
        assert_eq!(find_banner(b"HTTP/1.1 400\r\n"), None);
    }

    fn serve(f: impl FnOnce(TcpStream) + Send + 'static) -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            if let Ok((s, _)) = l.accept() {
                f(s)
            }
        });
        port
    }

    #[test]
    fn a_banner_answers() {
        let port = serve(|mut s| {
            let _ = s.write_all(b"SSH-2.0-test\r\n");
            std::thread::sleep(Duration::from_millis(200));
        });
        assert_eq!(sshd_answers("127.0.0.1", port, Duration::from_secs(5)).unwrap(), "SSH-2.0-test");
    }

    #[test]
    fn accepted_then_closed_is_not_answering() {
        let port = serve(drop);
        let e = sshd_answers("127.0.0.1", port, Duration::from_secs(5)).unwrap_err();
        assert!(is_not_answering(e.kind), "{e:?}");
        assert!(e.detail.contains("before the SSH banner"), "{}", e.detail);
    }

    #[test]
    fn accepted_but_silent_is_a_timeout() {
        let port = serve(|_s| std::thread::sleep(Duration::from_secs(2)));
        let e = sshd_answers("127.0.0.1", port, Duration::from_millis(300)).unwrap_err();
        assert_eq!(e.kind, SshErrorKind::Timeout);
    }

    #[test]
    fn a_peeked_banner_stays_for_the_handshake() {
        let port = serve(|mut s| {
            let _ = s.write_all(b"SSH-2.0-peek\r\n");
            std::thread::sleep(Duration::from_millis(300));
        });
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(peek_banner(&stream, "t", Duration::from_secs(5)).unwrap(), "SSH-2.0-peek");
        let mut line = [0u8; 14];
        stream.read_exact(&mut line).unwrap();
        assert_eq!(&line, b"SSH-2.0-peek\r\n");
        assert_eq!(stream.read_timeout().unwrap(), None);
    }

    #[test]
    fn peeking_a_closed_or_silent_port_fails_as_the_probe_does() {
        let closed = TcpStream::connect(("127.0.0.1", serve(drop))).unwrap();
        assert_eq!(peek_banner(&closed, "t", Duration::from_secs(5)).unwrap_err().kind, SshErrorKind::Dropped);
        let silent = TcpStream::connect(("127.0.0.1", serve(|_s| std::thread::sleep(Duration::from_secs(2))))).unwrap();
        assert_eq!(peek_banner(&silent, "t", Duration::from_millis(300)).unwrap_err().kind, SshErrorKind::Timeout);
    }

    #[test]
    fn refused_is_not_answering() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let e = sshd_answers("127.0.0.1", port, Duration::from_secs(2)).unwrap_err();
        assert_eq!(e.kind, SshErrorKind::Refused);
    }
}
