use super::*;

const DIGEST: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

#[test]
fn helm_values_read_and_write_tag_and_digest() {
    let text = "replicas: 2\nimage:\n  repository: registry.example.com/shop/api\n  tag: 1.4.1 # promoted by tollgate\n  digest: \"\"\n";
    let layout = Layout::Helm { tag_path: "image.tag".into(), digest_path: Some("image.digest".into()) };
    let deployed = read_deployed("values.yaml", text, &layout).unwrap();
    assert_eq!(deployed, Deployed { version: "1.4.1".into(), digest: None, line: 4 });
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
