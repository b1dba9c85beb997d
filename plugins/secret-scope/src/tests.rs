//! Native tests through the SDK's test double.

use super::*;
use tollgate_sdk::testing::{self, transition};

const CONFIG: &str = r#"{
    "environments": {
        "prod": {"allow": ["vault:secret/data/prod/*", "k8s:prod-*", "external:prod/*"]},
        "dev": {
            "allow": ["vault:secret/data/dev/*", "k8s:dev-*", "external:dev/*"],
            "deny": ["*/prod/*", "k8s:prod-*"]
        }
    }
}"#;

const SECRET: &str = "hunter2-correct-horse";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const GITHUB_TOKEN: &str = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789";

fn evaluate(env: &str, files: &[(&str, &str)]) -> Verdict {
    evaluate_with(CONFIG, env, files)
}

fn evaluate_with(config: &str, env: &str, files: &[(&str, &str)]) -> Verdict {
    let mut t = transition().to_env(env);
    for (path, content) in files {
        t = t.change(path, None, Some(content));
    }
    testing::evaluate::<SecretScope>(config, &t.build()).unwrap()
}

fn messages(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().map(|finding| finding.message.as_str()).collect()
}

fn paths(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().filter_map(|finding| finding.path.as_deref()).collect()
}

/// Nothing of a secret may appear in any finding, message or path.
fn assert_not_leaked(verdict: &Verdict, secret: &str) {
    for finding in &verdict.findings {
        assert!(!finding.message.contains(secret), "secret leaked in message: {}", finding.message);
        assert!(!finding.path.as_deref().unwrap_or("").contains(secret), "secret leaked in path: {:?}", finding.path);
    }
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  template:
    metadata:
      annotations:
        vault.hashicorp.com/agent-inject: \"true\"
        vault.hashicorp.com/agent-inject-secret-db: secret/data/prod/db
    spec:
      imagePullSecrets:
        - name: prod-registry
      containers:
        - name: api
          env:
            - name: LOG_LEVEL
              value: info
            - name: DB_URL
              value: postgres://db:5432/app
            - name: DB_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: prod-db
                  key: password
          envFrom:
            - secretRef:
                name: prod-api-env
      volumes:
        - name: tls
          secret:
            secretName: prod-tls
        - name: bundle
          projected:
            sources:
              - secret:
                  name: prod-bundle
";

#[test]
fn allows_an_environments_own_secrets() {
    let verdict = evaluate("prod", &[("envs/prod/api/deployment.yaml", DEPLOYMENT)]);
    assert_eq!(verdict, Verdict::allow());
}

#[test]
fn denies_a_dev_manifest_reaching_a_prod_secret_naming_file_path_and_reference() {
    let verdict = evaluate("dev", &[("envs/dev/api/deployment.yaml", &DEPLOYMENT.replace("prod-api-env", "dev-api-env"))]);
    assert!(!verdict.is_allow());
    let secret_key_ref = verdict
        .findings
        .iter()
        .find(|finding| finding.message.contains("k8s:prod-db"))
        .expect("a finding about prod-db");
    assert_eq!(
        secret_key_ref.path.as_deref(),
        Some("envs/dev/api/deployment.yaml#spec.template.spec.containers[0].env[2].valueFrom.secretKeyRef.name")
    );
    assert_eq!(
        secret_key_ref.message,
        "dev may not reference k8s:prod-db (matches denied pattern k8s:prod-*); secretKeyRef at line 24"
    );
    // Every other kind of reference is caught too, each with its own path.
    assert_eq!(
        paths(&verdict),
        [
            "envs/dev/api/deployment.yaml#spec.template.metadata.annotations[\"vault.hashicorp.com/agent-inject-secret-db\"]",
            "envs/dev/api/deployment.yaml#spec.template.spec.imagePullSecrets[0].name",
            "envs/dev/api/deployment.yaml#spec.template.spec.containers[0].env[2].valueFrom.secretKeyRef.name",
            "envs/dev/api/deployment.yaml#spec.template.spec.volumes[0].secret.secretName",
            "envs/dev/api/deployment.yaml#spec.template.spec.volumes[1].projected.sources[0].secret.name",
        ]
    );
    assert!(messages(&verdict)[0].starts_with(
        "dev may not reference vault:secret/data/prod/db (matches denied pattern */prod/*); Vault agent annotation at line 10"
    ));
}

#[test]
fn a_reference_matching_no_allow_pattern_is_denied() {
    let manifest = "spec:\n  containers:\n    - envFrom:\n        - secretRef:\n            name: shared-env\n";
    let verdict = evaluate("prod", &[("envs/prod/api.yaml", manifest)]);
    assert_eq!(
        messages(&verdict),
        ["prod may not reference k8s:shared-env: it matches no allowed pattern of environments.prod \
          (vault:secret/data/prod/*, k8s:prod-*, external:prod/*); secretRef at line 5"]
    );
    assert_eq!(paths(&verdict), ["envs/prod/api.yaml#spec.containers[0].envFrom[0].secretRef.name"]);
}

#[test]
fn deny_wins_over_allow() {
    let config = r#"{"environments": {"dev": {"allow": ["k8s:*"], "deny": ["k8s:prod-*"]}}}"#;
    let manifest = "env:\n  - name: X\n    valueFrom:\n      secretKeyRef: {name: prod-db, key: x}\n";
    let verdict = evaluate_with(config, "dev", &[("a.yaml", manifest)]);
    assert!(messages(&verdict)[0].contains("matches denied pattern k8s:prod-*"));
    let manifest = manifest.replace("prod-db", "dev-db");
    assert!(evaluate_with(config, "dev", &[("a.yaml", &manifest)]).is_allow());
}

#[test]
fn external_secret_keys_are_scoped() {
    let manifest = "\
apiVersion: external-secrets.io/v1beta1
kind: ExternalSecret
metadata: {name: db}
spec:
  secretStoreRef: {name: vault, kind: ClusterSecretStore}
  data:
    - secretKey: password
      remoteRef:
        key: prod/db
        property: password
  dataFrom:
    - extract:
        key: prod/api
";
    assert!(evaluate("prod", &[("envs/prod/db.yaml", manifest)]).is_allow());
    let verdict = evaluate("dev", &[("envs/dev/db.yaml", manifest)]);
    assert_eq!(
        messages(&verdict),
        [
            "dev may not reference external:prod/db: it matches no allowed pattern of environments.dev \
             (vault:secret/data/dev/*, k8s:dev-*, external:dev/*); ExternalSecret remoteRef.key at line 9",
            "dev may not reference external:prod/api: it matches no allowed pattern of environments.dev \
             (vault:secret/data/dev/*, k8s:dev-*, external:dev/*); ExternalSecret dataFrom extract.key at line 13",
        ]
    );
    assert_eq!(paths(&verdict), ["envs/dev/db.yaml#spec.data[0].remoteRef.key", "envs/dev/db.yaml#spec.dataFrom[0].extract.key"]);
}

#[test]
fn vault_templates_and_inline_vault_references_are_scoped() {
    let manifest = r#"
metadata:
  annotations:
    vault.hashicorp.com/agent-inject-template-db: |
      {{- with secret "secret/data/prod/db" -}}{{ .Data.data.password }}{{- end }}
spec:
  containers:
    - env:
        - name: API_KEY
          value: vault:secret/data/prod/api#key
        - name: OTHER
          value: <path:/secret/data/dev/other#token>
"#;
    let verdict = evaluate("dev", &[("d.yaml", manifest)]);
    let messages = messages(&verdict);
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].starts_with("dev may not reference vault:secret/data/prod/db (matches denied pattern */prod/*); Vault agent template"));
    assert!(messages[1].starts_with("dev may not reference vault:secret/data/prod/api (matches denied pattern */prod/*); inline Vault reference"));
    // `vault:1.15` is an image tag, not a Vault path.
    assert!(evaluate("dev", &[("d.yaml", "image: vault:1.15\n")]).is_allow());
}

#[test]
fn helm_style_secret_names_are_references_not_plaintext() {
    let values = "auth:\n  existingSecret: prod-db\ningress:\n  tls:\n    - secretName: prod-tls\n";
    assert!(evaluate("prod", &[("envs/prod/values.yaml", values)]).is_allow());
    let verdict = evaluate("dev", &[("envs/dev/values.yaml", values)]);
    assert_eq!(paths(&verdict), ["envs/dev/values.yaml#auth.existingSecret", "envs/dev/values.yaml#ingress.tls[0].secretName"]);
}

const SOPS_SECRET: &str = "\
apiVersion: v1
kind: Secret
metadata:
  name: prod-db
stringData:
  password: ENC[AES256_GCM,data:Zm9vYmFy,iv:aXY=,tag:dGFn,type:str]
  port: ENC[AES256_GCM,data:NTQzMg==,iv:aXY=,tag:dGFn,type:int]
sops:
  age:
    - recipient: age1qqqq
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWdl
        -----END AGE ENCRYPTED FILE-----
  lastmodified: \"2026-01-01T00:00:00Z\"
  mac: ENC[AES256_GCM,data:bWFj,iv:aXY=,tag:dGFn,type:str]
  encrypted_regex: ^(data|stringData)$
  version: 3.9.0
";

#[test]
fn a_sops_file_that_stays_encrypted_is_allowed() {
    let t = transition()
        .to_env("prod")
        .change("envs/prod/db.sops.yaml", Some(SOPS_SECRET), Some(&SOPS_SECRET.replace("Zm9vYmFy", "YmFyYmF6")))
        .build();
    assert_eq!(testing::evaluate::<SecretScope>(CONFIG, &t).unwrap(), Verdict::allow());
}

#[test]
fn a_sops_file_with_a_decrypted_value_is_denied_and_masked() {
    let after = SOPS_SECRET.replace("ENC[AES256_GCM,data:Zm9vYmFy,iv:aXY=,tag:dGFn,type:str]", SECRET);
    let verdict = evaluate("prod", &[("envs/prod/db.sops.yaml", &after)]);
    assert_eq!(
        messages(&verdict),
        ["stringData.password is not encrypted (hu**** (21 chars)) at line 6, but this is a SOPS file whose values \
          must all be ENC[...]; encrypt it again with sops before promoting"]
    );
    assert_eq!(paths(&verdict), ["envs/prod/db.sops.yaml#stringData.password"]);
    assert_not_leaked(&verdict, SECRET);
}

#[test]
fn a_sops_file_that_loses_its_encryption_is_denied() {
    let decrypted = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: prod-db\nstringData:\n  password: ENC-less\n";
    let t = transition().to_env("prod").change("envs/prod/db.sops.yaml", Some(SOPS_SECRET), Some(decrypted)).build();
    let verdict = testing::evaluate::<SecretScope>(CONFIG, &t).unwrap();
    assert!(!verdict.is_allow());
    assert_eq!(
        verdict.findings[0],
        Finding::new(
            "envs/prod/db.sops.yaml was SOPS-encrypted before this change and is not any more (its sops: block is gone); \
             encrypt it again with sops before promoting"
        )
        .at("envs/prod/db.sops.yaml")
    );
    // And the now-plaintext Secret is a finding of its own, masked.
    assert!(verdict.findings[1].message.starts_with("Kubernetes Secret prod-db keeps stringData.password in the repository unencrypted (**** (8 chars))"));
    assert_not_leaked(&verdict, "ENC-less");
}

#[test]
fn sops_default_rule_encrypts_everything_but_unencrypted_suffixes() {
    let file = "\
db:
  user_unencrypted: app
  password: ENC[AES256_GCM,data:eA==,type:str]
  port: 5432
sops:
  mac: ENC[AES256_GCM,data:bWFj,type:str]
  version: 3.9.0
";
    let verdict = evaluate("prod", &[("envs/prod/app.enc.yaml", file)]);
    assert_eq!(paths(&verdict), ["envs/prod/app.enc.yaml#db.port"]);
    assert!(messages(&verdict)[0].starts_with("db.port is not encrypted (**** (4 chars)) at line 4"));
}

#[test]
fn plaintext_password_is_denied_and_never_echoed() {
    let manifest = format!(
        "spec:\n  containers:\n    - name: api\n      env:\n        - name: DB_PASSWORD\n          value: {SECRET}\n"
    );
    let verdict = evaluate("prod", &[("envs/prod/api.yaml", &manifest)]);
    assert_eq!(
        messages(&verdict),
        ["env var DB_PASSWORD is a plaintext secret (hu**** (21 chars)) at line 6; reference a Kubernetes Secret, \
          Vault path or External Secret instead, or encrypt the file with SOPS"]
    );
    assert_eq!(paths(&verdict), ["envs/prod/api.yaml#spec.containers[0].env[0].value"]);
    assert_not_leaked(&verdict, SECRET);
}

#[test]
fn secret_looking_keys_in_any_spelling_are_checked() {
    for key in ["password", "apiKey", "api_key", "client_secret", "CLIENT-SECRET", "githubToken", "adminPassword"] {
        let verdict = evaluate("prod", &[("c.yaml", &format!("data:\n  {key}: {SECRET}\n"))]);
        assert!(!verdict.is_allow(), "{key}");
        assert!(messages(&verdict)[0].starts_with(&format!("{key} value is a plaintext secret (hu****")), "{key}");
        assert_not_leaked(&verdict, SECRET);
    }
    // A short numeric password is masked entirely.
    let verdict = evaluate("prod", &[("c.yaml", "password: 123456\n")]);
    assert!(messages(&verdict)[0].starts_with("password value is a plaintext secret (**** (6 chars))"));
    assert_not_leaked(&verdict, "123456");
}

#[test]
fn references_and_placeholders_are_not_plaintext() {
    let file = r#"
password: ""
token: ${API_TOKEN}
secret: "$(SECRET_FROM_ENV)"
apiKey: "{{ .Values.apiKey }}"
client_secret: ENC[AES256_GCM,data:eA==,type:str]
db_password: vault:secret/data/prod/db#password
enableToken: "true"
automountServiceAccountToken: false
secretName: prod-x
metadata:
  annotations:
    vault.hashicorp.com/agent-inject-token: "true"
"#;
    let verdict = evaluate("prod", &[("envs/prod/x.yaml", file)]);
    assert_eq!(verdict, Verdict::allow());
}

#[test]
fn well_known_token_shapes_are_denied_anywhere_and_masked() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\n-----END RSA PRIVATE KEY-----\n";
    let file = format!(
        "data:\n  notes: \"ci uses {AWS_KEY} for uploads\"\n  url: https://x-access-token:{GITHUB_TOKEN}@github.com/org/repo\n  \
         tls.key: |\n{}",
        key.lines().map(|line| format!("    {line}\n")).collect::<String>()
    );
    let verdict = evaluate("prod", &[("envs/prod/cm.yaml", &file)]);
    assert_eq!(
        messages(&verdict),
        [
            "an AWS access key id (AKIA****, 20 chars) in plaintext at line 2; remove it, rotate it if it was ever pushed, \
             and keep it in Vault or a SOPS-encrypted file",
            "a GitHub token (ghp_****, 40 chars) in plaintext at line 3; remove it, rotate it if it was ever pushed, \
             and keep it in Vault or a SOPS-encrypted file",
            "a private key block (-----BEGIN RSA PRIVATE KEY-----) in plaintext at line 5; remove it, rotate it if it was \
             ever pushed, and keep it in Vault or a SOPS-encrypted file",
        ]
    );
    assert_eq!(paths(&verdict), ["envs/prod/cm.yaml#data.notes", "envs/prod/cm.yaml#data.url", "envs/prod/cm.yaml#data[\"tls.key\"]"]);
    assert_not_leaked(&verdict, AWS_KEY);
    assert_not_leaked(&verdict, GITHUB_TOKEN);
    assert_not_leaked(&verdict, "MIIEowIBAAKCAQEAsecretbody");
    // Fine-grained GitHub tokens too.
    let verdict = evaluate("prod", &[("a.yaml", "x: github_pat_11ABCDEFG0abcdefghijklmnopqrstuvwxyz\n")]);
    assert!(messages(&verdict)[0].starts_with("a GitHub token (github_pat_****"));
}

#[test]
fn a_plaintext_kubernetes_secret_is_denied() {
    let file = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: prod-db\ndata:\n  password: aHVudGVyMg==\n  empty: \"\"\nstringData:\n  user: {SECRET}\n"
    );
    let verdict = evaluate("prod", &[("envs/prod/secret.yaml", &file)]);
    assert_eq!(
        messages(&verdict),
        [
            "Kubernetes Secret prod-db keeps data.password in the repository unencrypted (aH**** (12 chars)) at line 6; \
             encrypt the file with SOPS or use an ExternalSecret or Vault instead",
            "Kubernetes Secret prod-db keeps stringData.user in the repository unencrypted (hu**** (21 chars)) at line 9; \
             encrypt the file with SOPS or use an ExternalSecret or Vault instead",
        ]
    );
    assert_eq!(paths(&verdict), ["envs/prod/secret.yaml#data.password", "envs/prod/secret.yaml#stringData.user"]);
    assert_not_leaked(&verdict, SECRET);
    assert_not_leaked(&verdict, "aHVudGVyMg==");
}

#[test]
fn every_document_of_a_multi_document_file_is_checked() {
    let file = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: a}
data: {mode: fast}
---
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      volumes:
        - name: x
          secret:
            secretName: prod-db
";
    let verdict = evaluate("dev", &[("envs/dev/all.yaml", file)]);
    assert_eq!(paths(&verdict), ["envs/dev/all.yaml#spec.template.spec.volumes[0].secret.secretName"]);
    assert_eq!(messages(&verdict), ["dev may not reference k8s:prod-db (matches denied pattern k8s:prod-*); secretName at line 14"]);
}

#[test]
fn an_unparsable_yaml_file_is_denied_naming_file_and_line() {
    let verdict = evaluate("prod", &[("envs/prod/broken.yaml", "a: 1\nb: [unclosed\nc: 2\n")]);
    assert!(!verdict.is_allow());
    assert_eq!(paths(&verdict), ["envs/prod/broken.yaml"]);
    let message = messages(&verdict)[0];
    assert!(message.starts_with("envs/prod/broken.yaml does not parse as YAML at line "), "{message}");
    assert!(message.ends_with("; fix the syntax (a file that cannot be checked is not promoted)"), "{message}");
    // Duplicate keys are an error in YAML too (which one would Kubernetes use?).
    let verdict = evaluate("prod", &[("dup.yaml", "a: 1\na: 2\n")]);
    assert!(messages(&verdict)[0].starts_with("dup.yaml does not parse as YAML at line 2"), "{:?}", messages(&verdict));
}

#[test]
fn non_yaml_and_deleted_files_are_skipped() {
    let t = transition()
        .to_env("dev")
        .change("README.md", None, Some(&format!("password: {SECRET}")))
        .change("envs/dev/config.json", None, Some("{\"secretName\": \"prod-db\"}"))
        .change("envs/dev/old.yaml", Some("secretName: prod-db\n"), None)
        .build();
    assert_eq!(testing::evaluate::<SecretScope>(CONFIG, &t).unwrap(), Verdict::allow());
    // kustomize's extension-less `Kustomization` file name is still checked.
    let verdict = evaluate("prod", &[("envs/prod/Kustomization", "secretGenerator: [{name: a, literals: [pw=abc]}]\n")]);
    assert!(!verdict.is_allow());
}

#[test]
fn ignore_files_skips_matching_paths() {
    let config = r#"{"default": {"allow": ["k8s:*"]}, "ignore_files": ["charts/*/templates/*"]}"#;
    let template = "password: {{ .Values.password }\n  bad: [";
    assert!(evaluate_with(config, "prod", &[("charts/api/templates/secret.yaml", template)]).is_allow());
    assert!(!evaluate_with(config, "prod", &[("charts/api/values.yaml", template)]).is_allow());
}

#[test]
fn environments_without_rules_fail_closed_and_default_rules_apply_otherwise() {
    let t = transition().to_env("qa").change("envs/qa/a.yaml", None, Some("secretName: prod-db\n")).build();
    let error = testing::evaluate::<SecretScope>(CONFIG, &t).unwrap_err().to_string();
    assert!(error.starts_with("no rules for qa (no entry under environments and no default)"), "{error}");
    let config = r#"{"default": {"allow": ["k8s:*"], "deny": ["*prod*"]}, "environments": {"prod": {"allow": ["k8s:prod-*"]}}}"#;
    let verdict = evaluate_with(config, "qa", &[("envs/qa/a.yaml", "secretName: prod-db\n")]);
    assert_eq!(messages(&verdict), ["qa may not reference k8s:prod-db (matches denied pattern *prod*); secretName at line 1"]);
    let verdict = evaluate_with(config, "qa", &[("envs/qa/a.yaml", "secretName: qa-db\n")]);
    assert!(verdict.is_allow());
    let verdict = evaluate_with(config, "qa", &[("envs/qa/a.yaml", "remoteRef: {key: qa/db}\n")]);
    assert!(messages(&verdict)[0].starts_with("qa may not reference external:qa/db: it matches no allowed pattern of the default rules (k8s:*)"));
    let verdict = evaluate_with(config, "prod", &[("envs/prod/a.yaml", "secretName: qa-db\n")]);
    assert!(messages(&verdict)[0].contains("matches no allowed pattern of environments.prod (k8s:prod-*)"));
}

const KUSTOMIZATION: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
  - deployment.yaml
  - https://github.com/org/repo//base?ref=v1
patches:
  - path: patches/db.yaml
  - patch: |-
      - op: replace
        path: /spec/template/spec/volumes/0/secret/secretName
        value: dev-db
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: api}
      spec:
        template:
          spec:
            volumes:
              - name: x
                secret:
                  secretName: prod-inline
";

#[test]
fn a_changed_kustomization_is_followed_into_the_files_it_lists() {
    testing::reset();
    testing::set_file("base/kustomization.yaml", "resources: [service.yaml]\n");
    testing::set_file("base/service.yaml", "kind: Service\nmetadata: {name: api}\n");
    testing::set_file("envs/dev/deployment.yaml", "spec:\n  volumes:\n    - secret:\n        secretName: prod-db\n");
    testing::set_file("envs/dev/patches/db.yaml", "env:\n  - name: X\n    valueFrom:\n      secretKeyRef: {name: dev-db, key: x}\n");
    let verdict = evaluate("dev", &[("envs/dev/kustomization.yaml", KUSTOMIZATION)]);
    assert_eq!(
        verdict.findings,
        [
            Finding::new(
                "dev may not reference k8s:prod-db (matches denied pattern k8s:prod-*); secretName at line 4 \
                 (reached through envs/dev/kustomization.yaml)"
            )
            .at("envs/dev/deployment.yaml#spec.volumes[0].secret.secretName"),
            Finding::new("dev may not reference k8s:prod-inline (matches denied pattern k8s:prod-*); secretName at line 23")
                .at("envs/dev/kustomization.yaml#patches[2].patch.spec.template.spec.volumes[0].secret.secretName"),
        ]
    );
}

#[test]
fn missing_and_unreadable_kustomization_entries_are_findings() {
    testing::reset();
    let kustomization = "resources:\n  - gone.yaml\n  - missing-dir\n  - ../../../outside.yaml\n";
    let verdict = evaluate("dev", &[("envs/dev/kustomization.yaml", kustomization)]);
    assert_eq!(
        messages(&verdict),
        [
            "resources[0] at line 2 names envs/dev/gone.yaml, which is not in the repository, so it cannot be checked",
            "resources[1] at line 3 names envs/dev/missing-dir, which is neither a YAML file nor a directory with a \
             kustomization in the repository, so the manifests it brings in cannot be checked",
            "resources[2] at line 4: ../../../outside.yaml points outside the repository, so the manifests it brings in \
             cannot be checked",
        ]
    );
    assert_eq!(paths(&verdict)[0], "envs/dev/kustomization.yaml#resources[0]");
}

#[test]
fn following_is_bounded_by_max_referenced_files() {
    testing::reset();
    for index in 0..3 {
        testing::set_file(&format!("envs/dev/r{index}.yaml"), "kind: ConfigMap\n");
    }
    let config = r#"{"default": {"allow": ["k8s:*"]}, "max_referenced_files": 2}"#;
    let kustomization = "resources: [r0.yaml, r1.yaml, r2.yaml]\n";
    let verdict = evaluate_with(config, "dev", &[("envs/dev/kustomization.yaml", kustomization)]);
    assert_eq!(
        messages(&verdict),
        ["stopped following kustomizations after 2 files (max_referenced_files), so envs/dev/r2.yaml and what comes \
          after it were not checked; raise max_referenced_files"]
    );
    let config = r#"{"default": {"allow": ["k8s:*"]}, "max_referenced_files": 0}"#;
    assert!(evaluate_with(config, "dev", &[("envs/dev/kustomization.yaml", kustomization)]).is_allow());
}

#[test]
fn secret_generator_literals_are_plaintext() {
    let kustomization = format!(
        "secretGenerator:\n  - name: api\n    literals:\n      - username=app\n      - password={SECRET}\n      - token=${{TOKEN}}\n"
    );
    let verdict = evaluate("prod", &[("envs/prod/kustomization.yaml", &kustomization)]);
    assert_eq!(
        messages(&verdict),
        [
            "secretGenerator api holds username as a plaintext literal (**** (3 chars)) at line 4; generate it from a \
             SOPS-encrypted file or use an ExternalSecret instead",
            "secretGenerator api holds password as a plaintext literal (hu**** (21 chars)) at line 5; generate it from a \
             SOPS-encrypted file or use an ExternalSecret instead",
        ]
    );
    assert_eq!(paths(&verdict)[1], "envs/prod/kustomization.yaml#secretGenerator[0].literals[1]");
    assert_not_leaked(&verdict, SECRET);
}

#[test]
fn secret_values_never_appear_in_any_finding() {
    // Every rule that sees a secret value, in one transition.
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\nstringData:\n  a: {SECRET}\n---\n\
         env:\n  - name: API_TOKEN\n    value: {SECRET}x\nconfig:\n  client_secret: {SECRET}y\n  note: {AWS_KEY} {GITHUB_TOKEN}\n"
    );
    let sops = SOPS_SECRET.replace("ENC[AES256_GCM,data:Zm9vYmFy,iv:aXY=,tag:dGFn,type:str]", &format!("{SECRET}z"));
    let kustomization = format!("secretGenerator:\n  - name: g\n    literals: [pw={SECRET}w]\n");
    let verdict = evaluate(
        "prod",
        &[("a.yaml", &manifest), ("b.sops.yaml", &sops), ("kustomization.yaml", &kustomization)],
    );
    // (one finding per value: the note holding two credentials is reported once)
    assert_eq!(verdict.findings.len(), 6, "{:#?}", verdict.findings);
    for secret in [SECRET, AWS_KEY, GITHUB_TOKEN, &SECRET[2..12]] {
        assert_not_leaked(&verdict, secret);
    }
    let logs = testing::logs();
    assert!(logs.iter().all(|(_, line)| !line.contains(SECRET)));
}

#[test]
fn findings_are_capped() {
    let many: String = (0..150).map(|index| format!("- secretName: other-{index}\n")).collect();
    let verdict = evaluate("prod", &[("envs/prod/many.yaml", &many)]);
    assert_eq!(verdict.findings.len(), MAX_FINDINGS);
    assert_eq!(verdict.findings.last().unwrap().message, "... and 51 more secret-scope findings not shown");
}

#[test]
fn deeply_nested_yaml_is_a_finding_not_a_crash() {
    let deep = format!("{}x\n", "- ".repeat(50_000));
    let verdict = evaluate("prod", &[("deep.yaml", &deep)]);
    assert_eq!(
        messages(&verdict),
        ["deep.yaml does not parse as YAML at line 1 column 257: nested deeper than 128 levels, more than any manifest \
          needs; fix the syntax (a file that cannot be checked is not promoted)"]
    );
    // Aliases can build a deep tree out of shallow text: an alias counts as deep as what it
    // copies, so the third anchor (60 levels around the second's 120) is refused at its alias,
    // and a chain of forty (4,000 levels, which overflowed the sandbox's stack) is too.
    let anchors = |count: usize, levels: usize| -> String {
        (0..count)
            .map(|level| {
                let inner = if level == 0 { "x".to_string() } else { format!("*a{}", level - 1) };
                format!("a{level}: &a{level} {}{inner}{}\n", "[".repeat(levels), "]".repeat(levels))
            })
            .collect()
    };
    let verdict = evaluate("prod", &[("aliases.yaml", &anchors(3, 60))]);
    assert_eq!(
        messages(&verdict),
        ["aliases.yaml does not parse as YAML at line 3 column 69: nested deeper than 128 levels, more than any manifest \
          needs; fix the syntax (a file that cannot be checked is not promoted)"]
    );
    let verdict = evaluate("prod", &[("chain.yaml", &anchors(40, 100))]);
    assert!(messages(&verdict)[0].starts_with("chain.yaml does not parse as YAML at line 2 column 109: nested deeper than 128"), "{:?}", messages(&verdict));
    // Within the bound, aliases are read as before.
    assert!(scan::parse(&anchors(2, 60)).is_ok());
}

#[test]
fn info_asks_for_read_file() {
    let info = SecretScope::info();
    assert_eq!(info.name, "secret-scope");
    assert_eq!(info.capabilities, [Capability::ReadFile]);
}

#[test]
fn config_errors_name_the_field() {
    let error = |config: &str| testing::validate::<SecretScope>(config).unwrap_err().message().to_string();
    let message = error(r#"{"environments": {"dev": {"allow": ["k8s:dev-*"], "deny": ["vault:[prod"]}}}"#);
    assert!(message.starts_with("config.environments.dev.deny[0]: \"vault:[prod\" is not a valid glob"), "{message}");
    let message = error(r#"{"environments": {"dev": {"allow": ["dev-*"]}}}"#);
    assert!(message.starts_with("config.environments.dev.allow[0]: \"dev-*\" names no reference kind"), "{message}");
    let message = error(r#"{"environments": {"dev": {"allow": []}}}"#);
    assert!(message.starts_with("config.environments.dev.allow: list the references this environment may use"), "{message}");
    let message = error(r#"{"default": {"deny": ["k8s:*"]}}"#);
    assert!(message.starts_with("config.default.allow: "), "{message}");
    let message = error(r#"{"environments": {"dev": {"allow": ["k8s:*"], "denied": []}}}"#);
    assert!(message.starts_with("config.environments.dev.denied: unknown field `denied`, expected `allow` or `deny`"), "{message}");
    let message = error("{}");
    assert!(message.starts_with("config: give rules per environment"), "{message}");
    let message = error(r#"{"default": {"allow": ["k8s:*"]}, "extra_secret_keys": ["--"]}"#);
    assert!(message.starts_with("config.extra_secret_keys[0]: "), "{message}");
    let message = error(r#"{"default": {"allow": ["k8s:*"]}, "ignore_files": [""]}"#);
    assert!(message.starts_with("config.ignore_files[0]: an empty pattern matches nothing"), "{message}");
    // Forbidding every reference is possible, but has to be said.
    testing::validate::<SecretScope>(r#"{"environments": {"preview": {"deny": ["*"]}}}"#).unwrap();
}

#[test]
fn extra_secret_keys_extend_the_built_in_names() {
    let config = r#"{"default": {"allow": ["k8s:*"]}, "extra_secret_keys": ["dsn"]}"#;
    let verdict = evaluate_with(config, "prod", &[("a.yaml", "DATABASE_DSN: postgres://app:pw@db/app\n")]);
    assert!(messages(&verdict)[0].starts_with("DATABASE_DSN value is a plaintext secret"));
    assert!(evaluate("prod", &[("a.yaml", "DATABASE_DSN: postgres://app:pw@db/app\n")]).is_allow());
}

#[test]
fn findings_stay_within_the_hosts_string_limit() {
    let name = format!("{}_PASSWORD", "é".repeat(10_000));
    let file = format!("env:\n  - name: {name}\n    value: {SECRET}\n  - name: a\n    valueFrom:\n      secretKeyRef: {{name: prod-{name}}}\n");
    let verdict = evaluate("dev", &[("a.yaml", &file)]);
    assert_eq!(verdict.findings.len(), 2);
    for finding in &verdict.findings {
        assert!(finding.message.len() < 4096 && finding.path.as_ref().unwrap().len() < 4096, "{}", finding.message.len());
    }
    assert_not_leaked(&verdict, SECRET);
}

#[test]
fn every_credential_shape_is_recognised_with_its_regex_compiled_on_demand() {
    let pat = format!("github_pat_{}", "A1b2C3d4E5f6G7h8I9j0K1_extra");
    assert_eq!(scan::token_shape(&pat).as_deref(), Some("a GitHub token (github_pat_****, 39 chars)"));
    assert_eq!(scan::token_shape(GITHUB_TOKEN).as_deref(), Some("a GitHub token (ghp_****, 40 chars)"));
    assert_eq!(scan::token_shape(&format!("key={AWS_KEY}")).as_deref(), Some("an AWS access key id (AKIA****, 20 chars)"));
    assert_eq!(
        scan::token_shape("-----BEGIN OPENSSH PRIVATE KEY-----").as_deref(),
        Some("a private key block (-----BEGIN OPENSSH PRIVATE KEY-----)")
    );
    // A marker without the shape, and no marker at all.
    assert_eq!(scan::token_shape("ghost in the registry.example.com"), None);
    assert_eq!(scan::token_shape("registry.example.com/shop/api"), None);
}

/// The deepest nesting the event parser reaches in `text` before its end or first error, and
/// that error.
fn event_depth(text: &str) -> (usize, Option<(usize, usize, String)>) {
    let (mut depth, mut deepest) = (0usize, 0usize);
    for event in saphyr_parser::Parser::new_from_str(text) {
        match event {
            Err(error) => return (deepest, Some((error.marker().line(), error.marker().col() + 1, error.info().to_string()))),
            Ok((saphyr_parser::Event::SequenceStart(..) | saphyr_parser::Event::MappingStart(..), _)) => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            Ok((saphyr_parser::Event::SequenceEnd | saphyr_parser::Event::MappingEnd, _)) => depth = depth.saturating_sub(1),
            Ok(_) => {}
        }
    }
    (deepest, None)
}

#[test]
fn yaml_parsed_in_one_pass_fails_as_the_event_parser_does_and_holds_the_same_documents() {
    // Random texts of YAML's structure (xorshift, fixed seed), plus the shapes manifests take.
    const PIECES: [&str; 24] = [
        "-", " ", "\n", "  ", "- ", ": ", "[", "]", "{", "}", ",", "? ", "a", "key", ":", "&x ", "*x", "!t ", "|\n", ">\n",
        "'q'", "\"d\"", "# c\n", "---\n",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut texts = vec![
        "a:\n  b:\n    - c: [d, {e: f}]\n".to_string(),
        "- - - - x\n".to_string(),
        "[[[[[[: ]]]]]]".to_string(),
        "{a: [b: c, ? d]}\n".to_string(),
        "key:\n- a\n- b: [c\n".to_string(),
        // Anchors are per document; the first error in the stream wins, a syntax error first.
        "a: &x 1\n---\nb: *x\n".to_string(),
        "a: &x 1\nb: *x\n---\nc: &x 2\nd: *x\n".to_string(),
        "a: &x 1\n---\nb: *x\nc: [\n".to_string(),
        "- &x 1\n---\n- *x\n- a: 1\n  a: 2\n".to_string(),
        "a: 1\na: 2\n---\n- &x 1\n---\n- *x\n".to_string(),
        "a: 1\na: 2\n".to_string(),
    ];
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let pieces = next() % 48;
        texts.push((0..pieces).map(|_| PIECES[(next() % PIECES.len() as u64) as usize]).collect());
        // Only openers, to nest deep.
        let pieces = next() % 48;
        texts.push((0..pieces).map(|_| PIECES[[0, 3, 4, 5, 6, 8, 11, 12][(next() % 8) as usize]]).collect());
    }
    for text in &texts {
        let (deepest, event_error) = event_depth(text);
        assert!(deepest <= scan::MAX_DEPTH, "{text:?}: the generator stays within the bound");
        // Parsed in one pass, a text fails as when it was streamed through the event parser
        // first: with the event parser's error, else the loader's through the parser's own
        // recursive `load` (an alias to no anchor of its document, a duplicate key).
        let loaded = <saphyr::MarkedYaml as saphyr::LoadableYamlNode>::load_from_parser(&mut saphyr_parser::Parser::new_from_str(text));
        let parsed = scan::parse(text);
        let error = |error: &saphyr::ScanError| (error.marker().line(), error.marker().col() + 1, error.info().to_string());
        let expected = event_error.or(loaded.as_ref().err().map(error));
        assert_eq!(parsed.as_ref().err().map(|error| (error.line, error.column, error.info.clone())), expected, "{text:?}");
        // And it holds the same documents.
        if let (Ok(parsed), Ok(loaded)) = (&parsed, &loaded) {
            assert_eq!(parsed, loaded, "{text:?}");
        }
    }
}
