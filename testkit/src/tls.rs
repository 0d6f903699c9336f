//! [`TestCa`]: a certificate authority made for one test, and a server certificate it signed, as
//! PEM files in a temporary directory: what a TLS listener (mosquitto's, nginx's) and its clients
//! need, with no key committed anywhere and nothing to expire in the repository.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::Error;
use crate::instance::write_config;

/// The names the server certificate of [`TestCa::generate`] is for: the loopback address every
/// test server listens on, and its usual name.
pub const LOOPBACK_NAMES: [&str; 2] = ["127.0.0.1", "localhost"];

/// A CA and a server certificate it signed, in a temporary directory removed on drop:
/// `ca.crt` (the CA's certificate, what clients trust), `server.crt` and `server.key` (what the
/// server presents). The CA's own key is never written.
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
}

impl TestCa {
    /// A CA and a certificate for [`LOOPBACK_NAMES`].
    ///
    /// # Errors
    ///
    /// [`Error::Certificate`] or [`Error::TempDir`] / [`Error::Write`].
    pub fn generate() -> Result<TestCa, Error> {
        TestCa::generate_for(&LOOPBACK_NAMES)
    }

    /// A CA and a server certificate for `names` (host names or IP addresses): give other
    /// names than the server's to test a client's host-name check.
    ///
    /// # Errors
    ///
    /// As [`TestCa::generate`].
    pub fn generate_for(names: &[&str]) -> Result<TestCa, Error> {
        let certificate = |source| Error::Certificate { source };
        let ca_key = KeyPair::generate().map_err(certificate)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(certificate)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Garonne test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(certificate)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(certificate)?;
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut server_params = CertificateParams::new(names.clone()).map_err(certificate)?;
        server_params.distinguished_name.push(
            DnType::CommonName,
            names.first().cloned().unwrap_or_default(),
        );
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(certificate)?;

        let dir = tempfile::Builder::new()
            .prefix("garonne-tls-")
            .tempdir()
            .map_err(|source| Error::TempDir {
                name: "tls".to_owned(),
                source,
            })?;
        let ca = TestCa { dir };
        write_config(&ca.ca_file(), &ca_cert.pem())?;
        write_config(&ca.cert_file(), &server_cert.pem())?;
        write_config(&ca.key_file(), &server_key.serialize_pem())?;
        Ok(ca)
    }

    /// The directory holding the three files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA's certificate (PEM): what a client trusts.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.crt")
    }

    /// The server's certificate (PEM).
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("server.crt")
    }

    /// The server's private key (PEM, PKCS#8).
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// Lines of mosquitto.conf(5) for a TLS listener on 127.0.0.1 and `port` with this
    /// certificate (TLS 1.2 and later).
    pub fn mosquitto_listener(&self, port: u16) -> String {
        format!(
            "listener {port} 127.0.0.1\n\
             cafile {}\n\
             certfile {}\n\
             keyfile {}\n\
             tls_version tlsv1.2\n",
            self.ca_file().display(),
            self.cert_file().display(),
            self.key_file().display()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_files_are_pem_and_the_ca_key_is_not_among_them() -> Result<(), Error> {
        let ca = TestCa::generate()?;
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        assert!(read(ca.ca_file()).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(ca.cert_file()).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(ca.key_file()).starts_with("-----BEGIN PRIVATE KEY-----"));
        let files = std::fs::read_dir(ca.dir())
            .map(Iterator::count)
            .unwrap_or(0);
        assert_eq!(files, 3);
        let lines = ca.mosquitto_listener(8883);
        assert!(
            lines.starts_with("listener 8883 127.0.0.1\ncafile "),
            "{lines}"
        );
        Ok(())
    }
}
