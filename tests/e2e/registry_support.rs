//! A real OCI registry for the tests: Debian's `docker-registry` (the CNCF distribution
//! registry), started on a free 127.0.0.1 port with a temporary storage directory and
//! config, stopped when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The registry binary the Debian package installs.
const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// A running registry.
pub struct Registry {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub host: String,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start a registry and wait until it answers `GET /v2/`.
    pub fn start() -> Registry {
        Registry::start_with(false, None)
    }

    /// A registry that requires HTTP basic auth checked against one htpasswd line
    /// (`user:bcrypt-hash`).
    pub fn start_with_htpasswd(line: &str) -> Registry {
        Registry::start_with(false, Some(line))
    }

    /// A registry that requires a bearer token from a realm that never grants one
    /// (distribution's `silly` access controller): every request is refused with 401.
    pub fn start_refusing() -> Registry {
        Registry::start_with(true, None)
    }

    fn start_with(refusing: bool, htpasswd: Option<&str>) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).is_file(),
            "{REGISTRY_BINARY} is missing: install Debian's docker-registry package (.ci/run does)"
        );
        crate::support::start_on_a_free_port("docker-registry", |port| Registry::start_on(port, refusing, htpasswd))
    }

    /// Start on `port`; `None` when another process took the port first.
    fn start_on(port: u16, refusing: bool, htpasswd: Option<&str>) -> Option<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let host = format!("127.0.0.1:{port}");
        let storage = dir.path().join("storage");
        std::fs::create_dir(&storage).unwrap();
        let config = dir.path().join("config.yml");
        // The access log is on (it goes to stdout, into registry.log): tests read it to see
        // which requests tollgate made. The header names this instance, so that an answer from
        // another server that took the port is not mistaken for this one's.
        let instance = format!("{}-{port}", std::process::id());
        let users = dir.path().join("htpasswd");
        let auth = match (refusing, htpasswd) {
            (true, _) => format!("auth:\n  silly:\n    realm: http://{host}/no-tokens-here\n    service: registry\n"),
            (false, Some(line)) => {
                std::fs::write(&users, format!("{line}\n")).unwrap();
                format!("auth:\n  htpasswd:\n    realm: tollgate-test\n    path: {}\n", users.display())
            }
            (false, None) => String::new(),
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\n  \
                 delete:\n    enabled: true\nhttp:\n  addr: {host}\n  headers:\n    X-Tollgate-Test-Registry: [\"{instance}\"]\n{}",
                storage.display(),
                auth
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut registry = Registry { child: Some(child), host, dir };
        registry.wait_until_ready(&instance).then_some(registry)
    }

    /// Whether the registry answers `GET /v2/` as itself (false: it could not bind its port).
    fn wait_until_ready(&mut self, instance: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().unwrap()) {
                let log = self.log();
                if log.contains("address already in use") {
                    return false;
                }
                panic!("docker-registry exited with {status}: {log}");
            }
            if let Ok(mut stream) = TcpStream::connect(&self.host) {
                let _ = write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host);
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
                let status_line = answer.lines().next().unwrap_or_default();
                let answered = status_line.ends_with(" 200 OK") || status_line.ends_with(" 401 Unauthorized");
                if answered && answer.to_ascii_lowercase().contains(&format!("x-tollgate-test-registry: {instance}\r\n")) {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("docker-registry did not answer on {} within 60 s: {}", self.host, self.log());
    }

    /// The requests the registry served so far (its access log): `METHOD PATH` per line.
    pub fn requests(&self) -> Vec<String> {
        self.log()
            .lines()
            .filter_map(|line| line.split('"').nth(1))
            .filter(|request| request.ends_with("HTTP/1.1") || request.ends_with("HTTP/1.0"))
            .map(|request| request.rsplit_once(' ').map_or(request, |(head, _)| head).to_string())
            .collect()
    }

    /// The registry's own log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `oci://127.0.0.1:PORT/REPOSITORY:TAG`.
    pub fn reference(&self, repository_and_tag: &str) -> String {
        format!("oci://{}/{repository_and_tag}", self.host)
    }

    /// Where the registry keeps the blob with `digest` (`sha256:HEX`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }

    /// GET `path` (e.g. `/v2/NAME/manifests/TAG`) with an Accept header; returns the body.
    pub fn get(&self, path: &str, accept: &str) -> Vec<u8> {
        let mut response = ureq::get(&format!("http://{}{path}", self.host)).header("Accept", accept).call().unwrap();
        response.body_mut().with_config().limit(1 << 20).read_to_vec().unwrap()
    }

    /// Push blobs and a raw manifest under `repository:tag` with tollgate's registry client
    /// (for artifacts `tollgate plugin push` would never make).
    pub fn push_raw(&self, repository: &str, tag: &str, blobs: &[&[u8]], manifest: &[u8]) {
        let reference = tollgate::registry::OciReference::parse(&self.reference(&format!("{repository}:{tag}"))).unwrap();
        let client = tollgate::registry::RegistryClient::new(&reference, &[]).unwrap();
        client.push_raw(&reference, blobs, manifest, "application/vnd.oci.image.manifest.v1+json").unwrap();
    }

    /// Push `repository:tag` as an OCI manifest with one configuration and one layer, each a
    /// (media type, bytes) pair; returns the manifest digest.
    pub fn push_one_layer(&self, repository: &str, tag: &str, config: (&str, &[u8]), layer: (&str, &[u8])) -> String {
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"{}","digest":"{}","size":{}}},"layers":[{{"mediaType":"{}","digest":"{}","size":{}}}]}}"#,
            config.0,
            sha256(config.1),
            config.1.len(),
            layer.0,
            sha256(layer.1),
            layer.1.len()
        );
        self.push_raw(repository, tag, &[config.1, layer.1], manifest.as_bytes());
        sha256(manifest.as_bytes())
    }

    /// Stop answering (the process is killed; its port closes).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:HEX` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}
