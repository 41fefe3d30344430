//! Certificates and keys made with the `openssl` command: [`ca`] makes a self-signed CA,
//! [`sign`] a [`Leaf`] signed by it. ECDSA P-256 throughout: key generation is instant, and
//! every consumer here (Kubernetes, PostgreSQL, rustls) accepts it. Used by the cluster's
//! PKI and by the native stack's PostgreSQL in TLS mode.

use std::path::Path;
use std::process::Command;

use crate::{HarnessError, Result};

/// One leaf certificate: file stem, subject, signing CA, usages and names.
pub struct Leaf {
    /// File stem: `<name>.key`, `<name>.crt`.
    pub name: &'static str,
    /// Subject, as `openssl -subj` takes it.
    pub subject: String,
    /// File stem of the signing CA.
    pub ca: &'static str,
    /// For TLS servers.
    pub server: bool,
    /// For TLS clients.
    pub client: bool,
    /// Subject alternative names (`DNS:…`, `IP:…`).
    pub sans: Vec<String>,
}

/// `openssl req` arguments for a new request with a new unencrypted P-256 key.
const NEW_P256_KEY: [&str; 6] = [
    "-new",
    "-nodes",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
];

/// A self-signed CA, `<name>.key` and `<name>.crt` in `dir`, valid for `days`.
pub fn ca(dir: &Path, name: &str, cn: &str, days: u32) -> Result<()> {
    openssl(
        &format!("{name} certificate"),
        Command::new("openssl")
            .args(["req", "-x509"])
            .args(NEW_P256_KEY)
            .args([
                "-days",
                &days.to_string(),
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
                "-keyout",
            ])
            .arg(dir.join(format!("{name}.key")))
            .arg("-out")
            .arg(dir.join(format!("{name}.crt"))),
    )
}

/// A key and a certificate for `leaf`, signed by its CA in `dir`, valid for `days`.
pub fn sign(dir: &Path, leaf: &Leaf, days: u32) -> Result<()> {
    let key = dir.join(format!("{}.key", leaf.name));
    let csr = dir.join(format!("{}.csr", leaf.name));
    let ext = dir.join(format!("{}.ext", leaf.name));
    openssl(
        &format!("{} key and request", leaf.name),
        Command::new("openssl")
            .args(["req"])
            .args(NEW_P256_KEY)
            .args(["-subj", &leaf.subject, "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&csr),
    )?;
    let usages: Vec<&str> = [(leaf.server, "serverAuth"), (leaf.client, "clientAuth")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, u)| *u)
        .collect();
    let mut extensions = format!(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={}\n",
        usages.join(",")
    );
    if !leaf.sans.is_empty() {
        extensions.push_str(&format!("subjectAltName={}\n", leaf.sans.join(",")));
    }
    std::fs::write(&ext, extensions).map_err(HarnessError::io("writing an extension file"))?;
    openssl(
        &format!("signing {}", leaf.name),
        Command::new("openssl")
            .args(["x509", "-req", "-days", &days.to_string(), "-in"])
            .arg(&csr)
            .arg("-CA")
            .arg(dir.join(format!("{}.crt", leaf.ca)))
            .arg("-CAkey")
            .arg(dir.join(format!("{}.key", leaf.ca)))
            .arg("-extfile")
            .arg(&ext)
            .arg("-out")
            .arg(dir.join(format!("{}.crt", leaf.name))),
    )?;
    let _ = std::fs::remove_file(&csr);
    let _ = std::fs::remove_file(&ext);
    Ok(())
}

/// Runs one `openssl` command; its failure names the package to install.
pub fn openssl(what: &str, cmd: &mut Command) -> Result<()> {
    crate::components::run_command(
        &format!("openssl: {what} (needs: apt-get install -y openssl)"),
        cmd,
    )
    .map(|_| ())
}
