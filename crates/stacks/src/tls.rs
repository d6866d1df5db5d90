//! framewut's own test CA, and the rustls configurations built on it.
//!
//! HTTPS on loopback needs a certificate the client trusts. framewut makes a
//! CA of its own with rcgen and signs one server certificate with it, valid
//! for `localhost`, `127.0.0.1` and `::1`; every TLS piece (the stacks, the
//! upstream stand-in, the clients inside the stacks, `framewut load
//! --cacert`) uses those files. Nothing is installed into the system trust
//! store: a client trusts the CA only when it is handed the CA's file.
//!
//! The files live in `data_dir()/tls/` (see [`crate::data_dir`]) unless a
//! caller names another directory; [`TestCa::ensure`] writes them on first
//! use and reuses them afterwards, so a run, a resumed run and a report all
//! see the same CA.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// The names the server certificate is valid for: what a loopback URL holds.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The CA's certificate, the one file a client needs to trust the servers.
pub const CA_FILE: &str = "ca.pem";
/// The server certificate, signed by the CA.
pub const CERT_FILE: &str = "cert.pem";
/// The server certificate's private key.
pub const KEY_FILE: &str = "key.pem";

/// Something that kept the test CA from being made or used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot make the test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path} holds no usable {what} (PEM): {reason}; `framewut tls init --force` makes new files")]
    Pem {
        path: PathBuf,
        what: &'static str,
        reason: String,
    },
    #[error("the certificate in {path} was refused: {source}")]
    Rustls {
        path: PathBuf,
        source: rustls::Error,
    },
    #[error("cannot make a key for TLS session tickets: {0}")]
    Ticketer(rustls::Error),
}

/// The files of a test CA: the CA certificate, and a server certificate and
/// key it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCa {
    /// The CA's certificate (PEM): what a client trusts.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server certificate's private key (PEM, PKCS#8).
    pub key: PathBuf,
}

impl TestCa {
    /// framewut's default directory for its test CA: `data_dir()/tls`.
    pub fn default_dir() -> PathBuf {
        crate::data_dir().join("tls")
    }

    /// The files' paths in `dir`, whether or not they exist yet.
    pub fn in_dir(dir: &Path) -> TestCa {
        TestCa {
            ca: dir.join(CA_FILE),
            cert: dir.join(CERT_FILE),
            key: dir.join(KEY_FILE),
        }
    }

    /// The test CA in `dir`, made first if any of its files is missing.
    pub fn ensure(dir: &Path) -> Result<TestCa, TlsError> {
        let files = TestCa::in_dir(dir);
        if !files.exist() {
            files.write()?;
        }
        Ok(files)
    }

    /// Makes a new CA and server certificate in `dir`, replacing any there.
    /// Clients that trusted the old CA no longer trust the servers.
    pub fn create(dir: &Path) -> Result<TestCa, TlsError> {
        let files = TestCa::in_dir(dir);
        files.write()?;
        Ok(files)
    }

    /// Whether all three files exist.
    pub fn exist(&self) -> bool {
        [&self.ca, &self.cert, &self.key]
            .iter()
            .all(|p| p.is_file())
    }

    fn write(&self) -> Result<(), TlsError> {
        let generated = generate()?;
        let dir = self.ca.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|source| TlsError::Io {
            action: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        // The key is written first and the CA last: `exist()` then holds only
        // once every file is complete, so a run interrupted half-way makes
        // the next `ensure` start again instead of using a torn set.
        for (path, text) in [
            (&self.key, &generated.key),
            (&self.cert, &generated.cert),
            (&self.ca, &generated.ca),
        ] {
            framewut_sys::atomic_write(path, text.as_bytes()).map_err(|source| TlsError::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// A rustls server configuration serving this CA's server certificate,
    /// offering HTTP/1.1 by ALPN.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        server_config(&self.cert, &self.key)
    }

    /// A rustls client configuration that trusts this CA and nothing else.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, TlsError> {
        client_config(&self.ca)
    }
}

/// A rustls server configuration from a certificate chain and key in PEM
/// files, offering HTTP/1.1 by ALPN. It issues stateless session tickets, so
/// a client that keeps its session may resume on any later connection
/// however many others came between (rustls' default server-side cache
/// holds only 256 sessions, fewer than a load of many connections opens).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        path: key.to_path_buf(),
        what: "private key",
        reason: e.to_string(),
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            path: cert.to_path_buf(),
            source,
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(TlsError::Ticketer)?;
    Ok(Arc::new(config))
}

/// A copy of a server configuration that offers h2 before http/1.1 by ALPN,
/// for a stack that serves HTTP/2 as well ([`crate::StackInfo::http2`]). A
/// client that offers both gets h2 (rustls picks in the server's order); one
/// that offers only http/1.1, or no ALPN at all, still gets HTTP/1.1. The
/// configuration [`server_config`] makes stays HTTP/1.1 only, as the stacks
/// that speak only HTTP/1.1 must not agree to h2.
pub fn offering_h2(config: &ServerConfig) -> Arc<ServerConfig> {
    let mut config = config.clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A rustls client configuration that trusts the CA certificates in one PEM
/// file and nothing else, asking for HTTP/1.1 by ALPN.
pub fn client_config(ca: &Path) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert).map_err(|source| TlsError::Rustls {
            path: ca.to_path_buf(),
            source,
        })?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The crypto provider every configuration here uses, named explicitly so
/// that no process-wide default has to be installed first.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM file; an empty file is an error.
fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_error = |reason: String| TlsError::Pem {
        path: path.to_path_buf(),
        what: "certificate",
        reason,
    };
    let bytes = fs::read(path).map_err(|source| TlsError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e.to_string()))?;
    if certs.is_empty() {
        return Err(pem_error("no CERTIFICATE section".to_string()));
    }
    Ok(certs)
}

/// The PEM texts of a new CA and a server certificate it signed.
struct Generated {
    ca: String,
    cert: String,
    key: String,
}

fn generate() -> Result<Generated, TlsError> {
    let mut ca_params = CertificateParams::default();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "framewut test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let names: Vec<String> = SERVER_NAMES.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "framewut test server");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &issuer)?;
    Ok(Generated {
        ca: ca_cert.pem(),
        cert: cert.pem(),
        key: key.serialize_pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("framewut-tls-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// One HTTPS exchange over loopback between the two configurations.
    fn exchange(
        server: Arc<ServerConfig>,
        client: Arc<ClientConfig>,
        name: &str,
    ) -> io::Result<String> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let serving = std::thread::spawn(move || -> io::Result<()> {
            let (tcp, _) = listener.accept()?;
            let conn = rustls::ServerConnection::new(server).map_err(io::Error::other)?;
            let mut tls = rustls::StreamOwned::new(conn, tcp);
            let mut buf = [0u8; 1024];
            let n = tls.read(&mut buf)?;
            assert!(buf[..n].starts_with(b"GET / HTTP/1.1"));
            tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")?;
            tls.conn.send_close_notify();
            tls.flush()
        });
        let server_name = name.to_string().try_into().map_err(io::Error::other)?;
        let conn = rustls::ClientConnection::new(client, server_name).map_err(io::Error::other)?;
        let mut tls = rustls::StreamOwned::new(conn, TcpStream::connect(addr)?);
        tls.write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\n\r\n")?;
        let mut answer = String::new();
        let read = tls.read_to_string(&mut answer);
        let served = serving.join().expect("the server thread does not panic");
        read?;
        served?;
        Ok(answer)
    }

    #[test]
    fn the_test_ca_serves_https_to_a_client_that_trusts_it() {
        let dir = temp_dir("serve");
        let ca = TestCa::ensure(&dir).unwrap();
        assert!(ca.exist());
        for name in ["localhost", "127.0.0.1"] {
            let answer = exchange(
                ca.server_config().unwrap(),
                ca.client_config().unwrap(),
                name,
            )
            .unwrap();
            assert!(answer.ends_with("\r\n\r\nok"), "{name}: {answer:?}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    /// The protocol ALPN settles on when a client offering `offered` meets
    /// `server`, the two handshaking in memory; the handshake's error if it fails.
    fn negotiate(
        server: Arc<ServerConfig>,
        client: &ClientConfig,
        offered: &[&[u8]],
    ) -> Result<Option<Vec<u8>>, rustls::Error> {
        let mut client = client.clone();
        client.alpn_protocols = offered.iter().map(|protocol| protocol.to_vec()).collect();
        let name = "localhost".try_into().expect("a valid server name");
        let mut client = rustls::ClientConnection::new(Arc::new(client), name)?;
        let mut server = rustls::ServerConnection::new(server)?;
        while client.is_handshaking() || server.is_handshaking() {
            let mut flight = Vec::new();
            client.write_tls(&mut flight).expect("write to memory");
            server
                .read_tls(&mut flight.as_slice())
                .expect("read from memory");
            server.process_new_packets()?;
            flight.clear();
            server.write_tls(&mut flight).expect("write to memory");
            client
                .read_tls(&mut flight.as_slice())
                .expect("read from memory");
            client.process_new_packets()?;
        }
        Ok(client.alpn_protocol().map(<[u8]>::to_vec))
    }

    #[test]
    fn only_the_h2_copy_of_a_server_configuration_agrees_to_h2() {
        let dir = temp_dir("alpn");
        let ca = TestCa::ensure(&dir).unwrap();
        let (plain, client) = (ca.server_config().unwrap(), ca.client_config().unwrap());
        let h2 = offering_h2(&plain);
        let both: &[&[u8]] = &[b"h2", b"http/1.1"];
        let got =
            |server: &Arc<ServerConfig>, offered| negotiate(Arc::clone(server), &client, offered);
        assert_eq!(got(&h2, both), Ok(Some(b"h2".to_vec())));
        assert_eq!(got(&h2, &[b"http/1.1"]), Ok(Some(b"http/1.1".to_vec())));
        assert_eq!(got(&h2, &[]), Ok(None));
        assert_eq!(got(&plain, both), Ok(Some(b"http/1.1".to_vec())));
        assert_eq!(
            got(&plain, &[b"h2"]),
            Err(rustls::Error::NoApplicationProtocol)
        );
        assert_eq!(plain.alpn_protocols, [b"http/1.1".to_vec()]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ensure_reuses_the_files_and_create_replaces_them() {
        let dir = temp_dir("reuse");
        let first = TestCa::ensure(&dir).unwrap();
        let ca_text = fs::read_to_string(&first.ca).unwrap();
        TestCa::ensure(&dir).unwrap();
        assert_eq!(fs::read_to_string(&first.ca).unwrap(), ca_text);
        let old_client = first.client_config().unwrap();
        let second = TestCa::create(&dir).unwrap();
        assert_ne!(fs::read_to_string(&second.ca).unwrap(), ca_text);
        // A client holding the old CA no longer trusts the new server certificate.
        let refused = exchange(second.server_config().unwrap(), old_client, "localhost");
        assert!(refused.is_err());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_name_the_certificate_lacks_is_refused() {
        let dir = temp_dir("name");
        let ca = TestCa::ensure(&dir).unwrap();
        let refused = exchange(
            ca.server_config().unwrap(),
            ca.client_config().unwrap(),
            "example.com",
        );
        let error = refused.unwrap_err().to_string();
        assert!(
            error.contains("NotValidForName") || error.contains("not valid for"),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_without_a_certificate_names_the_file_and_the_way_out() {
        let dir = temp_dir("pem");
        fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("bogus.pem");
        fs::write(&bogus, "not pem").unwrap();
        let error = client_config(&bogus).unwrap_err().to_string();
        assert!(
            error.contains("bogus.pem") && error.contains("framewut tls init --force"),
            "{error}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
