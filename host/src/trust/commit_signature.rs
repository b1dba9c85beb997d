//! Signed promotion commits in Git's own format: the commit buffer is signed with
//! `ssh-keygen -Y sign -n git` (as Git does with `gpg.format=ssh`) and stored in the
//! `gpgsig` header, so `git verify-commit` (with `gpg.ssh.allowedSignersFile`) and
//! `git log --show-signature` accept it; tollgate verifies it in-process against the
//! repository's allowed signers.

use git2::{Commit, ErrorCode, Oid, Repository, Signature, Tree};

use super::allowed_signers::{AllowedSigners, VerifiedSigner};
use super::sshsig::{self, SigningKey};
use super::NAMESPACE_GIT;

/// Whether Git is configured to sign commits with an SSH key (`gpg.format=ssh`,
/// `commit.gpgsign=true`), and with which key (`user.signingKey`).
pub fn git_signing_key(git: &Repository) -> Result<Option<SigningKey>, String> {
    let config = git.config().map_err(|error| error.message().to_string())?;
    let sign = config.get_bool("commit.gpgsign").unwrap_or(false);
    let format = config.get_string("gpg.format").unwrap_or_default();
    if !sign || !format.eq_ignore_ascii_case("ssh") {
        return Ok(None);
    }
    SigningKey::resolve(None, Some(git)).map(Some).map_err(|_| {
        "commit.gpgsign and gpg.format=ssh are set but user.signingKey is not; set it with \
         `git config user.signingKey ~/.ssh/id_ed25519`"
            .to_string()
    })
}

/// Create a commit object (no ref moves): signed in Git's format when Git is configured to
/// sign commits with an SSH key, plain otherwise.
pub fn create_commit(git: &Repository, author: &Signature<'_>, message: &str, tree: &Tree<'_>, parents: &[&Commit<'_>]) -> Result<Oid, String> {
    match git_signing_key(git)? {
        None => git.commit(None, author, author, message, tree, parents).map_err(|error| error.message().to_string()),
        Some(key) => create_signed_commit(git, author, message, tree, parents, &key),
    }
}

/// Create a commit object signed with `key` (namespace `git`).
pub fn create_signed_commit(
    git: &Repository,
    author: &Signature<'_>,
    message: &str,
    tree: &Tree<'_>,
    parents: &[&Commit<'_>],
    key: &SigningKey,
) -> Result<Oid, String> {
    let buffer = git.commit_create_buffer(author, author, message, tree, parents).map_err(|error| error.message().to_string())?;
    let content = buffer.as_str().map_err(|_| "the commit is not UTF-8".to_string())?;
    let signature = sshsig::sign(key, NAMESPACE_GIT, content.as_bytes(), sshsig::git_ssh_program(Some(git)).as_deref())
        .map_err(|error| format!("cannot sign the promotion commit: {error}"))?;
    git.commit_signed(content, signature.trim_end(), None).map_err(|error| error.message().to_string())
}

/// The state of a commit's signature.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "status")]
pub enum CommitSignature {
    /// Signed by an allowed signer.
    Good {
        /// The principal.
        principal: String,
        /// `SHA256:…` of the key.
        key: String,
    },
    /// Not signed.
    Missing,
    /// Signed, but the signature does not verify or the key is not allowed.
    Bad {
        /// Why.
        reason: String,
    },
}

impl CommitSignature {
    /// A line for people.
    pub fn describe(&self) -> String {
        match self {
            CommitSignature::Good { principal, key } => format!("good signature by {principal} (key {key})"),
            CommitSignature::Missing => "not signed".to_string(),
            CommitSignature::Bad { reason } => format!("bad signature: {reason}"),
        }
    }
}

/// Verify `commit`'s signature against `signers` (namespace `git`, at the committer time).
pub fn verify_commit(git: &Repository, signers: &AllowedSigners, commit: Oid) -> CommitSignature {
    let (signature, signed) = match git.extract_signature(&commit, None) {
        Ok(parts) => parts,
        Err(error) if error.code() == ErrorCode::NotFound => return CommitSignature::Missing,
        Err(error) => return CommitSignature::Bad { reason: error.message().to_string() },
    };
    let time = match git.find_commit(commit) {
        Ok(commit) => commit.committer().when().seconds(),
        Err(error) => return CommitSignature::Bad { reason: error.message().to_string() },
    };
    let Ok(armored) = signature.as_str() else { return CommitSignature::Bad { reason: "the signature is not text".into() } };
    if !armored.trim_start().starts_with("-----BEGIN SSH SIGNATURE-----") {
        return CommitSignature::Bad { reason: "not an SSH signature (OpenPGP and X.509 signatures are not checked by tollgate)".into() };
    }
    match sshsig::verify_any(signers, NAMESPACE_GIT, &signed, armored, time) {
        Ok(found) => {
            let first: &VerifiedSigner = &found[0];
            CommitSignature::Good { principal: first.principal.clone(), key: first.fingerprint.clone() }
        }
        Err(reason) => CommitSignature::Bad { reason },
    }
}

/// Before promoting into `env`: when the trust configuration requires signed commits there,
/// Git must be set up to sign with an SSH key the allowed signers list (namespace `git`), and
/// the requester `actor` must be that key's principal — the signature is what makes the
/// requester known, so approval-count's "no self-approval" cannot be dodged with `--actor`.
pub fn require_signing(repo: &crate::repo::GitRepo, config: &crate::config::Config, env: &str, actor: &str) -> Result<(), String> {
    if !super::required(config, env).signed_commits {
        return Ok(());
    }
    let how = "configure Git to sign with your SSH key: git config gpg.format ssh; \
               git config user.signingKey ~/.ssh/id_ed25519; git config commit.gpgsign true";
    let key = git_signing_key(repo.git())?
        .ok_or_else(|| format!("promotions into {env} must be signed commits (trust.environments.{env}.signed_commits); {how}"))?;
    if let (Some(public), Some(signers)) = (key.public_key(), super::load_allowed_signers(repo, config)?) {
        let principals = signers
            .find_principals(&public, NAMESPACE_GIT, jiff::Timestamp::now().as_second())
            .map_err(|error| format!("promotions into {env} must be signed by an allowed signer, but your signing key cannot sign: {error}"))?;
        if !principals.iter().any(|signer| same_principal(&signer.principal, actor)) {
            let names: Vec<&str> = principals.iter().map(|signer| signer.principal.as_str()).collect();
            return Err(format!(
                "promotions into {env} are signed commits, so the requester is the signer: your key signs as {}, \
                 but the requester is {actor:?}; pass --actor {}",
                names.join(" or "),
                names[0]
            ));
        }
    }
    Ok(())
}

/// Principals are compared as approval-count compares people: NFKC-normalised, case-folded,
/// ignoring surrounding space ([`crate::input::identity_key`]).
pub fn same_principal(a: &str, b: &str) -> bool {
    crate::input::identity_key(a) == crate::input::identity_key(b)
}
