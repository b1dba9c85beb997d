//! SSHSIG signatures: verified in-process with the `ssh-key` crate (Ed25519, ECDSA P-256/384,
//! RSA with SHA-2), made by `ssh-keygen -Y sign` exactly as Git does it, so keys in
//! ssh-agent and on hardware tokens work.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ssh_key::{PublicKey, SshSig};

use super::allowed_signers::{AllowedSigners, VerifiedSigner, fingerprint};

/// Parse an armored signature (`-----BEGIN SSH SIGNATURE-----`).
pub fn parse(armored: &str) -> Result<SshSig, String> {
    SshSig::from_pem(armored.trim().as_bytes()).map_err(|error| format!("not a valid SSH signature ({error})"))
}

/// The key that made `signature`.
pub fn signer_key(signature: &SshSig) -> PublicKey {
    PublicKey::from(signature.public_key().clone())
}

/// Check that `signature` is over exactly `message` in `namespace` (cryptography only; who
/// may sign is [`AllowedSigners::authorize`]'s question).
pub fn check_signature(signature: &SshSig, namespace: &str, message: &[u8]) -> Result<PublicKey, String> {
    if signature.namespace() != namespace {
        return Err(format!(
            "the signature is for namespace {:?}, not {namespace:?} (a signature made for another purpose)",
            signature.namespace()
        ));
    }
    let key = signer_key(signature);
    key.verify(namespace, message, signature).map_err(|error| {
        format!("the signature by key {} does not match the signed bytes ({error}): they were changed after signing", fingerprint(&key))
    })?;
    Ok(key)
}

/// Verify `armored` over `message` in `namespace`, made by a key `signers` allow for
/// `principal` at every one of `times`.
pub fn verify_for(
    signers: &AllowedSigners,
    namespace: &str,
    principal: &str,
    message: &[u8],
    armored: &str,
    times: &[i64],
) -> Result<VerifiedSigner, String> {
    let signature = parse(armored)?;
    let key = check_signature(&signature, namespace, message)?;
    signers.authorize(&key, principal, namespace, times)
}

/// Verify `armored` over `message` in `namespace` and find who signed it: the literal
/// principals the allowed signers list for its key (like `ssh-keygen -Y find-principals`).
pub fn verify_any(signers: &AllowedSigners, namespace: &str, message: &[u8], armored: &str, time: i64) -> Result<Vec<VerifiedSigner>, String> {
    let signature = parse(armored)?;
    let key = check_signature(&signature, namespace, message)?;
    signers.find_principals(&key, namespace, time)
}

/// The key to sign with, as Git names it (`user.signingKey`): a path to a private key (or to a
/// public key whose private half is in ssh-agent), or `key::ssh-ed25519 AAAA…` for a key in
/// the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigningKey {
    /// A key file.
    File(PathBuf),
    /// A literal public key; the private key is in ssh-agent.
    Literal(String),
}

impl SigningKey {
    /// `--key VALUE` or Git's `user.signingKey` value.
    pub fn from_setting(value: &str) -> SigningKey {
        let value = value.trim();
        if let Some(literal) = value.strip_prefix("key::") {
            return SigningKey::Literal(literal.to_string());
        }
        if value.starts_with("ssh-") || value.starts_with("ecdsa-sha2-") || value.starts_with("sk-") {
            return SigningKey::Literal(value.to_string());
        }
        match value.strip_prefix("~/") {
            Some(rest) => SigningKey::File(std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(rest)),
            None => SigningKey::File(PathBuf::from(value)),
        }
    }

    /// `explicit` (e.g. `--key`), else Git's `user.signingKey` in `repo`'s configuration
    /// (the user's global configuration without a repository).
    pub fn resolve(explicit: Option<&str>, repo: Option<&git2::Repository>) -> Result<SigningKey, String> {
        if let Some(value) = explicit {
            return Ok(SigningKey::from_setting(value));
        }
        let config = match repo {
            Some(repo) => repo.config(),
            None => git2::Config::open_default(),
        }
        .map_err(|error| error.message().to_string())?;
        match config.get_string("user.signingKey") {
            Ok(value) if !value.trim().is_empty() => Ok(SigningKey::from_setting(&value)),
            _ => Err("no signing key: pass --key ~/.ssh/id_ed25519 or set it once with \
                      `git config user.signingKey ~/.ssh/id_ed25519`"
                .to_string()),
        }
    }

    /// The public key, when it can be known without the private key's passphrase: a literal
    /// key, `FILE` that is itself a public key, or `FILE.pub` next to it.
    pub fn public_key(&self) -> Option<PublicKey> {
        match self {
            SigningKey::Literal(text) => PublicKey::from_openssh(text).ok(),
            SigningKey::File(path) => {
                let read = |path: &Path| std::fs::read_to_string(path).ok().and_then(|text| PublicKey::from_openssh(text.trim()).ok());
                read(path).or_else(|| {
                    let mut pub_path = path.clone().into_os_string();
                    pub_path.push(".pub");
                    read(Path::new(&pub_path))
                })
            }
        }
    }
}

/// Sign `message` in `namespace` with `ssh-keygen -Y sign` (or Git's `gpg.ssh.program` when
/// `program` names one) and return the armored signature.
pub fn sign(key: &SigningKey, namespace: &str, message: &[u8], program: Option<&str>) -> Result<String, String> {
    let program = program.unwrap_or("ssh-keygen");
    let mut command = Command::new(program);
    command.args(["-Y", "sign", "-n", namespace]);
    // A literal key lives in the agent: write the public key to a file and sign with -U,
    // as Git does.
    let _literal_file;
    match key {
        SigningKey::File(path) => {
            if !path.exists() {
                return Err(format!("signing key {} does not exist", path.display()));
            }
            command.arg("-f").arg(path);
        }
        SigningKey::Literal(text) => {
            let mut file = tempfile::NamedTempFile::new().map_err(|error| format!("cannot write a temporary key file ({error})"))?;
            file.write_all(format!("{}\n", text.trim()).as_bytes()).map_err(|error| format!("cannot write a temporary key file ({error})"))?;
            command.arg("-U").arg("-f").arg(file.path());
            _literal_file = file;
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|error| format!("cannot run {program} ({error}); install OpenSSH's ssh-keygen (Debian: apt-get install openssh-client)"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let message = message.to_vec();
    // Write on another thread so a large message cannot deadlock against a full stdout pipe.
    let writer = std::thread::spawn(move || stdin.write_all(&message));
    let output = child.wait_with_output().map_err(|error| format!("{program} failed ({error})"))?;
    let _ = writer.join();
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!("{program} -Y sign failed: {}", stderr.trim()));
    }
    let armored = String::from_utf8(output.stdout).map_err(|_| format!("{program} -Y sign printed something that is not a signature"))?;
    parse(&armored)?;
    Ok(armored)
}

/// Git's `gpg.ssh.program`, when configured (in `repo`, else the user's global configuration).
pub fn git_ssh_program(repo: Option<&git2::Repository>) -> Option<String> {
    let config = match repo {
        Some(repo) => repo.config().ok()?,
        None => git2::Config::open_default().ok()?,
    };
    config.get_string("gpg.ssh.program").ok().filter(|program| !program.trim().is_empty())
}
