use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;

use super::*;

const TOKEN: &str = "tg-test-token-6f1d9c2b";

fn bearer_env(name: &str) -> OriginCredential {
    OriginCredential { bearer: Some(SecretSource { env: Some(name.into()), file: None }), basic: None }
}

fn env(name: &str) -> Option<OsString> {
    (name == "ARGOCD_TOKEN").then(|| OsString::from(TOKEN))
}

/// A URL and the headers sent with it.
type Request = (String, Vec<(String, String)>);

/// Records what it was asked and answers with an echo of the request headers.
#[derive(Default)]
struct Echo {
    seen: Mutex<Vec<Request>>,
}

impl HttpFetcher for Echo {
    fn get(&self, url: &str, headers: &[(String, String)], _: Duration, _: u64) -> Result<HttpResponse, FetchError> {
        self.seen.lock().unwrap().push((url.to_string(), headers.to_vec()));
        let echoed: Vec<String> = headers.iter().map(|(name, value)| format!("{name}: {value}")).collect();
        Ok(HttpResponse {
            status: 200,
            headers: echoed.iter().map(|line| ("x-echo".to_string(), line.clone())).collect(),
            body: echoed.join("\n").into_bytes(),
        })
    }
}

fn fetcher(credentials: BTreeMap<String, OriginCredential>) -> (Arc<Echo>, CredentialedFetcher) {
    let echo = Arc::new(Echo::default());
    let resolved = resolve_with(&credentials, &env).unwrap();
    (echo.clone(), CredentialedFetcher { inner: echo, credentials: resolved })
}

fn get(fetcher: &CredentialedFetcher, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, FetchError> {
    let headers: Vec<(String, String)> = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    fetcher.get(url, &headers, Duration::from_secs(1), 1024)
}

#[test]
fn the_header_goes_to_its_origin_only_and_never_comes_back() {
    let (echo, fetcher) = fetcher(BTreeMap::from([("https://argocd.example.com".to_string(), bearer_env("ARGOCD_TOKEN"))]));
    let response = get(&fetcher, "https://argocd.example.com/api/v1/applications/x", &[("accept", "application/json")]).unwrap();
    let sent = echo.seen.lock().unwrap()[0].1.clone();
    assert!(sent.contains(&("authorization".to_string(), format!("Bearer {TOKEN}"))), "{sent:?}");
    // The echoing server hands the header back; the plugin reads it redacted.
    let body = String::from_utf8(response.body).unwrap();
    assert!(body.contains("authorization: Bearer [redacted]") && !body.contains(TOKEN), "{body}");
    assert!(response.headers.iter().all(|(_, value)| !value.contains(TOKEN)), "{:?}", response.headers);

    get(&fetcher, "https://elsewhere.example.com/steal", &[]).unwrap();
    let seen = echo.seen.lock().unwrap();
    assert!(seen[1].1.iter().all(|(name, value)| name != "authorization" && !value.contains(TOKEN)), "{seen:?}");
}

#[test]
fn a_plugin_authorization_header_for_a_credentialed_origin_is_refused() {
    let (echo, fetcher) = fetcher(BTreeMap::from([("https://argocd.example.com".to_string(), bearer_env("ARGOCD_TOKEN"))]));
    for name in ["Authorization", "AUTHORIZATION", " authorization"] {
        let error = get(&fetcher, "https://argocd.example.com/x", &[(name, "Bearer mine")]).unwrap_err();
        assert_eq!(
            error,
            FetchError::Failed(
                "refused: tollgate sends the credentials for https://argocd.example.com itself; a policy may not set an Authorization header for it"
                    .into()
            )
        );
    }
    assert!(echo.seen.lock().unwrap().is_empty(), "nothing was sent");
    // Other origins keep working with the plugin's own header.
    get(&fetcher, "https://erp.example.com/ready", &[("Authorization", "Bearer mine")]).unwrap();
}

#[test]
fn basic_auth_is_encoded_and_both_forms_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "s3cret-pw-91\n").unwrap();
    let credential = OriginCredential {
        bearer: None,
        basic: Some(BasicCredential { username: "tollgate".into(), password: SecretSource { env: None, file: Some(file.to_str().unwrap().to_string()) } }),
    };
    let (echo, fetcher) = fetcher(BTreeMap::from([("http://127.0.0.1:9093".to_string(), credential)]));
    let response = get(&fetcher, "http://127.0.0.1:9093/api/v2/alerts", &[]).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode("tollgate:s3cret-pw-91");
    assert!(echo.seen.lock().unwrap()[0].1.contains(&("authorization".to_string(), format!("Basic {encoded}"))));
    let body = String::from_utf8(response.body).unwrap();
    assert!(!body.contains(&encoded) && !body.contains("s3cret-pw-91"), "{body}");
}

#[test]
fn missing_or_bad_secrets_name_the_source_and_never_a_value() {
    let missing = BTreeMap::from([("https://argocd.example.com".to_string(), bearer_env("NO_SUCH_TOKEN"))]);
    assert_eq!(
        resolve_with(&missing, &env).unwrap_err(),
        "credentials for https://argocd.example.com: environment variable NO_SUCH_TOKEN is not set; set it in the environment tollgate runs in"
    );
    let multiline = |_: &str| Some(OsString::from(format!("{TOKEN}\nX-Evil: 1")));
    let error = resolve_with(&BTreeMap::from([("https://a.example".to_string(), bearer_env("T"))]), &multiline).unwrap_err();
    assert!(error.contains("holds control characters") && !error.contains(TOKEN), "{error}");
    let empty = |_: &str| Some(OsString::new());
    assert!(resolve_with(&BTreeMap::from([("https://a.example".to_string(), bearer_env("T"))]), &empty).unwrap_err().contains("is empty"));
    let file = OriginCredential { bearer: Some(SecretSource { env: None, file: Some("/nonexistent/token".into()) }), basic: None };
    let error = resolve_with(&BTreeMap::from([("https://a.example".to_string(), file)]), &env).unwrap_err();
    assert!(error.starts_with("credentials for https://a.example: cannot read file /nonexistent/token"), "{error}");

    let resolved = resolve_with(&BTreeMap::from([("https://argocd.example.com".to_string(), bearer_env("ARGOCD_TOKEN"))]), &env).unwrap();
    assert!(!format!("{resolved:?}").contains(TOKEN), "Debug must not show the secret");
}

#[test]
fn static_checks_and_descriptions() {
    let granted = vec!["https://argocd.example.com".to_string()];
    assert!(check("https://argocd.example.com", &bearer_env("ARGOCD_TOKEN"), &granted).is_ok());
    assert!(check("https://other.example.com", &bearer_env("X"), &granted).unwrap_err().1.contains("is not in http_origins"));
    assert!(check("https://argocd.example.com/api", &bearer_env("X"), &granted).unwrap_err().1.contains("not a bare origin"));
    let neither = OriginCredential { bearer: None, basic: None };
    assert!(check("https://argocd.example.com", &neither, &granted).unwrap_err().1.contains("exactly one of bearer"));
    let relative = OriginCredential { bearer: Some(SecretSource { env: None, file: Some("token.txt".into()) }), basic: None };
    assert_eq!(check("https://argocd.example.com", &relative, &granted).unwrap_err().0, "bearer");
    let both = OriginCredential { bearer: Some(SecretSource { env: Some("A".into()), file: Some("/a".into()) }), basic: None };
    assert!(check("https://argocd.example.com", &both, &granted).unwrap_err().1.contains("never the secret itself"));

    assert_eq!(describe(&bearer_env("ARGOCD_TOKEN")), "bearer token from environment variable ARGOCD_TOKEN");
    let basic = OriginCredential {
        bearer: None,
        basic: Some(BasicCredential { username: "tg".into(), password: SecretSource { env: None, file: Some("/run/secrets/am".into()) } }),
    };
    assert_eq!(describe(&basic), "basic auth as tg with the password from file /run/secrets/am");
}
