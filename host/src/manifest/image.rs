//! Image repositories compared as Docker compares them: `nginx`, `library/nginx`,
//! `docker.io/library/nginx` and `index.docker.io/library/nginx` name one image.

use super::Deployed;

/// `image` (a repository, without tag or digest) in Docker's canonical form: a first component
/// that is not a host (no `.` or `:`, not `localhost`) means Docker Hub (`docker.io/`);
/// `index.docker.io` is `docker.io`; a Docker Hub repository of one component is under
/// `library/`.
pub fn normalize_image(image: &str) -> String {
    let (first, rest) = image.split_once('/').unwrap_or(("", image));
    let is_host = !first.is_empty() && (first.contains(['.', ':']) || first == "localhost");
    let (registry, path) = match (is_host, first) {
        (true, "index.docker.io") => ("docker.io", rest),
        (true, _) => (first, rest),
        (false, _) => ("docker.io", image),
    };
    if registry == "docker.io" && !path.contains('/') {
        format!("docker.io/library/{path}")
    } else {
        format!("{registry}/{path}")
    }
}

/// Refuse a file whose image repository (where its layout names one) is not `configured`
/// for `what` (an application, or an application's artifact): the check `plan` and
/// `check-config` both make.
pub fn check_image(file: &str, deployed: &Deployed, configured: &str, what: &str) -> Result<(), String> {
    match &deployed.image {
        Some(named) if normalize_image(named) != normalize_image(configured) => Err(format!(
            "{file}:{}: the image repository in the file is {named}, but tollgate.yaml configures {configured} for {what}; fix one of them",
            deployed.line
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_image;

    #[test]
    fn docker_hub_names_compare_as_docker_compares_them() {
        for same in ["nginx", "library/nginx", "docker.io/nginx", "docker.io/library/nginx", "index.docker.io/library/nginx"] {
            assert_eq!(normalize_image(same), "docker.io/library/nginx", "{same}");
        }
        assert_eq!(normalize_image("kostiscodefresh/simple-env-app"), normalize_image("docker.io/kostiscodefresh/simple-env-app"));
        assert_eq!(normalize_image("registry.example.com/shop/api"), "registry.example.com/shop/api");
        assert_eq!(normalize_image("localhost/app"), "localhost/app");
        assert_eq!(normalize_image("localhost:5000/app"), "localhost:5000/app");
        assert_ne!(normalize_image("registry.example.com/shop/other"), normalize_image("registry.example.com/shop/api"));
        assert_ne!(normalize_image("ghcr.io/nginx"), normalize_image("nginx"));
    }
}
