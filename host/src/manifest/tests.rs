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
pub(super) mod preservation {
    use proptest::prelude::*;

    use super::super::yaml::parse_documents;
    use super::super::*;

    fn version() -> impl Strategy<Value = String> {
        "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9])?"
    }

    pub(in crate::manifest) fn comment() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-z :#'\"-]{0,20}".prop_map(|text| format!("  # {text}"))]
    }

    pub(in crate::manifest) fn quoted(value: &str, style: u8) -> String {
        match style % 3 {
            0 => value.to_string(),
            1 => format!("'{value}'"),
            _ => format!("\"{value}\""),
        }
    }

    pub(in crate::manifest) fn other_documents() -> impl Strategy<Value = String> {
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
                // Never a tag the strategy can draw (the expected edit is the first `newTag: OLD`).
                images.push_str(&format!("  - name: registry.example.com/other{index}\n    newTag: other{index}{c1}\n"));
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

/// Wider property tests (issue 14, item 8): new versions that need re-quoting (`1.10`, `2`,
/// `true`, anything of the OCI tag grammar), non-ASCII text around the target, CRLF line
/// ends, YAML tags, a leading `---`, the target in a document that is not the last, a Helm
/// `digest_path`, and a Kustomize entry without a digest. The property: the bytes before,
/// between and after the target scalars are unchanged (the scalars are found again in the
/// edited text by parsing it), and the edited text reads back as the new version and digest.
mod widened {
    use proptest::prelude::*;

    use super::super::yaml::{parse_documents, Node};
    use super::super::*;

    /// What `promote` accepts as a version: the OCI tag grammar, with the values YAML would
    /// otherwise read as numbers, booleans or null weighted in.
    fn new_version() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "1.10", "2", "10", "1.0", "010", "1e3", "0x1f", "0o17", "1_000", "true", "false", "True", "TRUE", "yes", "no",
                "on", "off", "y", "n", "null", "Null", "NULL", "NaN", "inf", "_", "1.2.3", "v1.2.3-rc.1", "2026.01.05_build-7",
            ])
            .prop_map(str::to_string),
            "[A-Za-z0-9_][A-Za-z0-9._-]{0,40}",
        ]
    }

    fn old_version() -> impl Strategy<Value = String> {
        "[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-rc\\.[0-9])?"
    }

    fn digest() -> impl Strategy<Value = String> {
        "[0-9a-f]{64}".prop_map(|hex| format!("sha256:{hex}"))
    }

    /// A comment with non-ASCII text, or nothing.
    fn comment() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[a-zäöüß€日本語 :#'\"-]{0,16}".prop_map(|text| format!("  # {text}"))]
    }

    fn quoted(value: &str, style: u8) -> String {
        match style % 3 {
            0 => value.to_string(),
            1 => format!("'{value}'"),
            _ => format!("\"{value}\""),
        }
    }

    /// Nothing, `---` or `--- # comment` before the first document.
    fn lead() -> impl Strategy<Value = String> {
        prop::sample::select(vec!["", "---\n", "--- # début ü\n"]).prop_map(str::to_string)
    }

    /// Documents before the target one (each ends with `---`), with tags and non-ASCII text.
    fn documents_before() -> impl Strategy<Value = String> {
        prop::collection::vec(
            (comment(), "[a-zé]{1,8}").prop_map(|(comment, name)| {
                format!("apiVersion: v1{comment}\nkind: !!str Service\nmetadata: {{name: \"{name}\", note: Größe – 日本}}\n---\n")
            }),
            0..3,
        )
        .prop_map(|documents| documents.concat())
    }

    /// Documents after the target one: the target is then not in the last document.
    fn documents_after() -> impl Strategy<Value = String> {
        prop::collection::vec(
            comment().prop_map(|comment| format!("---{comment}\nkind: ConfigMap\ndata: !custom {{schlüssel: wert}}\n")),
            0..3,
        )
        .prop_map(|documents| documents.concat())
    }

    fn crlf(text: &str, on: bool) -> String {
        if on {
            text.replace('\n', "\r\n")
        } else {
            text.to_string()
        }
    }

    /// The value at `path` as a typed YAML reader (serde_yaml) sees it, in the one document
    /// that has it: a re-quoting bug (`tag: 1.10`, a float) shows here, not in our own parser.
    fn typed_at(text: &str, path: &[&str]) -> serde_yaml::Value {
        use serde::Deserialize;
        let mut found = Vec::new();
        for document in serde_yaml::Deserializer::from_str(text) {
            let mut value = serde_yaml::Value::deserialize(document).unwrap();
            let mut ok = true;
            for key in path {
                value = match key.parse::<usize>() {
                    Ok(index) => match value.get(index) { Some(next) => next.clone(), None => { ok = false; break } },
                    Err(_) => match value.get(*key) { Some(next) => next.clone(), None => { ok = false; break } },
                };
            }
            if ok {
                found.push(value);
            }
        }
        assert_eq!(found.len(), 1, "{path:?} in {text:?}");
        found.remove(0)
    }

    /// The scalar at `path` in the one document that has it.
    fn scalar_at(text: &str, path: &str) -> super::super::yaml::Scalar {
        let documents = parse_documents(text).unwrap();
        let found: Vec<_> = documents.iter().filter_map(|document| document.at_path(path)).collect();
        assert_eq!(found.len(), 1, "{path} in {text:?}");
        found[0].as_scalar().unwrap().clone()
    }

    /// `pieces` joined with `scalars` in between are the text; the edited text is the same
    /// pieces around the scalars found at `paths` in it.
    fn assert_only_targets_changed(edited: &str, pieces: &[String], spans: &[std::ops::Range<usize>]) {
        let mut at = 0;
        for (piece, span) in pieces.iter().zip(spans.iter().map(Some).chain(std::iter::once(None))) {
            let end = span.map_or(edited.len(), |span| span.start);
            assert_eq!(&edited[at..end], piece.as_str(), "bytes outside the target scalars changed in {edited:?}");
            at = span.map_or(end, |span| span.end);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn helm_values_with_a_digest_path(lead in lead(), before in documents_before(), after in documents_after(),
                                          old in old_version(), new in new_version(), style in 0u8..3, tagged in any::<bool>(),
                                          old_digest in prop::option::of(digest()), digest_style in 0u8..3, new_digest in prop::option::of(digest()),
                                          c1 in comment(), c2 in comment(), flow in any::<bool>(), windows in any::<bool>()) {
            let tag_prefix = if tagged { "!!str " } else { "" };
            let old_tag = quoted(&old, style);
            let old_digest_text = match &old_digest {
                Some(digest) => quoted(digest, digest_style),
                None => ["\"\"", "''", "\"\""][digest_style as usize % 3].to_string(),
            };
            let head = format!("{lead}{before}# values{c1}\nbeschreibung: \"Größe – 日本語\"{c2}\nreplicas: !!int 2\nextra: !custom {{a: b}}\n");
            let (opening, middle, closing) = if flow {
                (
                    format!("{head}image: {{repository: registry.example.com/api, tag: {tag_prefix}"),
                    ", digest: ".to_string(),
                    format!("}}{c1}\nname: café-ü\n{after}"),
                )
            } else {
                (
                    format!("{head}image:{c1}\n  repository: registry.example.com/api\n  tag: {tag_prefix}"),
                    format!("{c2}\n  digest: "),
                    format!("{c1}\nname: café-ü\n{after}"),
                )
            };
            let pieces = [crlf(&opening, windows), crlf(&middle, windows), crlf(&closing, windows)];
            let text = format!("{}{old_tag}{}{old_digest_text}{}", pieces[0], pieces[1], pieces[2]);
            let layout = Layout::Helm { tag_path: "image.tag".into(), digest_path: Some("image.digest".into()) };
            let deployed = read_deployed("v.yaml", &text, &layout).unwrap();
            prop_assert_eq!(&deployed.version, &old);
            prop_assert_eq!(&deployed.digest, &old_digest);

            let edited = write_deployed("v.yaml", &text, &layout, &new, new_digest.as_deref()).unwrap();
            let deployed = read_deployed("v.yaml", &edited, &layout).unwrap();
            prop_assert_eq!(&deployed.version, &new);
            prop_assert_eq!(&deployed.digest, &new_digest);
            prop_assert_eq!(typed_at(&edited, &["image", "tag"]), serde_yaml::Value::String(new.clone()));
            let spans = [scalar_at(&edited, "image.tag").span, scalar_at(&edited, "image.digest").span];
            assert_only_targets_changed(&edited, &pieces, &spans);
            prop_assert_eq!(parse_documents(&edited).unwrap().len(), parse_documents(&text).unwrap().len());
        }

        #[test]
        fn kustomize_entries_with_and_without_a_digest(lead in lead(), before in documents_before(), after in documents_after(),
                                                      old in old_version(), new in new_version(), style in 0u8..3,
                                                      with_digest in any::<bool>(), new_digest in digest(), c1 in comment(),
                                                      flow in any::<bool>(), windows in any::<bool>()) {
            let old_tag = quoted(&old, style);
            let head = format!("{lead}{before}kind: Kustomization{c1}\nresources: [deployment.yaml]\nimages:\n  - name: registry.example.com/other\n    newTag: 9.9.9 # ü\n");
            let (opening, middle, closing) = match (flow, with_digest) {
                (true, true) => (format!("{head}  - {{name: registry.example.com/web, newTag: "), Some(", digest: "), format!("}}{c1}\n{after}")),
                (true, false) => (format!("{head}  - {{name: registry.example.com/web, newTag: "), None, format!("}}{c1}\n{after}")),
                (false, true) => (format!("{head}  - name: registry.example.com/web{c1}\n    newTag: "), Some("\n    digest: "), format!("{c1}\n{after}")),
                (false, false) => (format!("{head}  - name: registry.example.com/web{c1}\n    newTag: "), None, format!("{c1}\n{after}")),
            };
            let layout = Layout::Kustomize { image: "registry.example.com/web".into() };
            let mut pieces = vec![crlf(&opening, windows)];
            let mut text = format!("{}{old_tag}", pieces[0]);
            if let Some(middle) = middle {
                pieces.push(crlf(middle, windows));
                text.push_str(&format!("{}sha256:aaaa", pieces[1]));
            }
            pieces.push(crlf(&closing, windows));
            text.push_str(pieces.last().unwrap());
            prop_assert_eq!(read_deployed("k.yaml", &text, &layout).unwrap().version, old.clone());

            if with_digest {
                let edited = write_deployed("k.yaml", &text, &layout, &new, Some(&new_digest)).unwrap();
                let deployed = read_deployed("k.yaml", &edited, &layout).unwrap();
                prop_assert_eq!(&deployed.version, &new);
                prop_assert_eq!(deployed.digest.as_deref(), Some(new_digest.as_str()));
                prop_assert_eq!(typed_at(&edited, &["images", "1", "newTag"]), serde_yaml::Value::String(new.clone()));
                let entry = kustomize_entry(&edited);
                assert_only_targets_changed(&edited, &pieces, &[entry.0, entry.1.unwrap()]);
            } else {
                // No place for a digest: without one only newTag changes; with one it is refused.
                let edited = write_deployed("k.yaml", &text, &layout, &new, None).unwrap();
                let deployed = read_deployed("k.yaml", &edited, &layout).unwrap();
                prop_assert_eq!(&deployed.version, &new);
                prop_assert_eq!(deployed.digest, None);
                prop_assert_eq!(typed_at(&edited, &["images", "1", "newTag"]), serde_yaml::Value::String(new.clone()));
                let entry = kustomize_entry(&edited);
                prop_assert!(entry.1.is_none());
                assert_only_targets_changed(&edited, &pieces, &[entry.0]);
                let refused = write_deployed("k.yaml", &text, &layout, &new, Some(&new_digest)).unwrap_err();
                prop_assert!(refused.0.starts_with("k.yaml: has no place for a digest;"), "{}", refused);
            }
        }

        #[test]
        fn raw_manifests_in_any_document(lead in lead(), before in documents_before(), after in documents_after(),
                                         old in old_version(), new in new_version(), style in 0u8..3, tagged in any::<bool>(),
                                         with_digest in any::<bool>(), new_digest in prop::option::of(digest()),
                                         c1 in comment(), windows in any::<bool>()) {
            let old_image = quoted(&format!("registry.example.com:5000/shop/api:{old}{}", if with_digest { "@sha256:cccc" } else { "" }), style);
            let tag_prefix = if tagged { "!!str " } else { "" };
            let opening = format!(
                "{lead}{before}apiVersion: apps/v1\nkind: Deployment{c1}\nmetadata: {{annotations: {{beschreibung: \"Größe – 日本語\"}}}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: sidecar\n          image: registry.example.com/proxy:1.0.0\n        - name: api{c1}\n          image: {tag_prefix}"
            );
            let closing = format!("{c1}\n          ports: [{{containerPort: 8080}}]\n{after}");
            let pieces = [crlf(&opening, windows), crlf(&closing, windows)];
            let text = format!("{}{old_image}{}", pieces[0], pieces[1]);
            let layout = Layout::Manifest { container: "api".into() };
            prop_assert_eq!(read_deployed("d.yaml", &text, &layout).unwrap().version, old.clone());
            let edited = write_deployed("d.yaml", &text, &layout, &new, new_digest.as_deref()).unwrap();
            let deployed = read_deployed("d.yaml", &edited, &layout).unwrap();
            prop_assert_eq!(&deployed.version, &new);
            prop_assert_eq!(&deployed.digest, &new_digest);
            let span = scalar_at(&edited, "spec.template.spec.containers[1].image").span;
            assert_only_targets_changed(&edited, &pieces, &[span]);
        }
    }

    /// The `newTag` and `digest` scalars of the `registry.example.com/web` images entry.
    fn kustomize_entry(text: &str) -> (std::ops::Range<usize>, Option<std::ops::Range<usize>>) {
        let documents = parse_documents(text).unwrap();
        for document in documents.iter() {
            let Some(Node::Sequence(images)) = document.at_path("images") else { continue };
            for entry in images {
                if entry.get("name").and_then(Node::as_scalar).map(|name| name.value.as_str()) == Some("registry.example.com/web") {
                    let tag = entry.get("newTag").unwrap().as_scalar().unwrap().span.clone();
                    let digest = entry.get("digest").map(|node| node.as_scalar().unwrap().span.clone());
                    return (tag, digest);
                }
            }
        }
        panic!("no images entry for registry.example.com/web in {text:?}");
    }
}

#[test]
fn an_image_pinned_by_digest_alone_has_the_digest_as_its_version_in_every_layout() {
    let helm = Layout::Helm { tag_path: "image.tag".into(), digest_path: Some("image.digest".into()) };
    let values = "image:\n  tag: \"1.4.1\"\n  digest: \"\"\n";
    let pinned = write_deployed("values.yaml", values, &helm, DIGEST, Some(DIGEST)).unwrap();
    assert_eq!(pinned, format!("image:\n  tag: \"\"\n  digest: \"{DIGEST}\"\n"));
    let read = read_deployed("values.yaml", &pinned, &helm).unwrap();
    assert_eq!((read.version.as_str(), read.digest.as_deref()), (DIGEST, Some(DIGEST)));
    let tagged_again = write_deployed("values.yaml", &pinned, &helm, "1.5.0", Some(DIGEST)).unwrap();
    assert_eq!(read_deployed("values.yaml", &tagged_again, &helm).unwrap().version, "1.5.0");

    let kustomize = Layout::Kustomize { image: "shop/web".into() };
    let kustomization = "images:\n  - name: shop/web\n    newTag: 2.0.0\n    digest: sha256:00\n";
    let pinned = write_deployed("kustomization.yaml", kustomization, &kustomize, DIGEST, Some(DIGEST)).unwrap();
    assert_eq!(pinned, format!("images:\n  - name: shop/web\n    newTag: \"\"\n    digest: {DIGEST}\n"));
    assert_eq!(read_deployed("kustomization.yaml", &pinned, &kustomize).unwrap().version, DIGEST);

    let manifest = Layout::Manifest { container: "api".into() };
    let deployment = "spec:\n  containers:\n    - name: api\n      image: registry.example.com:5000/shop/api:1.4.1\n";
    let pinned = write_deployed("deploy.yaml", deployment, &manifest, DIGEST, Some(DIGEST)).unwrap();
    assert!(pinned.ends_with(&format!("image: registry.example.com:5000/shop/api@{DIGEST}\n")), "{pinned}");
    let read = read_deployed("deploy.yaml", &pinned, &manifest).unwrap();
    assert_eq!((read.version.as_str(), read.digest.as_deref(), read.image.as_deref()), (DIGEST, Some(DIGEST), Some("registry.example.com:5000/shop/api")));
}
