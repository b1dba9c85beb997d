use super::super::*;

fn chart_dependency() -> Layout {
    Layout::ChartDependency { name: "shop".into(), repository: Some("oci://registry.example.com/charts".into()) }
}

fn argocd_chart() -> Layout {
    Layout::ArgoCd { repository: "oci://registry.example.com/charts".into(), chart: Some("shop".into()) }
}

fn argocd_git() -> Layout {
    Layout::ArgoCd { repository: "https://github.com/example/shop-config".into(), chart: None }
}

fn remote() -> Layout {
    Layout::KustomizeRemote { url: "https://github.com/example/shop-base".into() }
}

const CHART_YAML: &str = "apiVersion: v2\nname: shop-umbrella\nversion: 0.1.0\ndependencies:\n  - name: redis  # cache\n    version: 17.0.0\n    repository: oci://registry-1.docker.io/bitnamicharts\n  - name: shop\n    version: \"1.4.0\"   # the app\n    repository: oci://registry.example.com/charts/\n";

const ARGO_APPLICATION: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: { name: shop-prod }\nspec:\n  project: default\n  source:\n    repoURL: registry.example.com/charts\n    chart: shop\n    targetRevision: 1.4.0 # pinned\n  destination: { server: https://kubernetes.default.svc, namespace: shop }\n";

const HELM_RELEASE: &str = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: shop\nspec:\n  interval: 10m\n  chart:\n    spec:\n      chart: shop\n      version: '1.4.0'\n      sourceRef: { kind: HelmRepository, name: shop-charts }\n";

const KUSTOMIZATION: &str = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - namespace.yaml\n  - https://github.com/example/shop-base//deploy/overlays/prod?ref=v1.4.0&timeout=90s\n  - https://github.com/example/shop-base-extras?ref=v9.9.9\n";

#[test]
fn a_chart_dependency_version_is_read_and_written_in_place() {
    let deployed = read_deployed("Chart.yaml", CHART_YAML, &chart_dependency()).unwrap();
    assert_eq!((deployed.version.as_str(), deployed.digest, deployed.line, deployed.has_digest_field), ("1.4.0", None, 9, false));
    let edited = write_deployed("Chart.yaml", CHART_YAML, &chart_dependency(), "1.5.0", None).unwrap();
    assert_eq!(edited, CHART_YAML.replace("\"1.4.0\"", "\"1.5.0\""));
    let other_repository = CHART_YAML.replace("oci://registry.example.com/charts/", "https://charts.example.com");
    let error = read_deployed("Chart.yaml", &other_repository, &chart_dependency()).unwrap_err().0;
    assert!(error.starts_with("Chart.yaml:10: the dependency shop comes from https://charts.example.com, but tollgate.yaml configures"), "{error}");
    let error = read_deployed("Chart.yaml", "dependencies: []\n", &chart_dependency()).unwrap_err().0;
    assert_eq!(error, "Chart.yaml: no `dependencies:` entry with name shop; add one with a version");
    let error = write_deployed("Chart.yaml", CHART_YAML, &chart_dependency(), "1.5.0", Some("sha256:aa")).unwrap_err().0;
    assert!(error.contains("has no digest"), "{error}");
}

#[test]
fn an_argocd_application_must_name_the_chart_and_repository() {
    let deployed = read_deployed("app.yaml", ARGO_APPLICATION, &argocd_chart()).unwrap();
    assert_eq!((deployed.version.as_str(), deployed.line), ("1.4.0", 9));
    let edited = write_deployed("app.yaml", ARGO_APPLICATION, &argocd_chart(), "1.5.0", None).unwrap();
    assert_eq!(edited, ARGO_APPLICATION.replace("targetRevision: 1.4.0", "targetRevision: 1.5.0"));
    let error = read_deployed("app.yaml", &ARGO_APPLICATION.replace("chart: shop", "chart: other"), &argocd_chart()).unwrap_err().0;
    assert_eq!(
        error,
        "app.yaml: spec.source names repoURL registry.example.com/charts with chart other, but tollgate.yaml configures repoURL oci://registry.example.com/charts with chart shop; fix one of them"
    );
    let error = read_deployed("app.yaml", &ARGO_APPLICATION.replace("registry.example.com/charts", "ghcr.io/charts"), &argocd_chart()).unwrap_err().0;
    assert!(error.contains("repoURL ghcr.io/charts with chart shop"), "{error}");
    let error = read_deployed("app.yaml", "kind: Application\nspec: {}\n", &argocd_chart()).unwrap_err().0;
    assert_eq!(error, "app.yaml: no Argo CD Application with spec.source.targetRevision; add one");
}

#[test]
fn an_argocd_git_source_holds_a_tag_or_commit_and_must_have_no_chart() {
    let git = "spec:\n  source:\n    repoURL: https://github.com/example/shop-config.git\n    path: envs/prod\n    targetRevision: v1.4.0\n";
    assert_eq!(read_deployed("app.yaml", git, &argocd_git()).unwrap().version, "v1.4.0");
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let edited = write_deployed("app.yaml", git, &argocd_git(), commit, None).unwrap();
    assert_eq!(edited, git.replace("v1.4.0", commit));
    let error = read_deployed("app.yaml", ARGO_APPLICATION, &argocd_git()).unwrap_err().0;
    assert!(error.contains("configures repoURL https://github.com/example/shop-config (a Git source, no chart)"), "{error}");
}

#[test]
fn a_helm_release_version_is_found_by_its_chart_name() {
    let layout = Layout::HelmRelease { chart: "shop".into() };
    assert_eq!(read_deployed("hr.yaml", HELM_RELEASE, &layout).unwrap().version, "1.4.0");
    let edited = write_deployed("hr.yaml", HELM_RELEASE, &layout, "1.5.0", None).unwrap();
    assert_eq!(edited, HELM_RELEASE.replace("'1.4.0'", "'1.5.0'"));
    let error = read_deployed("hr.yaml", HELM_RELEASE, &Layout::HelmRelease { chart: "web".into() }).unwrap_err().0;
    assert_eq!(error, "hr.yaml: its HelmRelease is for chart shop, but tollgate.yaml configures web; fix one of them");
}

#[test]
fn a_kustomize_remote_ref_is_rewritten_with_the_rest_of_the_url_kept() {
    let deployed = read_deployed("kustomization.yaml", KUSTOMIZATION, &remote()).unwrap();
    assert_eq!((deployed.version.as_str(), deployed.line), ("v1.4.0", 5));
    let edited = write_deployed("kustomization.yaml", KUSTOMIZATION, &remote(), "v1.5.0", None).unwrap();
    assert_eq!(edited, KUSTOMIZATION.replace("ref=v1.4.0&", "ref=v1.5.0&"));
    let error = read_deployed("k.yaml", "resources:\n  - https://github.com/example/shop-base//deploy\n", &remote()).unwrap_err().0;
    assert_eq!(error, "k.yaml:2: the resource https://github.com/example/shop-base//deploy has no ?ref=; add one (…?ref=TAG)");
    let two = "resources:\n  - https://github.com/example/shop-base//a?ref=v1\n  - https://github.com/example/shop-base//b?ref=v1\n";
    let error = read_deployed("k.yaml", two, &remote()).unwrap_err().0;
    assert!(error.contains("2 `resources:` entries name https://github.com/example/shop-base"), "{error}");
    let error = read_deployed("k.yaml", "resources: [base]\n", &remote()).unwrap_err().0;
    assert!(error.starts_with("k.yaml: no `resources:` entry for https://github.com/example/shop-base; add one"), "{error}");
}

/// Property tests, as for the image layouts: with comments, flow and block style, every
/// quoting style and other documents around, an edit changes exactly the version's bytes.
mod preservation {
    use proptest::prelude::*;

    use super::super::super::*;
    use super::super::super::tests::preservation::{comment, other_documents, quoted};
    use super::{argocd_chart, chart_dependency, remote};

    fn version() -> impl Strategy<Value = String> {
        "v?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9])?"
    }

    /// Edit, read back, and check only `old` became `new` (the first time it appears).
    fn edits_only(text: &str, layout: &Layout, old_version: &str, new_version: &str, old: &str, new: &str) -> Result<(), TestCaseError> {
        prop_assert_eq!(read_deployed("f.yaml", text, layout).unwrap().version, old_version);
        let edited = write_deployed("f.yaml", text, layout, new_version, None).unwrap();
        prop_assert_eq!(read_deployed("f.yaml", &edited, layout).unwrap().version, new_version);
        prop_assert_eq!(edited, text.replacen(old, new, 1));
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(150))]

        #[test]
        fn chart_dependencies(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                              c1 in comment(), others in 0usize..3, flow in any::<bool>()) {
            let mut dependencies = String::new();
            for index in 0..others {
                // Never a version the strategy can draw: the expected edit replaces the first
                // `version: OLD` of the text, which must be shop's (proptest once drew 9.9.0).
                dependencies.push_str(&format!("  - name: other{index}{c1}\n    version: other{index}\n"));
            }
            let version = quoted(&old, style);
            if flow {
                dependencies.push_str(&format!("  - {{name: shop, version: {version}, repository: oci://registry.example.com/charts}}{c1}\n"));
            } else {
                dependencies.push_str(&format!("  - name: shop{c1}\n    version: {version}\n    repository: \"oci://registry.example.com/charts\"\n"));
            }
            let text = format!("{prefix}apiVersion: v2\nname: umbrella{c1}\ndependencies:\n{dependencies}");
            edits_only(&text, &chart_dependency(), &old, &new, &format!("version: {version}"), &format!("version: {}", quoted(&new, style)))?;
        }

        #[test]
        fn argocd_applications(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                               c1 in comment(), flow in any::<bool>(), oci in any::<bool>()) {
            let version = quoted(&old, style);
            let repo = if oci { "oci://registry.example.com/charts" } else { "registry.example.com/charts/" };
            let source = if flow {
                format!("  source: {{repoURL: {repo}, chart: shop, targetRevision: {version}}}{c1}\n")
            } else {
                format!("  source:{c1}\n    chart: shop\n    targetRevision: {version}{c1}\n    repoURL: {repo}\n")
            };
            let text = format!("{prefix}apiVersion: argoproj.io/v1alpha1\nkind: Application\nspec:\n  project: default\n{source}");
            edits_only(&text, &argocd_chart(), &old, &new, &format!("targetRevision: {version}"), &format!("targetRevision: {}", quoted(&new, style)))?;
        }

        #[test]
        fn helm_releases(prefix in other_documents(), old in version(), new in version(), style in 0u8..3, c1 in comment(), flow in any::<bool>()) {
            let version = quoted(&old, style);
            let chart = if flow {
                format!("  chart:\n    spec: {{chart: shop, version: {version}, sourceRef: {{kind: HelmRepository, name: charts}}}}{c1}\n")
            } else {
                format!("  chart:\n    spec:{c1}\n      chart: shop\n      version: {version}{c1}\n")
            };
            let text = format!("{prefix}kind: HelmRelease\nspec:\n  interval: 5m\n{chart}");
            let layout = Layout::HelmRelease { chart: "shop".into() };
            edits_only(&text, &layout, &old, &new, &format!("version: {version}"), &format!("version: {}", quoted(&new, style)))?;
        }

        #[test]
        fn kustomize_remote_refs(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                                 c1 in comment(), path in "(//[a-z]{1,6}(/[a-z]{1,6})?)?", timeout in any::<bool>(), flow in any::<bool>()) {
            let query = if timeout { "&timeout=90s" } else { "" };
            let entry = |version: &str| quoted(&format!("https://github.com/example/shop-base{path}?ref={version}{query}"), style);
            let resources = if flow {
                format!("resources: [deployment.yaml, {}]{c1}\n", entry(&old))
            } else {
                format!("resources:{c1}\n  - deployment.yaml\n  - {}{c1}\n  - https://github.com/example/other?ref={old}\n", entry(&old))
            };
            let text = format!("{prefix}kind: Kustomization\n{resources}");
            edits_only(&text, &remote(), &old, &new, &entry(&old), &entry(&new))?;
        }
    }
}
