//! TLS of the appliance API: rustls (ring provider) behind a ureq connector
//! of our own, so the certificate check can follow Ansible's options:
//!
//! - `validate_certs: false`: any certificate is accepted (the caller warns);
//! - `ca_path`: only the CAs in that PEM file are trusted, and a certificate
//!   in that file that the appliance presents itself is trusted exactly
//!   (an appliance's self-signed certificate often carries `CA:TRUE`, which
//!   webpki refuses as a server certificate: `CaUsedAsEndEntity`);
//! - otherwise the controller's system CA store.
//!
//! The verifier remembers the SHA-256 fingerprint and the failure of the
//! certificate it saw, so a TLS error can tell the user what was presented.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport, TransportAdapter};

/// SHA-256 of DER bytes as upper-case hex pairs joined by `:` (as browsers and
/// `openssl x509 -fingerprint -sha256` show it).
pub fn sha256_fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Which certificates the client trusts.
#[derive(Debug, Clone)]
pub enum Trust {
    /// `validate_certs: false`.
    Off,
    /// These DER certificates (from `ca_path`, or the system store).
    Roots { certs: Vec<Vec<u8>>, exact: bool, source: String },
}

/// What the verifier saw on the last handshake.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub fingerprint: Option<String>,
    pub error: Option<String>,
}

/// Read the certificates of a PEM (or single DER) file.
pub fn load_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read ca_path {}: {e}", path.display()))?;
    let mut certs = Vec::new();
    for item in CertificateDer::pem_slice_iter(&bytes) {
        match item {
            Ok(c) => certs.push(c.as_ref().to_vec()),
            Err(e) => return Err(format!("ca_path {} is not valid PEM: {e}", path.display())),
        }
    }
    if certs.is_empty() {
        // A lone DER certificate starts with a SEQUENCE tag.
        if bytes.first() == Some(&0x30) {
            certs.push(bytes);
        } else {
            return Err(format!("ca_path {} holds no certificate (expected PEM `BEGIN CERTIFICATE` blocks)", path.display()));
        }
    }
    Ok(certs)
}

/// The controller's system CA certificates (honours SSL_CERT_FILE / SSL_CERT_DIR).
pub fn system_roots() -> Vec<Vec<u8>> {
    let found = rustls_native_certs::load_native_certs();
    found.certs.into_iter().map(|c| c.as_ref().to_vec()).collect()
}

#[derive(Debug)]
enum Mode {
    Off,
    Verify { webpki: Arc<WebPkiServerVerifier>, exact: Vec<Vec<u8>> },
}

#[derive(Debug)]
pub(crate) struct Verifier {
    mode: Mode,
    provider: Arc<CryptoProvider>,
    seen: Arc<Mutex<Seen>>,
}

fn describe_cert_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::UnknownIssuer => {
                "its certificate is not signed by a trusted CA (self-signed, or a private CA the controller does not trust)".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "its certificate has expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "its certificate is not valid yet (check the clocks)".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "its certificate does not name the address in host (compare host with the certificate's subject alternative names)".into()
            }
            CertificateError::BadSignature => "its certificate has a bad signature".into(),
            CertificateError::Revoked => "its certificate is revoked".into(),
            CertificateError::Other(o) if format!("{o:?}").contains("CaUsedAsEndEntity") => {
                "its certificate is self-signed (a CA certificate used as the server certificate) and is not a \
                 certificate given in ca_path"
                    .into()
            }
            other => format!("its certificate was refused: {other:?}"),
        },
        other => format!("TLS error: {other}"),
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut s) = self.seen.lock() {
            s.fingerprint = Some(sha256_fingerprint(end_entity.as_ref()));
            s.error = None;
        }
        let Mode::Verify { webpki, exact } = &self.mode else { return Ok(ServerCertVerified::assertion()) };
        match webpki.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Ok(v) => Ok(v),
            // The very certificate the user put in ca_path: trusted exactly.
            Err(_) if exact.iter().any(|c| c.as_slice() == end_entity.as_ref()) => Ok(ServerCertVerified::assertion()),
            Err(e) => {
                if let Ok(mut s) = self.seen.lock() {
                    s.error = Some(describe_cert_error(&e));
                }
                Err(e)
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A rustls client configuration for `trust`, and the handle on what its verifier sees.
pub(crate) fn client_config(trust: &Trust) -> Result<(Arc<ClientConfig>, Arc<Mutex<Seen>>), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mode = match trust {
        Trust::Off => Mode::Off,
        Trust::Roots { certs, exact, source } => {
            let mut store = RootCertStore::empty();
            let (added, _ignored) = store.add_parsable_certificates(certs.iter().map(|c| CertificateDer::from(c.as_slice())));
            if added == 0 {
                return Err(format!("no usable CA certificate in {source}"));
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
                .build()
                .map_err(|e| format!("cannot use the CA certificates of {source}: {e}"))?;
            Mode::Verify { webpki, exact: if *exact { certs.clone() } else { Vec::new() } }
        }
    };
    let verifier = Arc::new(Verifier { mode, provider: provider.clone(), seen: seen.clone() });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok((Arc::new(config), seen))
}

/// The ureq connector that wraps the TCP transport in rustls with our config.
#[derive(Debug)]
pub(crate) struct TlsConnector {
    pub(crate) config: Arc<ClientConfig>,
}

fn io_to_ureq(e: std::io::Error) -> ureq::Error {
    if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        match e.into_inner() {
            Some(inner) => ureq::Error::Other(inner),
            None => ureq::Error::Tls("TLS failure"),
        }
    } else {
        ureq::Error::Io(e)
    }
}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(&self, details: &ConnectionDetails, chained: Option<In>) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else { return Ok(None) };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_string();
        let name = ServerName::try_from(host).map_err(|_| ureq::Error::Tls("the host is not a valid TLS server name"))?;
        let mut conn = ClientConnection::new(self.config.clone(), name).map_err(|e| ureq::Error::Other(Box::new(e)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock).map_err(io_to_ureq)?;
        let buffers = LazyBuffers::new(details.config.input_buffer_size(), details.config.output_buffer_size());
        Ok(Some(Either::B(TlsTransport { buffers, stream: StreamOwned { conn, sock } })))
    }
}

pub(crate) struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl std::fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output).map_err(io_to_ureq)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input).map_err(io_to_ureq)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_colon_hex() {
        let f = sha256_fingerprint(b"abc");
        assert_eq!(f.len(), 32 * 3 - 1);
        assert!(f.starts_with("BA:78:16:BF"));
    }

    #[test]
    fn ca_file_errors_are_clear() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("ca.pem");
        assert!(load_ca_file(&p).unwrap_err().contains("cannot read ca_path"));
        std::fs::write(&p, "hello").unwrap();
        assert!(load_ca_file(&p).unwrap_err().contains("holds no certificate"));
    }

    #[test]
    fn empty_roots_are_refused() {
        let t = Trust::Roots { certs: vec![], exact: true, source: "ca_path x".into() };
        assert!(client_config(&t).unwrap_err().contains("no usable CA certificate in ca_path x"));
        assert!(client_config(&Trust::Off).is_ok());
    }
}
