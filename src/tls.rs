//! TLS on both sides with rustls: `sslmode` / `sslrootcert` / `sslcert` / `sslkey` in PostgreSQL connection strings
//! (libpq's names and meanings; when the string does not say, `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT` and
//! `PGSSLKEY` as libpq reads them) and `ssl-mode` / `ssl-ca` / `ssl-cert` / `ssl-key` in MySQL URLs (the mysql
//! client's), taken out of the string before the driver parses it. A client certificate and its key (PEM) are
//! offered to a server that asks for one.
//!
//! | mode | encrypted | server certificate checked |
//! |---|---|---|
//! | disable / DISABLED | never | - |
//! | prefer / PREFERRED (the default, as in libpq and the mysql client) | when the server offers it | no |
//! | require / REQUIRED | always | no (with a CA file given: as verify-ca, as libpq does) |
//! | verify-ca / VERIFY_CA | always | signed by the CA file |
//! | verify-full / VERIFY_IDENTITY | always | signed by the CA file and issued for the host connected to |

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// How much TLS a connection demands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// A connection string's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub mode: Mode,
    pub ca: Option<PathBuf>,
    /// The client's certificate chain and private key (PEM), offered when the server asks.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A TLS setting that cannot be honoured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{key}={value} is not a TLS mode; use one of {choices}")]
    Mode {
        key: &'static str,
        value: String,
        choices: &'static str,
    },
    #[error("{mode} checks the server's certificate against a CA: add {key}=FILE (the CA's certificate, PEM)")]
    NoCa { mode: String, key: &'static str },
    #[error("cannot read the CA file {path}: {message}")]
    Ca { path: String, message: String },
    #[error("a client certificate needs both {cert_key}=FILE and {key_key}=FILE (PEM); only {given} was given")]
    HalfIdentity {
        cert_key: &'static str,
        key_key: &'static str,
        given: &'static str,
    },
    #[error("cannot use the client certificate {cert} with the key {key}: {message}")]
    Identity {
        cert: String,
        key: String,
        message: String,
    },
}

impl Settings {
    /// Whether the server's certificate is checked against the CA.
    fn verifies(&self) -> bool {
        matches!(self.mode, Mode::VerifyCa | Mode::VerifyFull)
    }
}

/// The parameter names of one side: mode, CA, client certificate, client key.
struct Keys {
    mode: &'static str,
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
}

fn settings(
    taken: &[(String, String)],
    keys: &Keys,
    parse: fn(&str) -> Option<Mode>,
    choices: &'static str,
) -> Result<Settings, TlsError> {
    let (mode_key, ca_key) = (keys.mode, keys.ca);
    let last = |k: &str| taken.iter().rev().find(|(key, _)| key == k).map(|(_, v)| v);
    let ca = last(ca_key).map(PathBuf::from);
    let identity = match (last(keys.cert), last(keys.key)) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        (Some(_), None) => {
            return Err(TlsError::HalfIdentity {
                cert_key: keys.cert,
                key_key: keys.key,
                given: keys.cert,
            })
        }
        (None, Some(_)) => {
            return Err(TlsError::HalfIdentity {
                cert_key: keys.cert,
                key_key: keys.key,
                given: keys.key,
            })
        }
    };
    let mode = match last(mode_key) {
        None => Mode::Prefer,
        Some(v) => parse(v).ok_or_else(|| TlsError::Mode {
            key: mode_key,
            value: v.clone(),
            choices,
        })?,
    };
    // libpq: `require` with a root certificate file verifies the chain, like verify-ca.
    let mode = match (mode, &ca) {
        (Mode::Require, Some(_)) => Mode::VerifyCa,
        (m, _) => m,
    };
    let s = Settings { mode, ca, identity };
    if s.verifies() && s.ca.is_none() {
        return Err(TlsError::NoCa {
            mode: last(mode_key).cloned().unwrap_or_default(),
            key: ca_key,
        });
    }
    Ok(s)
}

/// A PostgreSQL connection string without `sslmode`/`sslrootcert`, and what they said.
pub fn postgres(conn: &str) -> Result<(String, Settings), TlsError> {
    postgres_in_service(conn, &[])
}

/// The TLS keys of a PostgreSQL connection string and libpq's environment variable for each.
const PG_ENV: [(&str, &str); 4] = [
    ("sslmode", "PGSSLMODE"),
    ("sslrootcert", "PGSSLROOTCERT"),
    ("sslcert", "PGSSLCERT"),
    ("sslkey", "PGSSLKEY"),
];

/// [`postgres`] with a connection service's settings (`crate::credentials::target_service`) between the string
/// and the environment, as libpq orders them.
pub fn postgres_in_service(
    conn: &str,
    service: &[(String, String)],
) -> Result<(String, Settings), TlsError> {
    postgres_with_env(conn, |var| {
        let key = PG_ENV
            .iter()
            .find(|(_, v)| *v == var)
            .map_or("", |(k, _)| *k);
        service
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(var).ok())
    })
}

const PG_KEYS: Keys = Keys {
    mode: "sslmode",
    ca: "sslrootcert",
    cert: "sslcert",
    key: "sslkey",
};

/// [`postgres`], reading the environment through `env` (libpq's variables fill what the string does not say).
fn postgres_with_env(
    conn: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, Settings), TlsError> {
    let (rest, mut taken) =
        crate::url::take_params(conn, &["sslmode", "sslrootcert", "sslcert", "sslkey"]);
    for (key, var) in PG_ENV {
        if !taken.iter().any(|(k, _)| k == key) {
            if let Some(v) = env(var).filter(|v| !v.is_empty()) {
                taken.insert(0, (key.to_string(), v));
            }
        }
    }
    let parse = |v: &str| match v {
        "disable" => Some(Mode::Disable),
        "allow" | "prefer" => Some(Mode::Prefer),
        "require" => Some(Mode::Require),
        "verify-ca" => Some(Mode::VerifyCa),
        "verify-full" => Some(Mode::VerifyFull),
        _ => None,
    };
    let s = settings(
        &taken,
        &PG_KEYS,
        parse,
        "disable, prefer, require, verify-ca, verify-full",
    )?;
    Ok((rest, s))
}

/// A MySQL URL without `ssl-mode`/`ssl-ca`, and what they said (`None`: neither was given).
pub fn mysql(url: &str) -> Result<(String, Option<Settings>), TlsError> {
    let (rest, taken) =
        crate::url::take_params(url, &["ssl-mode", "ssl-ca", "ssl-cert", "ssl-key"]);
    if taken.is_empty() {
        return Ok((rest, None));
    }
    let parse = |v: &str| match v.to_ascii_uppercase().as_str() {
        "DISABLED" => Some(Mode::Disable),
        "PREFERRED" => Some(Mode::Prefer),
        "REQUIRED" => Some(Mode::Require),
        "VERIFY_CA" => Some(Mode::VerifyCa),
        "VERIFY_IDENTITY" => Some(Mode::VerifyFull),
        _ => None,
    };
    let keys = Keys {
        mode: "ssl-mode",
        ca: "ssl-ca",
        cert: "ssl-cert",
        key: "ssl-key",
    };
    let s = settings(
        &taken,
        &keys,
        parse,
        "DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY",
    )?;
    Ok((rest, Some(s)))
}

/// mysql_async's TLS options for `s` (None: plain).
pub fn mysql_ssl_opts(s: &Settings) -> Option<mysql_async::SslOpts> {
    let opts = mysql_async::SslOpts::default().with_client_identity(s.identity.as_ref().map(
        |(cert, key)| mysql_async::ClientIdentity::new(cert.clone().into(), key.clone().into()),
    ));
    match s.mode {
        Mode::Disable => None,
        // mysql_async's rustls setup wants some trust anchor even when it accepts any certificate.
        Mode::Prefer | Mode::Require => Some(
            opts.with_danger_accept_invalid_certs(true)
                .with_danger_skip_domain_validation(true),
        ),
        Mode::VerifyCa | Mode::VerifyFull => Some(
            opts.with_disable_built_in_roots(true)
                .with_root_certs(s.ca.iter().map(|p| p.clone().into()).collect())
                .with_danger_skip_domain_validation(s.mode == Mode::VerifyCa),
        ),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let err = |message: String| TlsError::Ca {
        path: path.display().to_string(),
        message,
    };
    let mut store = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| err(e.to_string()))? {
        store
            .add(cert.map_err(|e| err(e.to_string()))?)
            .map_err(|e| err(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(err("it holds no PEM certificate".into()));
    }
    Ok(store)
}

/// The rustls client configuration for `s` (None: plain).
pub fn client_config(s: &Settings) -> Result<Option<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let verifier: Arc<dyn ServerCertVerifier> = match s.mode {
        Mode::Disable => return Ok(None),
        Mode::Prefer | Mode::Require => Arc::new(Unchecked(provider())),
        Mode::VerifyCa | Mode::VerifyFull => {
            let path = s.ca.as_deref().expect("settings() demands a CA to verify");
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(path)?), provider())
                    .build()
                    .map_err(|e| TlsError::Ca {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
            match s.mode {
                Mode::VerifyCa => Arc::new(AnyName(inner)),
                _ => inner,
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let Some((cert, key)) = &s.identity else {
        return Ok(Some(builder.with_no_client_auth()));
    };
    let bad = |message: String| TlsError::Identity {
        cert: cert.display().to_string(),
        key: key.display().to_string(),
        message,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if chain.is_empty() {
        return Err(bad("the certificate file holds no PEM certificate".into()));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(e.to_string()))?;
    Ok(Some(
        builder
            .with_client_auth_cert(chain, private)
            .map_err(|e| bad(e.to_string()))?,
    ))
}

/// prefer/require: encrypted, but any certificate is accepted (libpq's meaning). The handshake signatures are
/// still checked, so the session key belongs to whoever holds the certificate's key.
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
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

/// verify-ca: the chain must lead to the CA; the name the certificate was issued for is not compared.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_modes_as_libpq_reads_them() {
        let (rest, s) = postgres("postgres://u:p@h/db").unwrap();
        assert_eq!(
            (rest.as_str(), s.mode),
            ("postgres://u:p@h/db", Mode::Prefer)
        );
        let (_, s) = postgres("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").unwrap();
        assert_eq!(
            s.mode,
            Mode::VerifyCa,
            "require with a CA file verifies the chain"
        );
        let (rest, s) = postgres("host=h sslmode=verify-full sslrootcert=/ca.pem").unwrap();
        assert_eq!((rest.as_str(), s.mode), ("host='h'", Mode::VerifyFull));
        assert!(matches!(
            postgres("postgres://h/db?sslmode=verify-full"),
            Err(TlsError::NoCa { .. })
        ));
        assert!(matches!(
            postgres("postgres://h/db?sslmode=sometimes"),
            Err(TlsError::Mode { .. })
        ));
    }

    #[test]
    fn mysql_modes_as_the_mysql_client_reads_them() {
        assert_eq!(mysql("mysql://h/db").unwrap().1, None);
        let (rest, s) = mysql("mysql://h/db?ssl-mode=verify_identity&ssl-ca=/ca.pem").unwrap();
        assert_eq!(rest, "mysql://h/db");
        let s = s.unwrap();
        assert_eq!(s.mode, Mode::VerifyFull);
        assert!(mysql_ssl_opts(&s).unwrap().root_certs().len() == 1);
        let (_, s) = mysql("mysql://h/db?ssl-mode=DISABLED").unwrap();
        assert!(mysql_ssl_opts(&s.unwrap()).is_none());
        let (_, s) = mysql("mysql://h/db?ssl-mode=REQUIRED").unwrap();
        assert!(mysql_ssl_opts(&s.unwrap()).unwrap().accept_invalid_certs());
    }

    #[test]
    fn libpq_environment_fills_what_the_string_does_not_say() {
        let env = |k: &str| match k {
            "PGSSLMODE" => Some("verify-ca".to_string()),
            "PGSSLROOTCERT" => Some("/env-ca.pem".to_string()),
            "PGSSLCERT" => Some("/c.pem".to_string()),
            "PGSSLKEY" => Some("/k.pem".to_string()),
            _ => None,
        };
        let (_, s) = postgres_with_env("postgres://h/db", env).unwrap();
        assert_eq!(s.mode, Mode::VerifyCa);
        assert_eq!(s.ca.as_deref(), Some(Path::new("/env-ca.pem")));
        assert_eq!(
            s.identity,
            Some((PathBuf::from("/c.pem"), PathBuf::from("/k.pem")))
        );
        // The string wins over the environment.
        let (_, s) = postgres_with_env("postgres://h/db?sslmode=disable", env).unwrap();
        assert_eq!(s.mode, Mode::Disable);
        assert_eq!(
            postgres_with_env("postgres://h/db", |_| None)
                .unwrap()
                .1
                .mode,
            Mode::Prefer
        );
    }

    #[test]
    fn a_client_certificate_needs_its_key() {
        assert!(matches!(
            postgres_with_env("postgres://h/db?sslcert=/c.pem", |_| None),
            Err(TlsError::HalfIdentity {
                given: "sslcert",
                ..
            })
        ));
        assert!(matches!(
            mysql("mysql://h/db?ssl-key=/k.pem"),
            Err(TlsError::HalfIdentity {
                given: "ssl-key",
                ..
            })
        ));
        let (rest, s) = mysql("mysql://h/db?ssl-cert=/c.pem&ssl-key=/k.pem").unwrap();
        assert_eq!(rest, "mysql://h/db");
        assert!(mysql_ssl_opts(&s.unwrap())
            .unwrap()
            .client_identity()
            .is_some());
    }
}
