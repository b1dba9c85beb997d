//! Where the server listens and how it stops: loopback unless TLS or `--insecure-listen`,
//! TLS through rustls with the certificate and key re-read when their files change, and a
//! clean shutdown on SIGTERM or Ctrl-C that finishes the requests under way.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::server::TlsStream;

use super::api::router;
use super::state::AppState;
use super::mirror::RepoSource;
use super::{Commands, ServeOptions};
use crate::exit::Failure;

/// How long a client has to finish the TLS handshake.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// TLS handshakes under way at once (more connections wait to be accepted).
const MAX_HANDSHAKES: usize = 64;

/// Bind, say where (`tollgate: listening on URL` on stdout, the first line), serve until a
/// signal, then let the requests under way finish.
pub async fn serve(options: ServeOptions, commands: Arc<dyn Commands>) -> Result<(), Failure> {
    let address: SocketAddr = options
        .listen
        .parse()
        .map_err(|_| Failure::bad_input(format!("--listen {}: write ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080", options.listen)))?;
    check_address(&address, &options)?;
    let tls = match &options.tls {
        Some((cert, key)) => Some(ReloadingCert::load(cert, key)?),
        None => None,
    };
    if let RepoSource::Remote { url, dir } = &options.repo {
        super::mirror::prepare(url, dir).await?;
    }
    let state = Arc::new(AppState::new(&options, commands));
    // Refuse to start on a repository the requests could not open.
    state.open().map_err(|failure| Failure { message: format!("cannot serve this repository: {}", failure.message), ..failure })?;
    if matches!(options.repo, RepoSource::Remote { .. }) {
        state.metrics.fetched(true);
        tokio::spawn(fetch_periodically(Arc::clone(&state), options.fetch_interval));
    }
    let listener = TcpListener::bind(address).await.map_err(|error| Failure::bad_input(format!("--listen {address}: cannot listen ({error})")))?;
    let bound = listener.local_addr().map_err(|error| Failure::bad_input(format!("--listen {address}: {error}")))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("tollgate: listening on {scheme}://{bound}");
    let app = router(Arc::clone(&state));
    let served = match tls {
        Some(cert) => axum::serve(TlsListener::start(listener, cert), app).with_graceful_shutdown(shutdown_signal()).await,
        None => axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await,
    };
    served.map_err(|error| Failure::bad_input(format!("the server stopped: {error}")))?;
    // A fetch of the mirror under way finishes (killing git could leave a ref lock behind).
    let _no_fetch_under_way = state.fetching.lock().await;
    eprintln!("tollgate: shut down cleanly");
    Ok(())
}

/// Loopback, or TLS, or `--insecure-listen`; and beyond loopback, tokens. Promoting needs
/// tokens anywhere: the server pushes with its own credentials, which no other local user may
/// borrow.
fn check_address(address: &SocketAddr, options: &ServeOptions) -> Result<(), Failure> {
    if options.allow_promote && options.tokens.is_none() {
        return Err(Failure::bad_input("--allow-promote needs --token-file FILE: promotions push with this server's credentials"));
    }
    if address.ip().is_loopback() {
        return Ok(());
    }
    if options.tls.is_none() && !options.insecure_listen {
        return Err(Failure::bad_input(format!(
            "--listen {address}: beyond loopback the server needs --tls-cert FILE --tls-key FILE (or --insecure-listen behind a TLS-terminating proxy)"
        )));
    }
    if options.tokens.is_none() {
        return Err(Failure::bad_input(format!("--listen {address}: beyond loopback the server needs --token-file FILE")));
    }
    Ok(())
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = terminate => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    eprintln!("tollgate: stopping: finishing the requests under way");
}

/// Fetch the mirror every `interval`; a failure is counted and said on stderr, and the
/// server goes on with what it has.
async fn fetch_periodically(state: Arc<AppState>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(failure) = state.refresh().await {
            eprintln!("tollgate: warning: fetching the repository: {}", failure.message);
        }
    }
}

/// The certificate and key, re-read when either file's modification time or size changes
/// (checked at each handshake: a `stat` of two files). A file that no longer loads keeps the
/// last good pair in use and says so on stderr.
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

type Stamp = [(Option<SystemTime>, u64); 2];

impl ReloadingCert {
    /// Load the pair; an error names the file.
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, Failure> {
        let stamp = stamp(cert, key);
        let certified = certified_key(cert, key)?;
        Ok(Arc::new(ReloadingCert { cert: cert.to_path_buf(), key: key.to_path_buf(), current: Mutex::new((stamp, certified)) }))
    }

    fn server_config(self: &Arc<Self>) -> Arc<ServerConfig> {
        let mut config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(self) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert").field("cert", &self.cert).field("key", &self.key).finish()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().ok()?;
        let now = stamp(&self.cert, &self.key);
        if now != current.0 {
            match certified_key(&self.cert, &self.key) {
                Ok(certified) => *current = (now, certified),
                Err(failure) => eprintln!("tollgate: warning: keeping the previous TLS certificate: {}", failure.message),
            }
        }
        Some(Arc::clone(&current.1))
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let of = |path: &Path| std::fs::metadata(path).map_or((None, 0), |metadata| (metadata.modified().ok(), metadata.len()));
    [of(cert), of(key)]
}

fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, Failure> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|error| Failure::bad_input(format!("--tls-cert {}: {error}", cert.display())))?;
    if chain.is_empty() {
        return Err(Failure::bad_input(format!("--tls-cert {}: holds no PEM certificate", cert.display())));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|error| Failure::bad_input(format!("--tls-key {}: {error}", key.display())))?;
    let provider = rustls::crypto::ring::default_provider();
    let certified = CertifiedKey::from_der(chain, private, &provider)
        .map_err(|error| Failure::bad_input(format!("--tls-cert {} and --tls-key {}: {error}", cert.display(), key.display())))?;
    Ok(Arc::new(certified))
}

/// Accepts TCP connections and completes their TLS handshakes off the accept loop (each
/// within [`HANDSHAKE_DEADLINE`]), handing finished ones to the server.
pub struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    fn start(listener: TcpListener, cert: Arc<ReloadingCert>) -> TlsListener {
        let local = listener.local_addr().expect("a bound listener has an address");
        let acceptor = TlsAcceptor::from(cert.server_config());
        let (sender, ready) = mpsc::channel(MAX_HANDSHAKES);
        let handshakes = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&handshakes).acquire_owned().await else { return };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        // Out of file descriptors and the like: wait a moment, as axum does.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (acceptor, sender) = (acceptor.clone(), sender.clone());
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Ok(Ok(stream)) = tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(stream)).await {
                        let _ = sender.send((stream, peer)).await;
                    }
                });
            }
        });
        TlsListener { ready, local }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop never ends while the listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
