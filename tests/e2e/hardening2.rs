//! Security hardening, second round (project issue 21): registries that answer endless
//! bodies, drip bytes or ask for credentials over plain HTTP; authenticated pulls. Each test
//! is named after the attack or promise and fails on the code before the fix.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::budget::tollgate_peak_rss_env;
use crate::registry_support::{Registry, sha256};
use crate::support::{Run, plugin, tollgate_env};

pub mod credentials;
pub mod repository;

const MIB: u64 = 1024 * 1024;

/// A request as a test server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// An HTTP/1.1 server on 127.0.0.1 that hands each request (one per connection) to
/// `handler`, which writes the whole answer. Returns `host:port` and the requests seen.
pub fn serve(handler: impl Fn(&Seen, &mut TcpStream) + Send + Sync + 'static) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let (handler, log) = (handler.clone(), log.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    return;
                }
                let mut parts = line.split_whitespace();
                let path = parts.nth(1).unwrap_or_default().to_string();
                let mut headers = Vec::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header == "\r\n" || header.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':') {
                        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
                    }
                }
                let request = Seen { path, headers };
                if let Some(length) = request.header("content-length").and_then(|length| length.parse::<u64>().ok()) {
                    let _ = std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink());
                }
                log.lock().unwrap().push(request.clone());
                handler(&request, &mut stream);
            });
        }
    });
    (host, seen)
}

/// A whole answer with a Content-Length.
pub fn respond(stream: &mut TcpStream, status: u16, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// An answer whose body never ends (no Content-Length; written until the client hangs up).
pub fn endless(stream: &mut TcpStream, status: u16, content_type: &str) {
    let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\nconnection: close\r\n\r\n");
    let chunk = vec![b'A'; 64 * 1024];
    while stream.write_all(&chunk).is_ok() {}
}

/// A Wasm artifact manifest whose one layer is `layer` (digest and size as given).
fn manifest(layer_digest: &str, layer_size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": { "mediaType": "application/vnd.wasm.config.v0+json", "digest": sha256(b"{}"), "size": 2 },
        "layers": [{ "mediaType": "application/wasm", "digest": layer_digest, "size": layer_size }],
    }))
    .unwrap()
}

/// A registry on 127.0.0.1 that serves `GET /v2/`, a manifest for a layer of `layer_size`
/// bytes under any tag, and answers the blob request with `blob`.
fn hostile_registry(layer_size: usize, blob: impl Fn(&mut TcpStream) + Send + Sync + 'static) -> String {
    let layer = vec![b'A'; layer_size];
    let manifest = manifest(&sha256(&layer), layer_size);
    let (host, _) = serve(move |request, stream| {
        if request.path.contains("/manifests/") {
            respond(stream, 200, &[("content-type", "application/vnd.oci.image.manifest.v1+json")], &manifest);
        } else if request.path.contains("/blobs/") {
            blob(stream);
        } else {
            respond(stream, 200, &[], b"{}");
        }
    });
    host
}

/// `tollgate plugin pull REFERENCE` with no Docker credentials; the run
/// and the child's peak RSS.
fn pull(reference: &str, env: &[(&str, &str)]) -> (Run, u64) {
    let dir = tempfile::tempdir().unwrap();
    let docker = dir.path().join("docker-config");
    let mut env = env.to_vec();
    env.push(("DOCKER_CONFIG", docker.to_str().unwrap()));
    // These pulls fail, so nothing is stored in the shared cache.
    tollgate_peak_rss_env(&["plugin", "pull", reference], &env)
}

/// Peak RSS allowed for a pull from a hostile registry. A pull alone peaks near 40 MiB, but
/// Linux's `ru_maxrss` of a spawned child also counts the test process it was spawned from
/// (a few hundred MiB while other tests run); an unbounded read reaches gigabytes in seconds.
const PULL_RSS_BOUND: u64 = 640 * MIB;

/// A pull from `host` fails with exit 2 saying `said`, within [`PULL_RSS_BOUND`].
fn pull_fails_bounded(host: &str, said: &str) {
    let (run, peak) = pull(&format!("oci://{host}/policies/p:1"), &[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(said), "{}", run.stderr);
    assert!(peak < PULL_RSS_BOUND, "peak RSS {} MiB", peak / MIB);
}

#[test]
fn an_endless_error_body_on_the_blob_request_is_cut_off_with_bounded_memory() {
    pull_fails_bounded(&hostile_registry(1000, |stream| endless(stream, 500, "application/json")), "HTTP 500");
}

#[test]
fn an_endless_token_answer_is_cut_off_with_bounded_memory() {
    let (host, _) = serve(|request, stream| {
        if request.path.starts_with("/token") {
            endless(stream, 200, "application/json");
        } else {
            let realm = format!("Bearer realm=\"http://{}/token\",service=\"registry\"", request.header("host").unwrap_or_default());
            respond(stream, 401, &[("www-authenticate", &realm)], b"{}");
        }
    });
    pull_fails_bounded(&host, "more than 65536 bytes");
}

#[test]
fn a_registry_that_drips_bytes_hits_the_pull_deadline() {
    let size = 236_000;
    let host = hostile_registry(size, move |stream| {
        let _ = write!(stream, "HTTP/1.1 200 OK\r\ncontent-length: {size}\r\nconnection: close\r\n\r\n");
        for _ in 0..size {
            if stream.write_all(b"A").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (run, _) = pull(&format!("oci://{host}/policies/p:1"), &[("TOLLGATE_REGISTRY_TIMEOUT", "2")]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("did not finish within 2 s") && run.stderr.contains("TOLLGATE_REGISTRY_TIMEOUT"), "{}", run.stderr);
}

#[test]
fn a_bad_registry_deadline_is_refused_by_name() {
    let host = hostile_registry(10, |stream| respond(stream, 200, &[], b"AAAAAAAAAA"));
    let (run, _) = pull(&format!("oci://{host}/policies/p:1"), &[("TOLLGATE_REGISTRY_TIMEOUT", "soon")]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("TOLLGATE_REGISTRY_TIMEOUT=\"soon\""), "{}", run.stderr);
}

#[test]
fn a_registry_download_past_the_declared_size_is_cut_off_with_and_without_content_length() {
    for with_length in [true, false] {
        let host = hostile_registry(1000, move |stream| {
            let body = vec![b'A'; 5000];
            if with_length {
                respond(stream, 200, &[], &body);
            } else {
                let _ = write!(stream, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n");
                let _ = stream.write_all(&body);
            }
        });
        let (run, _) = pull(&format!("oci://{host}/policies/p:1"), &[]);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("sent more than the 1000 bytes the manifest gives"), "with length {with_length}: {}", run.stderr);
    }
}

/// A Docker config with `user:password` for `registry`.
fn docker_config(dir: &std::path::Path, registry: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), format!("{{\"auths\":{{\"{registry}\":{{\"auth\":\"{auth}\"}}}}}}")).unwrap();
    config.to_str().unwrap().to_string()
}

#[test]
fn registry_credentials_are_not_sent_to_a_plain_http_realm_on_another_port() {
    let (realm, realm_seen) = serve(|_, stream| respond(stream, 200, &[], br#"{"token":"t0k3n"}"#));
    let challenge = format!("Bearer realm=\"http://{realm}/token\",service=\"registry\"");
    let (registry, _) = serve(move |_, stream| respond(stream, 401, &[("www-authenticate", &challenge)], b"{}"));
    let dir = tempfile::tempdir().unwrap();
    let docker = docker_config(dir.path(), &registry, "ci", "registry-password-1");
    let store = dir.path().join("store");
    let run = tollgate_env(&store, &["plugin", "pull", &format!("oci://{registry}/policies/p:1")], &[("DOCKER_CONFIG", &docker)]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("refusing to send the credentials") && run.stderr.contains(&realm), "{}", run.stderr);
    assert!(realm_seen.lock().unwrap().iter().all(|request| request.header("authorization").is_none()), "the realm received credentials");
}

#[test]
fn an_authenticated_pull_with_htpasswd_succeeds_and_wrong_credentials_are_refused() {
    // bcrypt of "tollgate-test-password" (htpasswd -nbB ci tollgate-test-password).
    let registry = Registry::start_with_htpasswd("ci:$2y$05$9Ay8k3NwJy2GBxGJSeXNDuF1zv3MfEvTgiulHb25LAIU9yJibOg6y");
    let dir = tempfile::tempdir().unwrap();
    let reference = registry.reference("policies/image-policy:1.0.0");
    let component = plugin("image-policy");
    let good = docker_config(dir.path(), &registry.host, "ci", "tollgate-test-password");
    let store = dir.path().join("store");
    let pushed = tollgate_env(&store, &["plugin", "push", component.to_str().unwrap(), &reference], &[("DOCKER_CONFIG", &good)]);
    assert_eq!(pushed.code, 0, "{}{}\n{}", pushed.stdout, pushed.stderr, registry.log());
    let pulled = tollgate_env(&store, &["plugin", "pull", &reference], &[("DOCKER_CONFIG", &good)]);
    assert_eq!(pulled.code, 0, "{}{}", pulled.stdout, pulled.stderr);
    let bad_dir = tempfile::tempdir().unwrap();
    let bad = docker_config(bad_dir.path(), &registry.host, "ci", "not-the-password");
    let refused = tollgate_env(&bad_dir.path().join("store"), &["plugin", "pull", &reference], &[("DOCKER_CONFIG", &bad)]);
    assert_eq!(refused.code, 2, "{}{}", refused.stdout, refused.stderr);
    assert!(refused.stderr.contains("refused access (401 Unauthorized) with user \"ci\""), "{}", refused.stderr);
}

#[test]
fn a_pull_through_a_bearer_token_exchange_succeeds() {
    // The artifact lives in a real registry; a front on another port requires a bearer token
    // from its own realm (which checks basic credentials) and relays GETs to the registry.
    let registry = Registry::start();
    let reference = registry.reference("policies/image-policy:1.0.0");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let pushed = tollgate_env(&store, &["plugin", "push", plugin("image-policy").to_str().unwrap(), &reference], &[]);
    assert_eq!(pushed.code, 0, "{}{}", pushed.stdout, pushed.stderr);
    let upstream = registry.host.clone();
    let expected_basic = {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("ci:token-exchange-password"))
    };
    let (front, seen) = serve(move |request, stream| {
        let host = request.header("host").unwrap_or_default().to_string();
        if request.path.starts_with("/token") {
            if request.header("authorization") == Some(expected_basic.as_str()) && request.path.contains("scope=repository%3Apolicies%2Fimage-policy%3Apull") {
                respond(stream, 200, &[], br#"{"token":"granted-token-1"}"#);
            } else {
                respond(stream, 401, &[], b"{}");
            }
        } else if request.header("authorization") != Some("Bearer granted-token-1") {
            let challenge = format!("Bearer realm=\"http://{host}/token\",service=\"front\",scope=\"repository:policies/image-policy:pull\"");
            respond(stream, 401, &[("www-authenticate", &challenge)], b"{}");
        } else {
            let mut upstream = ureq::get(&format!("http://{upstream}{}", request.path))
                .header("Accept", request.header("accept").unwrap_or("*/*"))
                .call()
                .unwrap();
            let digest = upstream.headers().get("docker-content-digest").map(|value| value.to_str().unwrap().to_string());
            let content_type = upstream.headers().get("content-type").map(|value| value.to_str().unwrap().to_string()).unwrap_or_default();
            let body = upstream.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
            let mut headers = vec![("content-type", content_type.as_str())];
            if let Some(digest) = &digest {
                headers.push(("docker-content-digest", digest));
            }
            respond(stream, upstream.status().as_u16(), &headers, &body);
        }
    });
    let docker = docker_config(dir.path(), &front, "ci", "token-exchange-password");
    let via_front = reference.replace(&registry.host, &front);
    let pulled = tollgate_env(&dir.path().join("store2"), &["plugin", "pull", &via_front, "-o", "json"], &[("DOCKER_CONFIG", &docker)]);
    assert_eq!(pulled.code, 0, "{}{}", pulled.stdout, pulled.stderr);
    let report: serde_json::Value = serde_json::from_str(&pulled.stdout).unwrap();
    assert_eq!(report["component_digest"], sha256(&std::fs::read(plugin("image-policy")).unwrap()).as_str());
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|request| request.path.starts_with("/token")), "the realm was asked for a token");
    assert!(seen.iter().any(|request| request.path.contains("/blobs/") && request.header("authorization") == Some("Bearer granted-token-1")));
}

#[test]
fn a_look_alike_actor_or_approver_with_an_invisible_character_is_refused() {
    let dir = crate::support::gitops_repo();
    let repo = crate::support::repo_path(&dir);
    let plan = ["plan", "shop-api", "--to", "dev", "--version", "1.5.0", "--no-digest"];
    for (flag, value) in [("--actor", "b\u{200b}ob"), ("--actor", "Bob <b\u{2060}ob@example.com>"), ("--approval", "b\u{200b}ob@1.5.0")] {
        let mut args = plan.to_vec();
        args.extend([flag, value]);
        let run = crate::support::tollgate_in(&repo, &args);
        assert_eq!(run.code, 2, "{flag} {value:?}: {}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(flag) && run.stderr.contains("invisible character") && run.stderr.contains("look-alike"), "{}", run.stderr);
    }
}
