//! A TLS failure in a few plain words: the key it is counted under in a
//! load's errors, and what a refused first handshake is reported as. Never
//! a Debug dump of rustls' or webpki's types.

use std::io;

use rustls::CertificateError;

/// The server's certificate chains to no trusted CA.
pub const UNKNOWN_CA: &str = "unknown CA";
/// The server's certificate does not name the URL's host.
pub const BAD_NAME: &str = "bad name";
/// The server's certificate is past its end date.
pub const EXPIRED: &str = "certificate expired";
/// The server's certificate is before its start date.
pub const NOT_YET_VALID: &str = "certificate not yet valid";
/// The server presented a CA certificate (CA:TRUE) as its own, and it is
/// not itself a certificate the load was told to trust.
pub const CA_AS_SERVER: &str = "a CA certificate as the server's";
/// What came back to the ClientHello was no TLS record (a plain HTTP
/// server answering, most often).
pub const NOT_TLS: &str = "not TLS";
/// A handshake outlived the request timeout.
pub const HANDSHAKE_TIMEOUT: &str = "handshake timeout";
/// The server closed the connection mid-handshake.
pub const CLOSED_IN_HANDSHAKE: &str = "closed during the handshake";

/// A rustls error's reason.
pub(crate) fn reason(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(c) => certificate(c),
        rustls::Error::InvalidMessage(_) => NOT_TLS.into(),
        rustls::Error::AlertReceived(alert) => {
            format!(
                "the server sent the alert '{}'",
                words(&format!("{alert:?}"))
            )
        }
        rustls::Error::NoApplicationProtocol => {
            "no agreement on ALPN: the server speaks none of the protocols offered".into()
        }
        rustls::Error::PeerIncompatible(why) => format!(
            "no TLS version or cipher in common ({})",
            words(&format!("{why:?}"))
        ),
        rustls::Error::PeerMisbehaved(why) => format!(
            "the server broke the TLS protocol ({})",
            words(&format!("{why:?}"))
        ),
        other => other.to_string(),
    }
}

/// A refused certificate's reason.
fn certificate(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => UNKNOWN_CA.into(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            BAD_NAME.into()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => EXPIRED.into(),
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            NOT_YET_VALID.into()
        }
        CertificateError::BadEncoding => "certificate unreadable".into(),
        CertificateError::Revoked => "certificate revoked".into(),
        CertificateError::BadSignature => "bad certificate signature".into(),
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
            "certificate not for TLS servers".into()
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(webpki::Error::CaUsedAsEndEntity) => CA_AS_SERVER.into(),
            Some(e) => format!("certificate refused: {}", words(&format!("{e:?}"))),
            None => format!("certificate refused: {}", other.0),
        },
        other => format!("certificate refused: {}", words(&format!("{other:?}"))),
    }
}

/// The leading name of a Debug rendering, in lower-case words:
/// `HandshakeFailure` is "handshake failure".
fn words(debug: &str) -> String {
    let mut out = String::new();
    for (i, c) in debug
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .enumerate()
    {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The reason for a socket error met mid-handshake.
pub(crate) fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => CLOSED_IN_HANDSHAKE.into(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => HANDSHAKE_TIMEOUT.into(),
        _ => match error
            .get_ref()
            .and_then(|e| e.downcast_ref::<rustls::Error>())
        {
            Some(e) => reason(e),
            None => format!("socket error during the handshake ({error})"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{AlertDescription, InvalidMessage};

    #[test]
    fn every_reason_is_plain_words() {
        assert_eq!(words("HandshakeFailure"), "handshake failure");
        assert_eq!(
            words("CertExpired { time: UnixTime(1) }"),
            "cert expired",
            "only the leading name"
        );
        let ca_as_server = rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(std::sync::Arc::new(webpki::Error::CaUsedAsEndEntity)),
        ));
        assert_eq!(reason(&ca_as_server), CA_AS_SERVER);
        let path_len =
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                std::sync::Arc::new(webpki::Error::PathLenConstraintViolated),
            )));
        assert_eq!(
            reason(&path_len),
            "certificate refused: path len constraint violated"
        );
        assert_eq!(
            reason(&rustls::Error::InvalidMessage(
                InvalidMessage::InvalidContentType
            )),
            NOT_TLS
        );
        assert_eq!(
            reason(&rustls::Error::AlertReceived(
                AlertDescription::HandshakeFailure
            )),
            "the server sent the alert 'handshake failure'"
        );
        for r in [&ca_as_server, &path_len] {
            let text = reason(r);
            assert!(!text.contains('(') && !text.contains("::"), "{text}");
        }
    }
}
