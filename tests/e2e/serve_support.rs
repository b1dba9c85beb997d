//! A real `tollgate serve` on a loopback port (port 0; the bound address is read from its
//! first line of stdout), and a plain HTTP client for it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::support::{shared_cache, workspace};

/// A token every test server accepts.
pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A running server; stopped (SIGTERM, then killed) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    stdout: Option<ChildStdout>,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {} {}", self.status, self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }
}

impl Server {
    /// `tollgate --repo REPO serve --listen 127.0.0.1:0 ARGS`, with the shared compile cache;
    /// waits until it listens. `global` go before `serve` (e.g. `--decision-log`).
    pub fn start(repo: &str, global: &[&str], args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tollgate"));
        command
            .arg("--cache-dir")
            .arg(shared_cache())
            .args(["--repo", repo])
            .args(global)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(workspace())
            .env_remove("TOLLGATE_CACHE_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("start tollgate serve");
        let mut stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut line = String::new();
            let mut buffered = BufReader::new(&mut stdout);
            let _ = buffered.read_line(&mut line);
            let _ = sender.send(line);
            stdout
        });
        let line = match receiver.recv_timeout(Duration::from_secs(300)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("tollgate serve did not say where it listens");
            }
        };
        let Some(url) = line.trim().strip_prefix("tollgate: listening on ") else {
            let status = child.wait().unwrap();
            panic!("tollgate serve did not start ({status}): {line:?}");
        };
        let url = url.to_string();
        Server { child, url, stdout: Some(reader.join().unwrap()) }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A request with the test token.
    pub fn call(&self, method: &str, path: &str, body: Option<&str>) -> Answer {
        self.call_with(method, path, &[("authorization", &format!("Bearer {TOKEN}"))], body.map(str::as_bytes))
    }

    /// A request with these headers only.
    pub fn call_with(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
        request(&self.url, method, path, headers, body)
    }

    /// Send SIGTERM and wait for the exit code; also what it printed after its first line.
    pub fn terminate(mut self) -> (i32, String) {
        signal(&self.child, "TERM");
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        let mut rest = String::new();
        if let Some(mut stdout) = self.stdout.take() {
            let _ = stdout.read_to_string(&mut rest);
        }
        (code, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").arg(format!("-{name}")).arg(child.id().to_string()).status().unwrap();
    assert!(status.success());
}

/// One HTTP request with ureq (non-2xx answers are answers, not errors; redirects are
/// answers too, not followed).
pub fn request(url: &str, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .into();
    let mut builder = ureq::http::Request::builder().method(method).uri(format!("{url}{path}"));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    if body.is_some() && !headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
        builder = builder.header("content-type", "application/json");
    }
    let request = builder.body(body.map(<[u8]>::to_vec).unwrap_or_default()).unwrap();
    let mut response = agent.run(request).unwrap_or_else(|error| panic!("{method} {path}: {error}"));
    let status = response.status().as_u16();
    let headers = response.headers().iter().map(|(name, value)| (name.to_string(), value.to_str().unwrap_or("").to_string())).collect();
    let body = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_string().unwrap_or_default();
    Answer { status, headers, body }
}

/// Write a token file holding [`TOKEN`] into `dir`.
pub fn token_file(dir: &Path) -> String {
    crate::support::write(dir, "tokens", &format!("# the tests' token\n{TOKEN}\n"))
}

/// `GET url+path` over TLS trusting only the certificate in `ca_pem`; `Err` when the
/// connection or the handshake fails (e.g. the server presents another certificate).
pub fn get_tls(url: &str, path: &str, ca_pem: &[u8]) -> Result<Answer, String> {
    let root = ureq::tls::Certificate::from_pem(ca_pem).unwrap();
    let tls = ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![root]))).build();
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).tls_config(tls).timeout_global(Some(Duration::from_secs(60))).build().into();
    let mut response = agent.get(format!("{url}{path}")).call().map_err(|error| error.to_string())?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap_or_default();
    Ok(Answer { status, headers: Vec::new(), body })
}

/// A self-signed certificate for 127.0.0.1 made by `openssl`, written to `cert`/`key`
/// (through a temporary name and a rename, as cert-manager's atomic updates do).
pub fn self_signed(dir: &Path, name: &str, cert: &Path, key: &Path) {
    let (new_cert, new_key) = (dir.join(format!("{name}.crt.new")), dir.join(format!("{name}.key.new")));
    let status = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", &format!("/CN={name}"), "-addext", "subjectAltName=IP:127.0.0.1", "-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&new_key)
        .arg("-out")
        .arg(&new_cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    std::fs::rename(&new_key, key).unwrap();
    std::fs::rename(&new_cert, cert).unwrap();
}
