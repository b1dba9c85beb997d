use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::{Arc, Mutex};

use crate::runtime::HttpFetcher;
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

/// How an echoing server transforms what it hands back.
type Transform = fn(&str) -> String;

/// A URL and the headers sent with it.
type Request = (String, Vec<(String, String)>);

/// Records what it was asked and answers with an echo of the request headers transformed
/// by `transform` (none: a plain answer).
#[derive(Default)]
struct Echo {
    seen: Mutex<Vec<Request>>,
    transform: Option<Transform>,
}

impl HttpFetcher for Echo {
    fn get(&self, url: &str, headers: &[(String, String)], _: Duration, _: u64) -> Result<HttpResponse, FetchError> {
        self.seen.lock().unwrap().push((url.to_string(), headers.to_vec()));
        let Some(transform) = self.transform else {
            return Ok(HttpResponse { status: 200, headers: Vec::new(), body: br#"{"health":"Healthy"}"#.to_vec() });
        };
        let echoed: Vec<String> = headers.iter().map(|(name, value)| transform(&format!("{name}: {value}"))).collect();
        Ok(HttpResponse { status: 200, headers: Vec::new(), body: echoed.join("\n").into_bytes() })
    }
}

fn fetcher(credentials: BTreeMap<String, OriginCredential>) -> (Arc<Echo>, CredentialedFetcher) {
    echoing(credentials, None)
}

fn echoing(credentials: BTreeMap<String, OriginCredential>, transform: Option<Transform>) -> (Arc<Echo>, CredentialedFetcher) {
    let echo = Arc::new(Echo { transform, ..Echo::default() });
    let resolved = resolve_with(&credentials, &env).unwrap();
    (echo.clone(), CredentialedFetcher::new(echo, resolved))
}

fn argocd() -> BTreeMap<String, OriginCredential> {
    BTreeMap::from([("https://argocd.example.com".to_string(), bearer_env("ARGOCD_TOKEN"))])
}

fn get(fetcher: &CredentialedFetcher, url: &str, headers: &[(&str, &str)]) -> Result<HttpResponse, FetchError> {
    let headers: Vec<(String, String)> = headers.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    fetcher.get(url, &headers, Duration::from_secs(1), 1024)
}

#[test]
fn the_header_goes_to_its_origin_only() {
    let (echo, fetcher) = fetcher(argocd());
    get(&fetcher, "https://argocd.example.com/api/v1/applications/x", &[("accept", "application/json")]).unwrap();
    let sent = echo.seen.lock().unwrap()[0].1.clone();
    assert!(sent.contains(&("authorization".to_string(), format!("Bearer {TOKEN}"))), "{sent:?}");
    get(&fetcher, "https://elsewhere.example.com/steal", &[]).unwrap();
    let seen = echo.seen.lock().unwrap();
    assert!(seen[1].1.iter().all(|(name, value)| name != "authorization" && !value.contains(TOKEN)), "{seen:?}");
    assert_eq!(fetcher.leak(&["Synced and Healthy"]), None);
}

#[test]
fn an_origin_echoing_the_credential_in_any_common_encoding_stops_the_policy() {
    // Every encoding is covered by scan.rs's tests; here, that each kind of hit stops the policy.
    let transforms: [(&str, Transform); 3] = [
        ("as is", |text| text.to_string()),
        ("upper-cased", |text| text.to_uppercase()),
        ("base64", |text| base64::engine::general_purpose::STANDARD.encode(text)),
    ];
    for (name, transform) in transforms {
        let (echo, fetcher) = echoing(argocd(), Some(transform));
        let error = get(&fetcher, "https://argocd.example.com/api", &[]).unwrap_err();
        let FetchError::Failed(message) = error else { panic!("{name}: {error:?}") };
        assert!(message.contains("the answer from https://argocd.example.com carried a form of the credential"), "{name}: {message}");
        assert!(!message.contains(TOKEN));
        let leak = fetcher.leak(&[]).unwrap_or_else(|| panic!("{name}: the policy must fail"));
        assert!(leak.contains("https://argocd.example.com") && !leak.contains(TOKEN), "{leak}");
        // Nothing more goes out once it tripped.
        assert!(get(&fetcher, "https://erp.example.com/ready", &[]).is_err(), "{name}");
        assert_eq!(echo.seen.lock().unwrap().len(), 1, "{name}");
    }
}

#[test]
fn a_policy_sending_a_form_of_the_credential_anywhere_is_stopped() {
    let base64 = base64::engine::general_purpose::STANDARD.encode(TOKEN);
    for (url, headers) in [
        (format!("https://erp.example.com/collect?t={base64}"), vec![]),
        ("https://erp.example.com/collect".to_string(), vec![("x-t", TOKEN.to_uppercase())]),
    ] {
        let (echo, fetcher) = fetcher(argocd());
        let headers: Vec<(&str, &str)> = headers.iter().map(|(name, value)| (*name, value.as_str())).collect();
        let error = get(&fetcher, &url, &headers).unwrap_err();
        assert!(matches!(&error, FetchError::Failed(message) if message.contains("tried to send a form of the credential for https://argocd.example.com to https://erp.example.com")), "{error:?}");
        assert!(echo.seen.lock().unwrap().is_empty(), "nothing was sent");
        assert!(fetcher.leak(&[]).is_some());
    }
}

#[test]
fn findings_or_logs_carrying_a_form_of_the_credential_fail_the_policy() {
    let (_, fetcher) = fetcher(argocd());
    let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("token={TOKEN}"));
    let leak = fetcher.leak(&["all good", &encoded]).expect("found");
    assert!(leak.contains("https://argocd.example.com") && !leak.contains(TOKEN), "{leak}");
}

#[test]
fn secrets_shorter_than_twelve_characters_are_refused_at_load() {
    let short = |_: &str| Some(OsString::from("elevenchars"));
    let error = resolve_with(&argocd(), &short).unwrap_err();
    assert!(error.contains("holds a secret of 11 characters; tollgate needs at least 12") && !error.contains("elevenchars"), "{error}");
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
fn basic_auth_is_encoded_and_an_echo_of_it_stops_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("password");
    std::fs::write(&file, "s3cret-pw-91x\n").unwrap();
    let credential = OriginCredential {
        bearer: None,
        basic: Some(BasicCredential { username: "tollgate".into(), password: SecretSource { env: None, file: Some(file.to_str().unwrap().to_string()) } }),
    };
    let credentials = BTreeMap::from([("http://127.0.0.1:9093".to_string(), credential)]);
    let (echo, fetcher) = fetcher(credentials.clone());
    get(&fetcher, "http://127.0.0.1:9093/api/v2/alerts", &[]).unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode("tollgate:s3cret-pw-91x");
    assert!(echo.seen.lock().unwrap()[0].1.contains(&("authorization".to_string(), format!("Basic {encoded}"))));
    let (_, echoing) = echoing(credentials, Some(|text| text.to_lowercase()));
    assert!(get(&echoing, "http://127.0.0.1:9093/api/v2/alerts", &[]).is_err(), "the lower-cased header is a form of the pair");
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
