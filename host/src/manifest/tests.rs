use super::*;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn helm_values_read_and_write_tag_and_digest() {
    let text = "replicas: 2\nimage:\n  repository: registry.example.com/shop/api\n  tag: 1.4.1 # promoted by tollgate\n  digest: \"\"\n";
    let layout = Layout::Helm { tag_path: "image.tag".into(), digest_path: Some("image.digest".into()) };
    let deployed = read_deployed("values.yaml", text, &layout).unwrap();
    assert_eq!(
        deployed,
        Deployed { version: "1.4.1".into(), digest: None, line: 4, image: Some("registry.example.com/shop/api".into()), has_digest_field: true }
    );
    let edited = write_deployed("values.yaml", text, &layout, "1.4.2", Some(DIGEST)).unwrap();
    assert_eq!(edited, text.replace("1.4.1", "1.4.2").replace("digest: \"\"", &format!("digest: \"{DIGEST}\"")));
    assert_eq!(read_deployed("values.yaml", &edited, &layout).unwrap().digest.as_deref(), Some(DIGEST));
}

#[test]
fn kustomize_images_entry_is_found_by_name() {
    let text = "resources: [deployment.yaml]\nimages:\n  - name: other\n    newTag: 9.9.9\n  - name: registry.example.com/shop/web\n    newTag: '2.0.0'\n    digest: sha256:00\n";
    let layout = Layout::Kustomize { image: "registry.example.com/shop/web".into() };
    let deployed = read_deployed("kustomization.yaml", text, &layout).unwrap();
    assert_eq!(deployed.version, "2.0.0");
    assert_eq!(deployed.digest.as_deref(), Some("sha256:00"));
    let edited = write_deployed("kustomization.yaml", text, &layout, "2.1.0", Some(DIGEST)).unwrap();
    assert_eq!(edited, text.replace("'2.0.0'", "'2.1.0'").replace("sha256:00", DIGEST));
}

#[test]
fn raw_manifest_container_image_in_a_multi_document_file() {
    let text = "apiVersion: v1\nkind: Service\nmetadata: {name: api}\n---\napiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      initContainers:\n        - name: migrate\n          image: registry.example.com/shop/migrate:1.0.0\n      containers:\n        - name: api\n          image: registry.example.com:5000/shop/api:1.4.1@sha256:22\n";
    let layout = Layout::Manifest { container: "api".into() };
    let deployed = read_deployed("deploy.yaml", text, &layout).unwrap();
    assert_eq!(deployed.version, "1.4.1");
    assert_eq!(deployed.digest.as_deref(), Some("sha256:22"));
    let edited = write_deployed("deploy.yaml", text, &layout, "1.4.2", Some(DIGEST)).unwrap();
    assert_eq!(edited, text.replace("api:1.4.1@sha256:22", &format!("api:1.4.2@{DIGEST}")));
    let untagged = write_deployed("deploy.yaml", text, &layout, "1.5.0", None).unwrap();
    assert!(untagged.contains("image: registry.example.com:5000/shop/api:1.5.0\n"), "{untagged}");
}

#[test]
fn missing_targets_name_the_file_and_what_to_do() {
    let helm = Layout::Helm { tag_path: "image.tag".into(), digest_path: None };
    let error = read_deployed("envs/dev/values.yaml", "image: {}\n", &helm).unwrap_err();
    assert_eq!(error.0, "envs/dev/values.yaml: no value at `image.tag`; check tag_path in tollgate.yaml");
    let error = read_deployed("k.yaml", "images: []\n", &Layout::Kustomize { image: "x".into() }).unwrap_err();
    assert!(error.0.contains("no `images:` entry with name x"), "{error}");
    let error = read_deployed("bad.yaml", "a: [1\n", &helm).unwrap_err();
    assert!(error.0.starts_with("bad.yaml: not valid YAML: line "), "{error}");
}

#[test]
fn image_references_split_around_registry_ports() {
    assert_eq!(
        ImageRef::parse("localhost:5000/app:1.2@sha256:ab"),
        ImageRef { repository: "localhost:5000/app".into(), tag: Some("1.2".into()), digest: Some("sha256:ab".into()) }
    );
    assert_eq!(ImageRef::parse("localhost:5000/app"), ImageRef { repository: "localhost:5000/app".into(), tag: None, digest: None });
}

/// Property tests: for every layout, with comments, flow and block style, anchors, every
/// quoting style and multi-document files, editing changes exactly the target scalars.
mod preservation {
    use proptest::prelude::*;

    use super::super::yaml::parse_documents;
    use super::super::*;

    fn version() -> impl Strategy<Value = String> {
        "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9])?"
    }

    fn comment() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-z :#'\"-]{0,20}".prop_map(|text| format!("  # {text}"))]
    }

    fn quoted(value: &str, style: u8) -> String {
        match style % 3 {
            0 => value.to_string(),
            1 => format!("'{value}'"),
            _ => format!("\"{value}\""),
        }
    }

    fn other_documents() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (comment(), "[a-z]{1,8}").prop_map(|(comment, name)| format!("apiVersion: v1{comment}\nkind: Service\nmetadata: {{name: {name}}}\n---\n")),
            0..3,
        )
        .prop_map(|documents| documents.concat())
    }

    /// The text outside the edited scalars is byte-identical.
    fn assert_only_scalars_changed(original: &str, edited: &str, old_values: &[&str], new_values: &[&str]) {
        let mut expected = original.to_string();
        for (old, new) in old_values.iter().zip(new_values) {
            expected = expected.replacen(old, new, 1);
        }
        assert_eq!(edited, expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn helm_values(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                       c1 in comment(), c2 in comment(), flow in any::<bool>(), anchor in any::<bool>()) {
            let tag = quoted(&old, style);
            let anchor_text = if anchor { "&tag " } else { "" };
            let image = if flow {
                format!("image: {{repository: registry.example.com/api, tag: {anchor_text}{tag}}}{c1}\n")
            } else {
                format!("image:{c1}\n  repository: registry.example.com/api\n  tag: {anchor_text}{tag}{c2}\n")
            };
            let text = format!("{prefix}# values{c2}\nreplicas: 2\n{image}alias: {}\nlist: [a, 'b', \"c\"]\n", if anchor { "*tag" } else { "x" });
            let layout = Layout::Helm { tag_path: "image.tag".into(), digest_path: None };
            prop_assert_eq!(read_deployed("v.yaml", &text, &layout).unwrap().version, old.clone());
            let edited = write_deployed("v.yaml", &text, &layout, &new, None).unwrap();
            prop_assert_eq!(read_deployed("v.yaml", &edited, &layout).unwrap().version, new.clone());
            let needle = format!("tag: {anchor_text}{tag}");
            let replacement = format!("tag: {anchor_text}{}", quoted(&new, style));
            assert_only_scalars_changed(&text, &edited, &[&needle], &[&replacement]);
            prop_assert_eq!(parse_documents(&edited).unwrap().len(), parse_documents(&text).unwrap().len());
        }

        #[test]
        fn kustomize_images(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                            c1 in comment(), others in 0usize..3, flow in any::<bool>()) {
            let mut images = String::new();
            for index in 0..others {
                images.push_str(&format!("  - name: registry.example.com/other{index}\n    newTag: 9.9.{index}{c1}\n"));
            }
            let tag = quoted(&old, style);
            let digest = "sha256:aaaa";
            if flow {
                images.push_str(&format!("  - {{name: registry.example.com/web, newTag: {tag}, digest: {digest}}}{c1}\n"));
            } else {
                images.push_str(&format!("  - name: registry.example.com/web{c1}\n    newTag: {tag}\n    digest: {digest}\n"));
            }
            let text = format!("{prefix}kind: Kustomization\nresources: [deployment.yaml]{c1}\nimages:\n{images}");
            let layout = Layout::Kustomize { image: "registry.example.com/web".into() };
            prop_assert_eq!(read_deployed("k.yaml", &text, &layout).unwrap().version, old.clone());
            let edited = write_deployed("k.yaml", &text, &layout, &new, Some("sha256:bbbb")).unwrap();
            let deployed = read_deployed("k.yaml", &edited, &layout).unwrap();
            prop_assert_eq!(deployed.version, new.clone());
            prop_assert_eq!(deployed.digest.as_deref(), Some("sha256:bbbb"));
            let new_tag = quoted(&new, style);
            assert_only_scalars_changed(
                &text,
                &edited,
                &[&format!("newTag: {tag}"), "digest: sha256:aaaa"],
                &[&format!("newTag: {new_tag}"), "digest: sha256:bbbb"],
            );
        }

        #[test]
        fn raw_manifests(prefix in other_documents(), old in version(), new in version(), style in 0u8..3,
                         c1 in comment(), with_digest in any::<bool>(), sidecar_first in any::<bool>()) {
            let old_digest = if with_digest { "@sha256:cccc" } else { "" };
            let image = quoted(&format!("registry.example.com:5000/shop/api:{old}{old_digest}"), style);
            let sidecar = "        - name: sidecar\n          image: registry.example.com/proxy:1.0.0\n";
            let api = format!("        - name: api{c1}\n          image: {image}\n          ports: [{{containerPort: 8080}}]\n");
            let containers = if sidecar_first { format!("{sidecar}{api}") } else { format!("{api}{sidecar}") };
            let text = format!("{prefix}apiVersion: apps/v1\nkind: Deployment{c1}\nspec:\n  template:\n    spec:\n      containers:\n{containers}");
            let layout = Layout::Manifest { container: "api".into() };
            prop_assert_eq!(read_deployed("d.yaml", &text, &layout).unwrap().version, old.clone());
            let edited = write_deployed("d.yaml", &text, &layout, &new, Some("sha256:dddd")).unwrap();
            let deployed = read_deployed("d.yaml", &edited, &layout).unwrap();
            prop_assert_eq!(deployed.version, new.clone());
            prop_assert_eq!(deployed.digest.as_deref(), Some("sha256:dddd"));
            let new_image = quoted(&format!("registry.example.com:5000/shop/api:{new}@sha256:dddd"), style);
            assert_only_scalars_changed(&text, &edited, &[&format!("image: {image}")], &[&format!("image: {new_image}")]);
        }
    }
}
