//! HTTPS: the certificate chain and key from PEM files, re-read on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::cli::CliError;

/// The acceptor in use, and where its files are.
pub struct Reloadable {
    cert: PathBuf,
    key: PathBuf,
    acceptor: RwLock<TlsAcceptor>,
}

impl Reloadable {
    pub fn load(cert: &Path, key: &Path) -> Result<Self, CliError> {
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            acceptor: RwLock::new(acceptor(cert, key)?),
        })
    }

    pub fn reload(&self) -> Result<(), CliError> {
        let fresh = acceptor(&self.cert, &self.key)?;
        match self.acceptor.write() {
            Ok(mut a) => *a = fresh,
            Err(p) => *p.into_inner() = fresh,
        }
        Ok(())
    }

    pub fn current(&self) -> TlsAcceptor {
        match self.acceptor.read() {
            Ok(a) => a.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, CliError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            CliError::Message(format!(
                "TLS certificate {}: cannot be read as PEM ({e}); give the certificate chain in PEM form",
                cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(CliError::Message(format!(
            "TLS certificate {}: holds no certificate; give the certificate chain in PEM form",
            cert.display()
        )));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        CliError::Message(format!(
            "TLS key {}: cannot be read as a PEM private key ({e}); give the key in PEM form (PKCS#8, PKCS#1 or SEC1)",
            key.display()
        ))
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CliError::Message(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, private)
        .map_err(|e| {
            CliError::Message(format!(
                "TLS certificate {} and key {} do not make a usable pair: {e}",
                cert.display(),
                key.display()
            ))
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
