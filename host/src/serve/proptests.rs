//! Open-ended input at the server's doors: any body is a decision request or a 400 naming
//! where it went wrong, never a panic; any cookie header is a session or not; and any string
//! the repository or a plugin supplies reaches the dashboard's HTML as text, never as markup
//! or an attribute.

use proptest::prelude::*;

use super::body::PlanBody;
use super::dashboard::view::{Cell, PolicyView, RecentDecision, Row};
use super::guard::session_allowed;

/// Strings mixing markup, quotes and any character, with injection attempts inside.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<x-h>".to_string()),
        Just("\" x-h=\"1".to_string()),
        Just("' x-h='1".to_string()),
        Just("</td><x-h>".to_string()),
        Just("&lt;x-h&gt;".to_string()),
        Just("{{ 7*7 }}".to_string()),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..4).prop_map(|pieces| pieces.concat())
}

/// JSON values of any shape, with the body's own keys more likely than others.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let key = prop_oneof![
        Just("app".to_string()), Just("to".to_string()), Just("approvals".to_string()), Just("labels".to_string()),
        Just("version".to_string()), Just("at".to_string()), Just("all".to_string()), any::<String>(),
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<String>().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..6).prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_body_is_a_request_or_a_400_that_says_where(value in json(), bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        for input in [serde_json::to_vec(&value).unwrap(), bytes] {
            match PlanBody::parse(&input) {
                Ok(body) => prop_assert!(!body.to.is_empty() && (body.all || !body.app.is_empty())),
                Err(error) => {
                    prop_assert_eq!(error.status.as_u16(), 400);
                    let message = &error.message;
                    let (place, _) = message.split_once(": ").unwrap_or((message, ""));
                    prop_assert!(!message.is_empty() && !place.is_empty(), "{}", message);
                }
            }
        }
    }

    #[test]
    fn any_cookie_header_opens_nothing_without_the_tokens_session(cookie in "[ -~]{0,200}") {
        let tokens = vec!["0123456789abcdef0123".to_string()];
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(value) = cookie.parse() {
            headers.insert(axum::http::header::COOKIE, value);
        }
        let expected = super::guard::session_value(&tokens[0]);
        let holds = cookie.split(';').any(|pair| pair.trim() == format!("{}={expected}", super::guard::SESSION_COOKIE));
        prop_assert_eq!(session_allowed(Some(&tokens), &headers), holds);
    }

    #[test]
    fn repository_and_plugin_strings_reach_the_page_as_text(app in hostile(), version in hostile(), by in hostile(), finding in hostile(), env in hostile()) {
        let rows = vec![Row {
            app: app.clone(),
            cells: vec![Cell { env: env.clone(), version: Some(version.clone()), by: Some(by.clone()), commit: Some(by.clone()), lag: Some(finding.clone()), ..Cell::default() }],
        }];
        let recent = vec![RecentDecision {
            time: by.clone(), call: "plan", app: app.clone(), from: Some(env.clone()), to: env.clone(), version: version.clone(),
            requested_by: by.clone(), decision: "deny", summary: finding.clone(), committed: Some(app.clone()),
            policies: vec![PolicyView { name: app.clone(), verdict: version.clone(), blocks: true, findings: vec![finding.clone()] }],
        }];
        let drawing = super::dashboard::view::Drawing { nodes: Vec::new(), edges: Vec::new(), width: 1, height: 1 };
        let html = super::dashboard::render_index(&rows, std::slice::from_ref(&env), &drawing, &recent).unwrap();
        prop_assert!(!html.contains("<x-h"), "{}", html);
        prop_assert!(!html.contains("\" x-h=") && !html.contains("' x-h="), "{}", html);
        if [&app, &version, &by, &finding, &env].iter().any(|text| text.contains("{{ 7*7 }}")) {
            prop_assert!(html.contains("{{ 7*7 }}"), "a template expression in data stays text: {}", html);
        }
    }
}
