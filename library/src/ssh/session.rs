//! Connecting: TCP with a timeout, handshake with an I/O timeout (libssh2 has
//! none by default), host key policy, then key or password authentication.

use super::args::{ConnectionArgs, HostKeyChecking};
use super::error::{SshError, SshErrorKind};
use super::knownhosts::{host_pattern, Check, KnownHosts};
use crate::protocol::Context;
use ssh2::{HostKeyType, MethodType, Session};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An authenticated SSH session to one appliance.
pub struct Ssh {
    pub(super) session: Session,
    pub(super) stream: TcpStream,
    /// `host:port`, for messages.
    pub target: String,
    pub(super) io_timeout: Duration,
}

impl std::fmt::Debug for Ssh {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ssh").field("target", &self.target).finish_non_exhaustive()
    }
}

fn key_type_name(t: HostKeyType) -> &'static str {
    match t {
        HostKeyType::Rsa => "ssh-rsa",
        HostKeyType::Dss => "ssh-dss",
        HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        HostKeyType::Ed25519 => "ssh-ed25519",
        _ => "unknown",
    }
}

const CIPHERS: &str = "aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes256-ctr";

/// libssh2's host key algorithms, in its own default order.
const HOSTKEY_ALGOS: &[&str] =
    &["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];

fn io_kind(target: &str, e: &std::io::Error, timeout: Duration) -> SshError {
    let kind = SshErrorKind::of_io(e);
    let detail = match kind {
        SshErrorKind::Timeout => format!("no answer within {} s ({e})", timeout.as_secs()),
        SshErrorKind::Refused => "connection refused (nothing listens on the SSH port)".to_string(),
        _ => e.to_string(),
    };
    SshError::new(kind, target, detail)
}

/// Map a libssh2 error during the session to our kinds.
pub(super) fn ssh2_kind(target: &str, what: &str, e: &ssh2::Error) -> SshError {
    use ssh2::ErrorCode::Session as S;
    // libssh2 codes: -9 timeout, -13 socket disconnect, -43 socket recv, -7 socket send, -37 eagain
    let kind = match e.code() {
        S(-9) | S(-37) => SshErrorKind::Timeout,
        S(-13) | S(-43) | S(-7) => SshErrorKind::Dropped,
        S(-18) => SshErrorKind::Auth,
        _ => SshErrorKind::Other,
    };
    SshError::new(kind, target, format!("{what}: {}", e.message()))
}

/// Show a connection's warning (host key not verified) once per module run,
/// also when it comes from a reconnect: a later connection may be to a
/// different key (after a reboot, say) that was not verified either.
pub fn warn_once(ctx: &mut Context, warning: Option<String>) {
    if let Some(w) = warning {
        if !ctx.warnings().contains(&w) {
            ctx.warn(w);
        }
    }
}

impl Ssh {
    /// Connect and authenticate, applying the host key policy (warnings go to `ctx`).
    pub fn connect(args: &ConnectionArgs, ctx: &mut Context) -> Result<Ssh, SshError> {
        let (ssh, warning) = Self::connect_quiet(args, Duration::from_secs(args.connect_timeout))?;
        warn_once(ctx, warning);
        Ok(ssh)
    }

    /// Connect without a `Context` (used by polling loops); returns a warning to show, if any.
    pub fn connect_quiet(args: &ConnectionArgs, timeout: Duration) -> Result<(Ssh, Option<String>), SshError> {
        let stream = tcp_connect(args, timeout)?;
        Self::over(args, stream, timeout)
    }

    /// One connection, used for both the probe and the login: connect within
    /// `probe`, wait (as long) for sshd's banner without consuming it (a port
    /// forward that accepts and resets, or a silent port, fails here with the
    /// kinds of `banner::sshd_answers`), then log in with `timeout` for each
    /// step. A wait for sshd to come back costs the appliance one connection.
    pub fn connect_when_answering(args: &ConnectionArgs, probe: Duration, timeout: Duration) -> Result<(Ssh, Option<String>), SshError> {
        let stream = tcp_connect(args, probe)?;
        super::banner::peek_banner(&stream, &args.label(), probe)?;
        Self::over(args, stream, timeout)
    }

    /// The SSH session over a connected stream.
    fn over(args: &ConnectionArgs, stream: TcpStream, timeout: Duration) -> Result<(Ssh, Option<String>), SshError> {
        let target = args.label();
        let _ = stream.set_nodelay(true);
        let io_stream = stream.try_clone().map_err(|e| SshError::new(SshErrorKind::Other, &target, format!("socket: {e}")))?;

        let known = KnownHosts::load(&args.known_hosts_path()).map_err(|e| {
            SshError::new(SshErrorKind::HostKey, &target, format!("cannot read known_hosts {}: {e}", args.known_hosts_path().display()))
                .hint("fix the file's permissions, or point known_hosts at a readable file")
        })?;

        let mut session = Session::new().map_err(|e| SshError::new(SshErrorKind::Other, &target, format!("libssh2: {e}")))?;
        session.set_tcp_stream(stream);
        session.set_timeout(timeout.as_millis().min(u128::from(u32::MAX)) as u32);
        // Negotiate a host key type we already know, so a known host is checked
        // against its recorded key rather than reported as new.
        let preferred = known.types_for(&args.host, args.port);
        if !preferred.is_empty() {
            let mut order: Vec<&str> = Vec::new();
            for t in &preferred {
                let algos: &[&str] = if t == "ssh-rsa" { &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] } else { &[] };
                order.extend(algos.iter().copied().chain(HOSTKEY_ALGOS.iter().copied().filter(|a| a == t)));
            }
            let rest: Vec<&str> = HOSTKEY_ALGOS.iter().copied().filter(|a| !order.contains(a)).collect();
            order.extend(rest);
            let _ = session.method_pref(MethodType::HostKey, &order.join(","));
        }
        // AES-GCM first: OpenSSL runs it on AES-NI/ARMv8 crypto instructions,
        // while libssh2's chacha20-poly1305 is portable C; this is most of the
        // difference to OpenSSH scp on large bundles.
        for dir in [MethodType::CryptCs, MethodType::CryptSc] {
            let _ = session.method_pref(dir, CIPHERS);
        }
        session.handshake().map_err(|e| {
            let mut err = ssh2_kind(&target, "SSH handshake failed", &e);
            if err.kind == SshErrorKind::Other {
                err.kind = SshErrorKind::Dropped;
            }
            err
        })?;

        let warning = check_host_key(args, &session, &known, &target)?;
        authenticate(args, &session, &target)?;
        // Sent while waiting (`exec`'s pump, `idle`): a NAT must not see the flow idle.
        session.set_keepalive(true, args.keepalive_interval.clamp(1, 3600) as u32);
        Ok((Ssh { session, stream: io_stream, target, io_timeout: timeout }, warning))
    }
}

impl Ssh {
    /// Send a keepalive if one is due (libssh2 keeps the time). Errors are
    /// ignored here: a dead link shows up at the next read or command.
    pub(super) fn keepalive(&self) {
        let _ = self.session.keepalive_send();
    }

    /// Wait `d` without letting the connection go idle: keepalives are sent
    /// at the connection's `keepalive_interval` meanwhile.
    pub fn idle(&self, d: Duration) {
        let end = std::time::Instant::now() + d;
        loop {
            self.keepalive();
            let now = std::time::Instant::now();
            if now >= end {
                return;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(500)));
        }
    }
}

/// A TCP connection to the first address that takes one within `timeout`.
fn tcp_connect(args: &ConnectionArgs, timeout: Duration) -> Result<TcpStream, SshError> {
    let target = args.label();
    let addrs: Vec<_> = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|e| SshError::new(SshErrorKind::Resolve, &target, format!("cannot resolve the address: {e}")))?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(io_kind(&target, &e, timeout)),
        }
    }
    Err(last.unwrap_or_else(|| SshError::new(SshErrorKind::Resolve, &target, "no address found")))
}

fn check_host_key(args: &ConnectionArgs, session: &Session, known: &KnownHosts, target: &str) -> Result<Option<String>, SshError> {
    let Some((key, key_type)) = session.host_key() else {
        return Err(SshError::new(SshErrorKind::HostKey, target, "the server sent no host key"));
    };
    let type_name = key_type_name(key_type);
    let path = args.known_hosts_path();
    let shown = path.display();
    let name = host_pattern(&args.host, args.port);
    let changed = |line: usize| {
        SshError::new(
            SshErrorKind::HostKey,
            target,
            format!("the host key ({type_name}) differs from the one recorded for {name} in {shown} line {line}: refused"),
        )
        .hint(format!(
            "if the appliance was redeployed or its keys regenerated, verify the new key on the console \
             (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub`) and remove the old entry with \
             `ssh-keygen -R '{name}' -f {shown}`; otherwise treat this as a possible attack"
        ))
    };
    match (args.host_key_checking, known.check(&args.host, args.port, type_name, key)) {
        (HostKeyChecking::Off, _) => Ok(Some(format!("host_key_checking is off: the SSH host key of {target} was not verified"))),
        (_, Check::Match) => Ok(None),
        (_, Check::Mismatch { line }) | (_, Check::Revoked { line }) => Err(changed(line)),
        (HostKeyChecking::Strict, Check::NotFound) | (HostKeyChecking::Strict, Check::OtherTypes { .. }) => Err(SshError::new(
            SshErrorKind::HostKey,
            target,
            format!("{name} has no {type_name} key in {shown} and host_key_checking is strict"),
        )
        .hint(format!(
            "record the appliance's key first (for example `ssh-keyscan -p {} {} >> {shown}` after checking its fingerprint), \
                     or use host_key_checking: accept_new",
            args.port, args.host
        ))),
        (HostKeyChecking::AcceptNew, _) => {
            KnownHosts::append(&path, &args.host, args.port, type_name, key).map_err(|e| {
                SshError::new(SshErrorKind::HostKey, target, format!("cannot record the new host key in {shown}: {e}"))
                    .hint("make the known_hosts file writable, or set known_hosts to a writable path")
            })?;
            Ok(None)
        }
    }
}

fn authenticate(args: &ConnectionArgs, session: &Session, target: &str) -> Result<(), SshError> {
    let user = args.username.as_str();
    let mut tried = Vec::new();
    if let Some(key) = &args.private_key {
        let key = super::args::expand_tilde(key);
        if !key.is_file() {
            return Err(SshError::new(
                SshErrorKind::Auth,
                target,
                format!("private_key {} does not exist on the controller", key.display()),
            )
            .hint("set private_key to the path of a readable private key file on the controller"));
        }
        let pass = args.private_key_passphrase.as_ref().map(crate::Secret::expose);
        match session.userauth_pubkey_file(user, None, &key, pass) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("private key (not accepted)".to_string()),
            Err(e) if is_transport(&e) => return Err(ssh2_kind(target, "authentication", &e)),
            Err(e) => tried.push(format!("private key {} ({})", key.display(), e.message())),
        }
    }
    if let Some(pw) = &args.password {
        match session.userauth_password(user, pw.expose()) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("password (not accepted)".to_string()),
            Err(e) if is_transport(&e) => return Err(ssh2_kind(target, "authentication", &e)),
            Err(_) => tried.push("password (refused)".to_string()),
        }
    }
    // Neither given: the keys of a running ssh-agent, as OpenSSH would use them
    // (AWX and AAP load a machine credential's key into an agent and set no key file).
    if tried.is_empty() && std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()) {
        match session.userauth_agent(user) {
            Ok(()) if session.authenticated() => return Ok(()),
            Ok(()) => tried.push("ssh-agent keys (not accepted)".to_string()),
            Err(e) if is_transport(&e) => return Err(ssh2_kind(target, "authentication", &e)),
            Err(e) => tried.push(format!("ssh-agent keys ({})", e.message())),
        }
    }
    if tried.is_empty() {
        return Err(SshError::new(SshErrorKind::Auth, target, "no credentials given").hint(
            "set password (from a vault) or private_key for the appliance's root account, or load its key into ssh-agent (SSH_AUTH_SOCK)",
        ));
    }
    Err(SshError::new(SshErrorKind::Auth, target, format!("authentication as {user} failed: tried {}", tried.join(", "))))
}

fn is_transport(e: &ssh2::Error) -> bool {
    matches!(e.code(), ssh2::ErrorCode::Session(-9 | -13 | -43 | -7))
}
