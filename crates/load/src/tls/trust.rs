//! Whom a load trusts: the CAs of a PEM file (and its certificates
//! themselves, as curl trusts them), the system's CAs, or anyone.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::{TlsError, SYSTEM_CA_BUNDLE};

/// The verifier for `--cacert FILE`: a server is trusted when its
/// certificate chains to a certificate of the file, as webpki checks it,
/// or when it *is* one of them, byte for byte, whatever its CA flag, as
/// curl and OpenSSL trust it. `openssl req -x509` makes a self-signed
/// certificate with CA:TRUE, which webpki refuses as a server's own
/// certificate; given as its own CA, it is the one certificate the user
/// vouched for. Such a certificate must still be within its dates and name
/// the host, and the handshake is still signed with its key.
pub(super) fn ca_file_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let (roots, certs) = ca_file(path)?;
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| TlsError::BadCaFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
    Ok(Arc::new(CaFile { webpki, certs }))
}

/// The certificates of a PEM file as trust anchors, and as they are; every
/// certificate in it must be usable.
fn ca_file(path: &Path) -> Result<(RootCertStore, Vec<CertificateDer<'static>>), TlsError> {
    let pem = std::fs::read(path).map_err(|why| TlsError::CaUnreadable {
        path: path.to_path_buf(),
        why,
    })?;
    let mut roots = RootCertStore::empty();
    let mut certs = Vec::new();
    for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert = cert.map_err(|e| TlsError::BadCaFile {
            path: path.to_path_buf(),
            why: e.to_string(),
        })?;
        roots
            .add(cert.clone())
            .map_err(|e| TlsError::BadCaCertificate {
                path: path.to_path_buf(),
                index: i + 1,
                why: e.to_string(),
            })?;
        certs.push(cert);
    }
    if roots.is_empty() {
        return Err(TlsError::NoCaCertificates {
            path: path.to_path_buf(),
        });
    }
    Ok((roots, certs))
}

/// The system's CAs; the few a bundle may hold that rustls cannot parse are skipped.
pub(super) fn system_roots() -> Result<RootCertStore, TlsError> {
    let path = Path::new(SYSTEM_CA_BUNDLE);
    let pem = std::fs::read(path).map_err(|_| TlsError::NoSystemRoots {
        path: path.to_path_buf(),
    })?;
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).flatten());
    if roots.is_empty() {
        return Err(TlsError::NoSystemRoots {
            path: path.to_path_buf(),
        });
    }
    Ok(roots)
}

#[derive(Debug)]
struct CaFile {
    webpki: Arc<WebPkiServerVerifier>,
    /// The file's certificates, each trusted as a server's own.
    certs: Vec<CertificateDer<'static>>,
}

/// Whether webpki refused a certificate only for not being an end entity
/// under an anchor: one that is a CA itself, or whose issuer is not in the
/// file. webpki checks a certificate's dates before either, so one refused
/// for these alone is within its dates.
fn refused_as_end_entity_only(error: &CertificateError) -> bool {
    match error {
        CertificateError::UnknownIssuer => true,
        CertificateError::Other(other) => matches!(
            other.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

impl ServerCertVerifier for CaFile {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(error))
                if refused_as_end_entity_only(&error)
                    && self.certs.iter().any(|c| c == end_entity) =>
            {
                verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
                Ok(ServerCertVerified::assertion())
            }
            verdict => verdict,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: any certificate is accepted, but the handshake's
/// signatures are still verified with the certificate's key.
#[derive(Debug)]
pub(super) struct Unverified(pub(super) Arc<CryptoProvider>);

impl ServerCertVerifier for Unverified {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
