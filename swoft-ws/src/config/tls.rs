//! TLS settings (feature `tls`): the server's certificate chain and key, as a rustls
//! [`ServerConfig`] that can be swapped while the server runs.
//!
//! A [`TlsConfig`] is a handle: its clones share one slot, so the clone given to
//! [`App::serve_tls`](crate::App::serve_tls) and the clone kept for reloads are the same
//! configuration. Each TLS handshake reads the slot once (an atomic load, no lock), so a
//! reload takes effect at the next handshake; connections already up keep the session they
//! negotiated.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The one application protocol swoft-ws speaks over TLS (ALPN): HTTP/1.1, which the
/// WebSocket handshake needs (RFC 6455 §4.1; an `h2` WebSocket is RFC 8441, not served).
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// The server's TLS configuration: a certificate chain and its private key (PEM files, PEM
/// bytes) or a rustls [`ServerConfig`] of your own, swappable at run time.
///
/// ```no_run
/// # async fn run(app: swoft_ws::App) -> Result<(), Box<dyn std::error::Error>> {
/// use swoft_ws::tls::TlsConfig;
///
/// let tls = TlsConfig::from_pem_files("cert.pem", "key.pem")?;
/// let reload = tls.clone();
/// // Later, after the files were renewed: new handshakes get the new certificate.
/// # let _ = async move {
/// reload.reload()?;
/// # Ok::<(), swoft_ws::tls::TlsError>(()) };
/// app.serve_tls("127.0.0.1:8443", tls).await?;
/// # Ok(()) }
/// ```
///
/// The protocol versions are rustls' safe defaults (TLS 1.3 and 1.2), with the `ring` crypto
/// provider; ALPN is [`ALPN_HTTP1`] only. No client certificates are asked for (use
/// [`from_server_config`](Self::from_server_config) for that).
#[derive(Clone)]
pub struct TlsConfig {
    current: Arc<ArcSwap<ServerConfig>>,
    /// The PEM files [`reload`](Self::reload) reads again, if made from files.
    files: Option<Arc<(PathBuf, PathBuf)>>,
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("files", &self.files.as_deref())
            .finish_non_exhaustive()
    }
}

/// Why a TLS configuration could not be made: which file (if any) and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read the TLS {what} file {}: {source}", path.display())]
    Read {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The certificate PEM holds no certificate, or a malformed one.
    #[error("bad TLS certificate{}: {problem}", at(path))]
    Certificate {
        /// The file, if read from one.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: String,
    },
    /// The key PEM holds no private key (PKCS#8, PKCS#1 or SEC1), or a malformed one.
    #[error("bad TLS private key{}: {problem}", at(path))]
    Key {
        /// The file, if read from one.
        path: Option<PathBuf>,
        /// What is wrong.
        problem: String,
    },
    /// rustls refused the pair (e.g. the key does not match the certificate, or its algorithm
    /// is not supported).
    #[error("TLS certificate and key refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// [`TlsConfig::reload`] on a configuration not made from files.
    #[error("this TLS configuration was not made from PEM files: nothing to reload")]
    NotFromFiles,
}

fn at(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| format!(" in {}", p.display()))
        .unwrap_or_default()
}

impl TlsConfig {
    /// Reads the certificate chain (PEM, the server's certificate first) and the private key
    /// (PEM: PKCS#8, PKCS#1 or SEC1) from files.
    ///
    /// # Errors
    /// [`TlsError`] naming the file and the problem: unreadable, no certificate or key in it,
    /// malformed PEM, or a key rustls refuses.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<TlsConfig, TlsError> {
        let (cert, key) = (cert.as_ref().to_path_buf(), key.as_ref().to_path_buf());
        let config = load_files(&cert, &key)?;
        Ok(TlsConfig {
            current: Arc::new(ArcSwap::from_pointee(config)),
            files: Some(Arc::new((cert, key))),
        })
    }

    /// Makes the configuration from PEM bytes: the certificate chain and the private key.
    ///
    /// # Errors
    /// [`TlsError::Certificate`], [`TlsError::Key`] or [`TlsError::Rustls`].
    pub fn from_pem(cert: &[u8], key: &[u8]) -> Result<TlsConfig, TlsError> {
        let config = server_config(certificates(cert, None)?, private_key(key, None)?)?;
        Ok(TlsConfig {
            current: Arc::new(ArcSwap::from_pointee(config)),
            files: None,
        })
    }

    /// Uses a rustls configuration of your own (client certificates, another crypto provider,
    /// a certificate resolver). Its ALPN list is replaced by [`ALPN_HTTP1`]: the server speaks
    /// HTTP/1.1 only.
    pub fn from_server_config(config: impl Into<Arc<ServerConfig>>) -> TlsConfig {
        TlsConfig {
            current: Arc::new(ArcSwap::new(http1_only(config.into()))),
            files: None,
        }
    }

    /// Reads the PEM files again (after a renewal) and uses them for every new handshake;
    /// live connections keep theirs. On an error the configuration in use stays.
    ///
    /// # Errors
    /// As [`from_pem_files`](Self::from_pem_files); [`TlsError::NotFromFiles`] for a
    /// configuration made otherwise.
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = self.files.as_deref().ok_or(TlsError::NotFromFiles)?;
        let config = load_files(&files.0, &files.1)?;
        self.current.store(Arc::new(config));
        Ok(())
    }

    /// Uses `config` for every new handshake (its ALPN list replaced by [`ALPN_HTTP1`]); live
    /// connections keep theirs. A later [`reload`](Self::reload) reads the PEM files again, if
    /// there are any.
    pub fn replace(&self, config: impl Into<Arc<ServerConfig>>) {
        self.current.store(http1_only(config.into()));
    }

    /// The configuration new handshakes use now.
    pub fn current(&self) -> Arc<ServerConfig> {
        self.current.load_full()
    }

    /// The PEM files this configuration reloads from, if any: (certificate chain, key).
    pub fn files(&self) -> Option<(&Path, &Path)> {
        self.files
            .as_deref()
            .map(|(c, k)| (c.as_path(), k.as_path()))
    }
}

/// `config`, with HTTP/1.1 as its only ALPN protocol.
fn http1_only(config: Arc<ServerConfig>) -> Arc<ServerConfig> {
    if config.alpn_protocols == [ALPN_HTTP1] {
        return config;
    }
    let mut config = Arc::unwrap_or_clone(config);
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Arc::new(config)
}

fn load_files(cert: &Path, key: &Path) -> Result<ServerConfig, TlsError> {
    let read = |what, path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            what,
            path: path.to_path_buf(),
            source,
        })
    };
    let chain = certificates(&read("certificate", cert)?, Some(cert))?;
    let private = private_key(&read("private key", key)?, Some(key))?;
    server_config(chain, private).map_err(|e| match e {
        TlsError::Rustls(e) => TlsError::Key {
            path: Some(key.to_path_buf()),
            problem: format!(
                "refused: {e} (is it the key of the certificate in {}?)",
                cert.display()
            ),
        },
        e => e,
    })
}

fn certificates(pem: &[u8], path: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |problem: String| TlsError::Certificate {
        path: path.map(Path::to_path_buf),
        problem,
    };
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("malformed PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad("no `BEGIN CERTIFICATE` section in it".to_owned()));
    }
    Ok(chain)
}

fn private_key(pem: &[u8], path: Option<&Path>) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| TlsError::Key {
        path: path.map(Path::to_path_buf),
        problem: match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no `BEGIN PRIVATE KEY` (PKCS#8), `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE \
                 KEY` section in it"
                    .to_owned()
            }
            e => format!("malformed PEM: {e}"),
        },
    })
}

fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    Ok(config)
}
