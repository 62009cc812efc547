//! The cluster's certificates and keys, made in-process with rcgen: a CA,
//! the API server's serving certificate, one admin client certificate
//! (`system:masters`, used by the controllers, kwok and the kubeconfig) and
//! the service-account signing key. ECDSA P-256 throughout.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::{KwokError, io_err};

/// The Service IP of `kubernetes.default` (first of the service range).
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";
const KUBERNETES_SERVICE_IP: &str = "10.96.0.1";

/// Where [`write`] put each file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiPaths {
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub apiserver_cert: PathBuf,
    pub apiserver_key: PathBuf,
    pub admin_cert: PathBuf,
    pub admin_key: PathBuf,
    pub sa_key: PathBuf,
    pub sa_pub: PathBuf,
}

impl PkiPaths {
    pub fn in_dir(dir: &Path) -> PkiPaths {
        PkiPaths {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            apiserver_cert: dir.join("apiserver.crt"),
            apiserver_key: dir.join("apiserver.key"),
            admin_cert: dir.join("admin.crt"),
            admin_key: dir.join("admin.key"),
            sa_key: dir.join("sa.key"),
            sa_pub: dir.join("sa.pub"),
        }
    }
}

/// PEM texts of everything the control plane needs.
struct Pki {
    ca_cert: String,
    ca_key: String,
    apiserver_cert: String,
    apiserver_key: String,
    admin_cert: String,
    admin_key: String,
    sa_key: String,
    sa_pub: String,
}

fn generate() -> Result<Pki, rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "inferbench-kwok-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, &ca_key);

    let api_key = KeyPair::generate()?;
    let mut api = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        KUBERNETES_SERVICE_IP.to_string(),
        "kubernetes".to_string(),
        "kubernetes.default".to_string(),
        "kubernetes.default.svc".to_string(),
        "kubernetes.default.svc.cluster.local".to_string(),
    ])?;
    api.distinguished_name
        .push(DnType::CommonName, "kube-apiserver");
    api.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    api.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let api_cert = api.signed_by(&api_key, &issuer)?;

    let admin_key = KeyPair::generate()?;
    let mut admin = CertificateParams::new(Vec::<String>::new())?;
    admin
        .distinguished_name
        .push(DnType::CommonName, "kubernetes-admin");
    admin
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    admin.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    admin.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin_cert = admin.signed_by(&admin_key, &issuer)?;

    let sa = KeyPair::generate()?;
    Ok(Pki {
        ca_cert: ca_cert.pem(),
        ca_key: ca_key.serialize_pem(),
        apiserver_cert: api_cert.pem(),
        apiserver_key: api_key.serialize_pem(),
        admin_cert: admin_cert.pem(),
        admin_key: admin_key.serialize_pem(),
        sa_key: sa.serialize_pem(),
        sa_pub: sa.public_key_pem(),
    })
}

/// Generates a fresh PKI into `dir` (keys mode 600).
pub fn write(dir: &Path) -> Result<PkiPaths, KwokError> {
    let pki = generate()?;
    std::fs::create_dir_all(dir).map_err(io_err(format!("creating {}", dir.display())))?;
    let paths = PkiPaths::in_dir(dir);
    for (path, text) in [
        (&paths.ca_cert, &pki.ca_cert),
        (&paths.ca_key, &pki.ca_key),
        (&paths.apiserver_cert, &pki.apiserver_cert),
        (&paths.apiserver_key, &pki.apiserver_key),
        (&paths.admin_cert, &pki.admin_cert),
        (&paths.admin_key, &pki.admin_key),
        (&paths.sa_key, &pki.sa_key),
        (&paths.sa_pub, &pki.sa_pub),
    ] {
        write_private(path, text)?;
    }
    Ok(paths)
}

pub(crate) fn write_private(path: &Path, text: &str) -> Result<(), KwokError> {
    std::fs::write(path, text).map_err(io_err(format!("writing {}", path.display())))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err(format!("chmod {}", path.display())))
}

/// A kubeconfig for `server` authenticating with the admin certificate
/// (by path: the files stay in the cluster folder).
pub fn kubeconfig(cluster: &str, server: &str, paths: &PkiPaths) -> String {
    let q = |p: &Path| serde_json::Value::String(p.display().to_string()).to_string();
    let ctx = format!("kwok-{cluster}");
    format!(
        "apiVersion: v1\n\
         kind: Config\n\
         clusters:\n\
         - name: {ctx}\n  \
           cluster:\n    \
             server: {server}\n    \
             certificate-authority: {ca}\n\
         users:\n\
         - name: {ctx}-admin\n  \
           user:\n    \
             client-certificate: {cert}\n    \
             client-key: {key}\n\
         contexts:\n\
         - name: {ctx}\n  \
           context:\n    \
             cluster: {ctx}\n    \
             user: {ctx}-admin\n\
         current-context: {ctx}\n",
        ca = q(&paths.ca_cert),
        cert = q(&paths.admin_cert),
        key = q(&paths.admin_key),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_every_file_as_pem() {
        let dir = std::env::temp_dir().join(format!("inferbench-kwok-pki-{}", std::process::id()));
        let paths = write(&dir).expect("pki");
        let read = |p: &Path| std::fs::read_to_string(p).expect("read");
        assert!(read(&paths.ca_cert).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(&paths.apiserver_cert).starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(read(&paths.admin_key).starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(read(&paths.sa_pub).starts_with("-----BEGIN PUBLIC KEY-----"));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&paths.sa_key)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kubeconfig_parses_and_points_at_the_files() {
        let paths = PkiPaths::in_dir(Path::new("/c/x y/pki"));
        let text = kubeconfig("x", "https://127.0.0.1:6443", &paths);
        let kc: kube::config::Kubeconfig = yaml_serde::from_str(&text).expect("kubeconfig");
        assert_eq!(kc.current_context.as_deref(), Some("kwok-x"));
        let cluster = kc.clusters[0].cluster.as_ref().expect("cluster");
        assert_eq!(cluster.server.as_deref(), Some("https://127.0.0.1:6443"));
        assert_eq!(
            cluster.certificate_authority.as_deref(),
            Some("/c/x y/pki/ca.crt")
        );
    }
}
