//! The demo's allowed prod promotion of shop-api and each standard plugin's configuration for
//! it: what the runtime and decision benchmarks evaluate.

use std::collections::BTreeMap;
use std::sync::Arc;

use tollgate::decision::Decision;
use tollgate::runtime::{FileSource, HostAccess};
use tollgate::transition::{Approval, Artifact, FileChange, Transition};

use crate::measure::fail;

/// A configuration, transition and repository view for one plugin.
pub struct Scenario {
    pub config: String,
    pub transition: Transition,
    pub files: BTreeMap<String, String>,
    pub expect: Decision,
}

impl Scenario {
    pub fn access(&self) -> HostAccess {
        let files: Arc<dyn FileSource> = Arc::new(self.files.clone());
        HostAccess { files: Some(files), ..HostAccess::none() }
    }
}

const OLD_DIGEST: &str = "sha256:1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988";
const NEW_DIGEST: &str = "sha256:9a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f30219a8b7c6d5e4f3021";
/// Tuesday 2026-01-06 10:30 in Berlin: inside the demo's prod change window.
const TUESDAY_MORNING: i64 = 1_767_691_800;
const READINESS: &str = "# Maintained by the ERP team: is ERP ready for changes in prod?\nstatus: ready\nmaintenance:\n  - { start: 2026-01-10T20:00:00Z, end: 2026-01-11T02:00:00Z, reason: SAP kernel upgrade }\n";

/// The Helm values of shop-api in `env` at `version` (as in `tollgate demo`).
fn values(env: &str, version: &str, digest: &str) -> String {
    format!(
        "# shop-api in {env} (Helm values)\nreplicaCount: 3\nimage:\n  repository: registry.example.com/shop/api\n  tag: \"{version}\"   # set by tollgate promotions\n  digest: {digest}\nenv:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef: {{ name: {env}-db, key: password }}\n"
    )
}

/// The transition of the demo's allowed prod promotion of shop-api 1.4.1 → 1.4.2.
fn prod_promotion() -> Transition {
    let file = "envs/prod/shop-api/values.yaml".to_string();
    Transition {
        id: "tg-bench0000000001".into(),
        application: "shop-api".into(),
        from_env: Some("test".into()),
        to_env: "prod".into(),
        artifact: Artifact { image: "registry.example.com/shop/api".into(), version: "1.4.2".into(), digest: Some(NEW_DIGEST.into()) },
        previous_artifact: Some(Artifact {
            image: "registry.example.com/shop/api".into(),
            version: "1.4.1".into(),
            digest: Some(OLD_DIGEST.into()),
        }),
        requested_by: "alice".into(),
        requested_at: TUESDAY_MORNING,
        approvals: ["bob", "carol"]
            .iter()
            .map(|name| Approval { approver: name.to_string(), at: None, version: "1.4.2".into(), group: None, signed: None })
            .collect(),
        changes: vec![FileChange {
            path: file,
            before: Some(values("prod", "1.4.1", OLD_DIGEST)),
            after: Some(values("prod", "1.4.2", NEW_DIGEST)),
        }],
        from_env_since: Some(TUESDAY_MORNING - 86_400),
        ..Transition::default()
    }
}

/// The demo repository's configuration of each standard plugin (as JSON), on the demo's
/// allowed prod promotion; every scenario is expected to allow.
pub fn scenario(name: &str) -> Scenario {
    let transition = prod_promotion();
    let mut files = BTreeMap::new();
    let config = match name {
        "change-window" => r#"{"environments": {"prod": {"timezone": "Europe/Berlin",
            "windows": [{"days": ["mon", "tue", "wed", "thu"], "start": "09:00", "end": "16:00"}],
            "freezes": [{"from": "2026-12-18 18:00", "until": "2027-01-05 09:00", "reason": "year-end close"}],
            "rollbacks": "outside-windows"}}}"#,
        "approval-count" => r#"{"environments": {"prod": {"required": 2, "groups": {"sre": ["bob", "dana"]},
            "group_minimums": {"sre": 1}, "max_age": "24h"}}}"#,
        "secret-scope" => r#"{"environments": {"dev": {"allow": ["k8s:dev-*"]}, "test": {"allow": ["k8s:test-*"]},
            "prod": {"allow": ["k8s:prod-*"]}}}"#,
        "erp-readiness" => {
            files.insert("envs/prod/erp/readiness.yaml".to_string(), READINESS.to_string());
            r#"{"environments": {"prod": {"readiness_file": "envs/{env}/erp/readiness.yaml"}}}"#
        }
        other => fail(&format!("no scenario for builtin:{other}")),
    };
    for change in &transition.changes {
        if let Some(after) = &change.after {
            files.insert(change.path.clone(), after.clone());
        }
    }
    Scenario { config: config.to_string(), transition, files, expect: Decision::Allow }
}

