//! Example tollgate policy: artifacts must come from an allowed registry, may not use a
//! mutable tag such as `latest`, and (optionally) must be pinned by digest.

use serde::Deserialize;
use tollgate_sdk::host::ArtifactKind;
use tollgate_sdk::{Artifact, Error, Finding, PluginInfo, Policy, Result, Transition, Verdict, export_policy};

/// Configuration, as written under the policy's `config:` in tollgate.yaml.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Image prefixes that may be deployed, e.g. `registry.example.com/shop/`.
    pub allowed_registries: Vec<String>,
    /// Deny artifacts without a `sha256:` digest.
    #[serde(default)]
    pub require_digest: bool,
    /// Versions that are mutable tags and never allowed.
    #[serde(default = "default_forbidden_versions")]
    pub forbidden_versions: Vec<String>,
}

fn default_forbidden_versions() -> Vec<String> {
    vec!["latest".to_string()]
}

/// The policy.
pub struct ImagePolicy;

impl Policy for ImagePolicy {
    type Config = Config;

    fn info() -> PluginInfo {
        PluginInfo::new(
            "image-policy",
            env!("CARGO_PKG_VERSION"),
            "Artifacts come from an allowed registry, use an immutable version, and are pinned by digest when required",
        )
    }

    fn validate(config: &Config) -> Result<()> {
        if config.allowed_registries.is_empty() {
            return Err(Error::new("config.allowed_registries: list at least one image prefix, e.g. registry.example.com/"));
        }
        Ok(())
    }

    fn evaluate(config: &Config, transition: &Transition) -> Result<Verdict> {
        // A multi-artifact application moves every artifact together: check each image
        // (WIT 0.1.1); a single image is `transition.artifact`. Helm charts and Git
        // revisions are not images: they are skipped (their kinds come from WIT 0.1.3).
        let named = tollgate_sdk::host::transition_artifacts();
        let is_image = |name: &str| tollgate_sdk::host::artifact_kind(name) == ArtifactKind::Image;
        let artifacts: Vec<&Artifact> = if named.is_empty() {
            if is_image(&transition.application) { vec![&transition.artifact] } else { Vec::new() }
        } else {
            named.iter().filter(|named| is_image(&named.name)).map(|named| &named.artifact).collect()
        };
        let mut findings = Vec::new();
        for artifact in artifacts {
            check(config, artifact, &transition.to_env, &mut findings);
        }
        Ok(Verdict::deny_if_any(findings))
    }
}

fn check(config: &Config, artifact: &Artifact, to_env: &str, findings: &mut Vec<Finding>) {
    if !config.allowed_registries.iter().any(|prefix| artifact.image.starts_with(prefix.as_str())) {
        findings.push(Finding::new(format!(
            "{} is not from an allowed registry (allowed: {})",
            artifact.image,
            config.allowed_registries.join(", ")
        )));
    }
    if config.forbidden_versions.iter().any(|version| version == &artifact.version) {
        findings.push(Finding::new(format!("version {} is a mutable tag; promote an immutable version", artifact.version)));
    }
    match &artifact.digest {
        None if config.require_digest => findings.push(Finding::new(format!(
            "{}:{} is not pinned by digest; {to_env} requires a sha256 digest",
            artifact.image, artifact.version
        ))),
        Some(digest) if !is_sha256_digest(digest) => {
            findings.push(Finding::new(format!("digest {digest:?} is not of the form sha256:<64 hex digits>")))
        }
        _ => {}
    }
}

fn is_sha256_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
}

export_policy!(ImagePolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::testing::{self, transition};

    const CONFIG: &str = r#"{"allowed_registries": ["registry.example.com/"], "require_digest": true}"#;
    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn checks_every_artifact_of_a_multi_artifact_application() {
        let pinned = |image: &str| Artifact { image: image.into(), version: "1.3.0".into(), digest: Some(DIGEST.into()) };
        testing::set_transition_artifacts(vec![
            tollgate_sdk::NamedArtifact { name: "api".into(), artifact: pinned("registry.example.com/shop/api"), previous: None },
            tollgate_sdk::NamedArtifact { name: "worker".into(), artifact: pinned("docker.io/evil/worker"), previous: None },
        ]);
        // The transition's own artifact (the primary's image, the set's version) passes; the worker does not.
        let t = transition().image("registry.example.com/shop/api").version("1.3.0").digest(DIGEST).build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        testing::reset();
        assert_eq!(verdict.decision, tollgate_sdk::Decision::Deny);
        assert_eq!(verdict.findings.len(), 1, "{verdict:?}");
        assert!(verdict.findings[0].message.starts_with("docker.io/evil/worker is not from an allowed registry"), "{verdict:?}");
    }

    #[test]
    fn skips_helm_charts_and_git_revisions() {
        let chart = Artifact { image: "oci://charts.example.org/shop".into(), version: "0.4.0".into(), digest: None };
        testing::set_transition_artifacts(vec![
            tollgate_sdk::NamedArtifact { name: "api".into(), artifact: Artifact { image: "registry.example.com/shop/api".into(), version: "1.3.0".into(), digest: Some(DIGEST.into()) }, previous: None },
            tollgate_sdk::NamedArtifact { name: "chart".into(), artifact: chart, previous: None },
        ]);
        testing::set_transition_artifact_kinds(&[("api", ArtifactKind::Image), ("chart", ArtifactKind::HelmChart)]);
        let t = transition().image("registry.example.com/shop/api").version("set-0123").digest(DIGEST).build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        testing::reset();
        assert_eq!(verdict, Verdict::allow(), "the chart is not an image");
        // A single-artifact application that is a Git revision has no image to check.
        testing::set_transition_artifact_kinds(&[("base", ArtifactKind::GitRevision)]);
        let t = transition().application("base").image("https://git.example.org/base").version("v1.0.0").build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        testing::reset();
        assert_eq!(verdict, Verdict::allow());
    }

    #[test]
    fn allows_a_pinned_image_from_an_allowed_registry() {
        let t = transition().image("registry.example.com/shop/api").version("1.4.2").digest(DIGEST).build();
        assert_eq!(testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap(), Verdict::allow());
    }

    #[test]
    fn denies_other_registries_and_names_the_allowed_ones() {
        let t = transition().image("docker.io/evil/api").digest(DIGEST).build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        assert!(!verdict.is_allow());
        assert_eq!(
            verdict.findings[0].message,
            "docker.io/evil/api is not from an allowed registry (allowed: registry.example.com/)"
        );
    }

    #[test]
    fn denies_missing_digest_and_mutable_tag_together() {
        let t = transition().image("registry.example.com/api").version("latest").to_env("prod").build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        let messages: Vec<_> = verdict.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "version latest is a mutable tag; promote an immutable version",
                "registry.example.com/api:latest is not pinned by digest; prod requires a sha256 digest",
            ]
        );
    }

    #[test]
    fn rejects_malformed_digests() {
        let t = transition().image("registry.example.com/api").digest("sha256:XYZ").build();
        let verdict = testing::evaluate::<ImagePolicy>(CONFIG, &t).unwrap();
        assert!(verdict.findings[0].message.contains("not of the form sha256:<64 hex digits>"));
    }

    #[test]
    fn config_errors_name_the_field() {
        let error = testing::validate::<ImagePolicy>(r#"{"allowed_registries": [], "require_digest": true}"#).unwrap_err();
        assert!(error.message().starts_with("config.allowed_registries: "), "{error}");
        let error = testing::validate::<ImagePolicy>(r#"{"allowed_registries": ["x/"], "require_digst": true}"#).unwrap_err();
        assert!(error.message().contains("unknown field `require_digst`"), "{error}");
        let error = testing::validate::<ImagePolicy>(r#"{"allowed_registries": "x/"}"#).unwrap_err();
        assert!(error.message().starts_with("config.allowed_registries: invalid type"), "{error}");
    }
}
