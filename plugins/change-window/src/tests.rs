//! Native tests through the SDK's test double. Dates: 2026-01-05 is a Monday; Europe/Berlin
//! is UTC+1 (CET) in winter and UTC+2 (CEST) from 2026-03-29 01:00Z to 2026-10-25 01:00Z.

use super::*;
use tollgate_sdk::serde_json::{Value, json};
use tollgate_sdk::testing::{self, transition};

fn config() -> Value {
    json!({
        "default": {
            "timezone": "Europe/Berlin",
            "windows": [{ "days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00" }]
        },
        "environments": {
            "prod": {
                "timezone": "Europe/Berlin",
                "windows": [
                    { "days": ["Mon", "tue", "wed", "THU"], "start": "09:00", "end": "16:00" },
                    { "days": ["friday"], "start": "09:00", "end": "12:00" },
                    { "days": ["sat"], "start": "22:00", "end": "02:00" }
                ],
                "freezes": [{ "from": "2026-12-18 18:00", "until": "2027-01-05T09:00", "reason": "year-end close" }],
                "rollbacks": "outside-windows",
                "break_glass": "outside-windows"
            },
            "payments": {
                "timezone": "America/New_York",
                "windows": [
                    { "days": ["mon", "tue", "wed", "thu", "fri"], "start": "06:00", "end": "08:00" },
                    { "days": ["mon", "tue", "wed", "thu", "fri"], "start": "18:00", "end": "20:00" }
                ],
                "rollbacks": "same"
            },
            "sandbox": {}
        }
    })
}

fn eval_with(config: &Value, t: &Transition) -> Verdict {
    testing::evaluate::<ChangeWindow>(&config.to_string(), t).unwrap()
}

fn eval(t: &Transition) -> Verdict {
    eval_with(&config(), t)
}

fn messages(verdict: &Verdict) -> Vec<&str> {
    verdict.findings.iter().map(|f| f.message.as_str()).collect()
}

fn prod_at(at: &str) -> Transition {
    transition().to_env("prod").at(at).build()
}

fn allowed(t: &Transition) -> bool {
    eval(t).is_allow()
}

fn config_error(config: Value) -> String {
    testing::validate::<ChangeWindow>(&config.to_string()).unwrap_err().message().to_string()
}

fn with_prod(rules: Value) -> Value {
    json!({ "environments": { "prod": rules } })
}

// --- windows -------------------------------------------------------------------------

#[test]
fn inside_a_window_is_allowed_without_findings() {
    // Default request time: Monday 10:00Z = 11:00 CET.
    assert_eq!(eval(&transition().to_env("prod").build()), Verdict::allow());
}

#[test]
fn outside_the_windows_is_denied_with_the_windows_and_the_local_time() {
    let verdict = eval(&prod_at("2026-01-09T16:30:00Z"));
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "prod changes are allowed Mon–Thu 09:00–16:00, Fri 09:00–12:00, Sat 22:00–02:00 (next day) Europe/Berlin; it is Friday 2026-01-09 17:30 CET"
        ]
    );
}

#[test]
fn start_is_inclusive_and_end_exclusive() {
    assert!(!allowed(&prod_at("2026-01-05T07:59:59Z"))); // 08:59:59 CET
    assert!(allowed(&prod_at("2026-01-05T08:00:00Z"))); // 09:00 CET
    assert!(allowed(&prod_at("2026-01-05T14:59:59Z"))); // 15:59:59 CET
    assert!(!allowed(&prod_at("2026-01-05T15:00:00Z"))); // 16:00 CET
}

#[test]
fn a_window_crossing_midnight_is_open_on_both_sides() {
    assert!(allowed(&prod_at("2026-01-10T22:00:00Z")), "Saturday 23:00");
    assert!(allowed(&prod_at("2026-01-11T00:59:00Z")), "Sunday 01:59, the morning after Saturday");
    assert!(!allowed(&prod_at("2026-01-11T01:00:00Z")), "Sunday 02:00, the window has closed");
    assert!(!allowed(&prod_at("2026-01-10T00:30:00Z")), "Saturday 01:30 is not after a Friday-night window");
    assert!(!allowed(&prod_at("2026-01-10T20:59:00Z")), "Saturday 21:59, before it opens");
}

#[test]
fn several_windows_per_day() {
    // New York is UTC-5 in January.
    let payments = |at: &str| transition().to_env("payments").at(at).build();
    assert!(eval(&payments("2026-01-05T12:00:00Z")).is_allow(), "07:00 EST");
    let verdict = eval(&payments("2026-01-05T17:00:00Z"));
    assert_eq!(
        messages(&verdict),
        [
            "payments changes are allowed Mon–Fri 06:00–08:00, Mon–Fri 18:00–20:00 America/New_York; it is Monday 2026-01-05 12:00 EST"
        ]
    );
    assert!(eval(&payments("2026-01-06T00:00:00Z")).is_allow(), "19:00 EST");
}

#[test]
fn day_lists_are_described_the_way_people_write_them() {
    let day = |d| Day(d);
    use Weekday::*;
    assert_eq!(describe_days(&[day(Monday), day(Wednesday), day(Friday)]), "Mon, Wed, Fri");
    assert_eq!(describe_days(&[day(Sunday), day(Saturday)]), "Sat, Sun");
    assert_eq!(describe_days(&[day(Tuesday), day(Monday), day(Wednesday), day(Monday)]), "Mon–Wed");
    let all = [Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday].map(day);
    assert_eq!(describe_days(&all), "every day");
}

#[test]
fn a_whole_day_window_runs_to_24_00() {
    let config = with_prod(json!({
        "timezone": "UTC",
        "windows": [{ "days": ["sun"], "start": "00:00", "end": "24:00" }]
    }));
    assert!(eval_with(&config, &prod_at("2026-01-11T00:00:00Z")).is_allow());
    assert!(eval_with(&config, &prod_at("2026-01-11T23:59:59Z")).is_allow());
    let verdict = eval_with(&config, &prod_at("2026-01-12T00:00:00Z"));
    assert_eq!(messages(&verdict), ["prod changes are allowed Sun 00:00–24:00 UTC; it is Monday 2026-01-12 00:00 UTC"]);
}

// --- freezes -------------------------------------------------------------------------

#[test]
fn a_freeze_denies_inside_a_window_and_names_its_end_and_reason() {
    // Tuesday 2026-12-22 11:00 CET: inside the Mon–Thu window.
    let verdict = eval(&prod_at("2026-12-22T10:00:00Z"));
    assert_eq!(messages(&verdict), ["prod is frozen until 2027-01-05 09:00 Europe/Berlin (year-end close)"]);
    assert!(!verdict.is_allow());
}

#[test]
fn a_freeze_covers_from_up_to_but_not_including_until() {
    assert!(!allowed(&prod_at("2027-01-05T07:59:00Z")), "08:59 CET, still frozen");
    assert!(allowed(&prod_at("2027-01-05T08:00:00Z")), "09:00 CET, the freeze is over");
}

#[test]
fn a_closed_window_and_a_freeze_are_both_reported() {
    let verdict = eval(&prod_at("2026-12-18T18:00:00Z")); // Friday 19:00 CET
    assert_eq!(verdict.findings.len(), 2, "{:?}", verdict.findings);
    assert!(verdict.findings[0].message.starts_with("prod changes are allowed"));
    assert!(verdict.findings[1].message.starts_with("prod is frozen until"));
}

#[test]
fn freeze_only_environments_allow_any_time_outside_the_freeze() {
    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "freezes": [{ "from": "2026-01-10 00:00", "until": "2026-01-12 00:00", "reason": "migration weekend" }]
    }));
    assert!(eval_with(&config, &prod_at("2026-01-09T22:59:00Z")).is_allow(), "Friday 23:59 CET");
    assert!(eval_with(&config, &prod_at("2026-01-05T02:00:00Z")).is_allow(), "a Monday night");
    let verdict = eval_with(&config, &prod_at("2026-01-10T12:00:00Z"));
    assert_eq!(messages(&verdict), ["prod is frozen until 2026-01-12 00:00 Europe/Berlin (migration weekend)"]);
}

// --- rollbacks -----------------------------------------------------------------------

#[test]
fn rollbacks_outside_windows_are_allowed_with_a_note() {
    let verdict = eval(&transition().to_env("prod").rollback().at("2026-01-09T16:30:00Z").build());
    assert!(verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "rollback allowed outside the change window of prod (rollbacks: outside-windows): prod changes are allowed Mon–Thu 09:00–16:00, Fri 09:00–12:00, Sat 22:00–02:00 (next day) Europe/Berlin; it is Friday 2026-01-09 17:30 CET"
        ]
    );
}

#[test]
fn rollbacks_outside_windows_are_not_allowed_into_a_freeze() {
    let verdict = eval(&transition().to_env("prod").rollback().at("2026-12-22T10:00:00Z").build());
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "prod is frozen until 2027-01-05 09:00 Europe/Berlin (year-end close); rollbacks may go outside change windows but not into a freeze (rollbacks: outside-windows)"
        ]
    );
}

#[test]
fn rollbacks_same_follow_the_windows() {
    let verdict = eval(&transition().to_env("payments").rollback().at("2026-01-05T17:00:00Z").build());
    assert!(!verdict.is_allow());
    assert!(verdict.findings[0].message.starts_with("payments changes are allowed"));
}

#[test]
fn rollbacks_always_pass_even_a_freeze() {
    let mut config = config();
    config["environments"]["prod"]["rollbacks"] = json!("always");
    let t = transition().to_env("prod").rollback().at("2026-12-19T10:00:00Z").build(); // Saturday, frozen
    let verdict = eval_with(&config, &t);
    assert!(verdict.is_allow());
    assert_eq!(verdict.findings.len(), 2);
    assert!(
        verdict.findings[0]
            .message
            .starts_with("rollback allowed outside the change window of prod (rollbacks: always)")
    );
    assert_eq!(
        verdict.findings[1].message,
        "rollback allowed during a freeze (rollbacks: always): prod is frozen until 2027-01-05 09:00 Europe/Berlin (year-end close)"
    );
}

#[test]
fn rollbacks_default_to_outside_windows() {
    let t = transition().to_env("staging").rollback().at("2026-01-10T12:00:00Z").build();
    assert!(eval(&t).is_allow());
    let t = transition().to_env("staging").at("2026-01-10T12:00:00Z").build();
    assert!(!eval(&t).is_allow());
}

// --- break-glass ---------------------------------------------------------------------

#[test]
fn break_glass_outside_a_window_is_allowed_and_records_the_ticket() {
    let t = transition().to_env("prod").at("2026-01-09T16:30:00Z").label("break-glass", "INC-1234").build();
    let verdict = eval(&t);
    assert!(verdict.is_allow());
    assert_eq!(verdict.findings[0].message, "break-glass INC-1234 used to promote outside the change window of prod");
    assert!(verdict.findings[1].message.starts_with("prod changes are allowed"), "what it overrode follows");
}

#[test]
fn break_glass_outside_windows_cannot_override_a_freeze() {
    let t = transition().to_env("prod").at("2026-12-22T10:00:00Z").label("break-glass", "INC-1234").build();
    let verdict = eval(&t);
    assert!(!verdict.is_allow());
    assert_eq!(
        messages(&verdict),
        [
            "prod is frozen until 2027-01-05 09:00 Europe/Berlin (year-end close)",
            "break-glass INC-1234 cannot override the freeze of prod: break-glass there only covers time outside change windows (break_glass: outside-windows)",
        ]
    );
}

#[test]
fn break_glass_always_overrides_a_freeze_and_names_it() {
    let mut config = config();
    config["environments"]["prod"]["break_glass"] = json!("always");
    let t = transition().to_env("prod").rollback().at("2026-12-19T10:00:00Z").label("break-glass", "INC-9").build();
    let verdict = eval_with(&config, &t);
    assert!(verdict.is_allow());
    assert_eq!(
        verdict.findings[0].message,
        "break-glass INC-9 used to roll back during the freeze of prod (year-end close)"
    );
    let t = transition().to_env("prod").at("2026-12-19T10:00:00Z").label("break-glass", "INC-9").build();
    assert_eq!(
        eval_with(&config, &t).findings[0].message,
        "break-glass INC-9 used to promote outside the change window and during the freeze of prod (year-end close)"
    );
}

#[test]
fn break_glass_is_denied_where_it_is_not_allowed() {
    let t = transition().to_env("payments").at("2026-01-05T17:00:00Z").label("break-glass", "INC-77").build();
    let verdict = eval(&t);
    assert!(!verdict.is_allow());
    assert_eq!(
        verdict.findings[1].message,
        "break-glass INC-77 is not allowed for payments (break_glass: never in environments.payments); wait until changes are allowed or have break_glass enabled for payments"
    );
}

#[test]
fn break_glass_without_a_ticket_is_denied() {
    let t = transition().to_env("prod").at("2026-01-09T16:30:00Z").label("break-glass", "  ").build();
    let verdict = eval(&t);
    assert!(!verdict.is_allow());
    assert!(verdict.findings[1].message.starts_with("the break-glass label has no ticket"));
}

#[test]
fn break_glass_inside_a_window_overrides_nothing_and_is_not_reported() {
    let t = transition().to_env("payments").at("2026-01-05T12:00:00Z").label("break-glass", "INC-77").build();
    assert_eq!(eval(&t), Verdict::allow());
}

#[test]
fn the_break_glass_label_key_is_configurable() {
    let mut config = config();
    config["break_glass_label"] = json!("emergency");
    let t = transition().to_env("prod").at("2026-01-09T16:30:00Z").label("break-glass", "INC-1").build();
    assert!(!eval_with(&config, &t).is_allow(), "the old key means nothing now");
    let t = transition().to_env("prod").at("2026-01-09T16:30:00Z").label("emergency", "INC-1").build();
    let verdict = eval_with(&config, &t);
    assert!(verdict.is_allow());
    assert_eq!(verdict.findings[0].message, "break-glass INC-1 used to promote outside the change window of prod");
}

// --- which rules apply ---------------------------------------------------------------

#[test]
fn unlisted_environments_use_the_default() {
    let t = transition().to_env("staging").at("2026-01-10T12:00:00Z").build(); // Saturday
    assert_eq!(
        messages(&eval(&t)),
        ["staging changes are allowed Mon–Fri 08:00–18:00 Europe/Berlin; it is Saturday 2026-01-10 13:00 CET"]
    );
    // 07:30 CET Monday is outside the default but prod's 09:00 does not matter for staging.
    assert!(allowed(&transition().to_env("staging").at("2026-01-05T07:30:00Z").build()));
}

#[test]
fn an_environment_entry_replaces_the_default_entirely() {
    // sandbox: {} has no rules of its own and does not inherit the default's window.
    let t = transition().to_env("sandbox").at("2026-01-10T12:00:00Z").build();
    assert_eq!(eval(&t), Verdict::allow());
}

#[test]
fn an_environment_without_rules_fails_closed_and_is_refused_where_the_policy_runs() {
    let config =
        with_prod(json!({ "timezone": "UTC", "windows": [{ "days": ["mon"], "start": "09:00", "end": "10:00" }] }));
    let t = transition().to_env("dev").at("2026-01-10T12:00:00Z").build();
    let error = testing::evaluate::<ChangeWindow>(&config.to_string(), &t).unwrap_err().to_string();
    assert!(error.starts_with("no rules for dev (no entry under environments and no default)"), "{error}");
    testing::set_environments(&["dev", "prod"], None);
    let uncovered = config_error(config.clone());
    testing::set_environments(&["dev", "prod"], Some(&["prod"]));
    let restricted = testing::validate::<ChangeWindow>(&config.to_string());
    let mut misspelt = config.clone();
    misspelt["environments"] = json!({ "production": config["environments"]["prod"].clone() });
    let misspelt = config_error(misspelt);
    testing::reset();
    assert!(uncovered.starts_with("config: no rules for dev, where this policy runs"), "{uncovered}");
    assert!(restricted.is_ok(), "{restricted:?}");
    assert!(misspelt.starts_with("config.environments.production: no environment is called production"), "{misspelt}");
}

#[test]
fn time_zone_names_are_case_insensitive() {
    let config = with_prod(
        json!({ "timezone": "europe/berlin", "windows": [{ "days": ["mon"], "start": "09:00", "end": "10:00" }] }),
    );
    let verdict = eval_with(&config, &prod_at("2026-01-05T10:00:00Z"));
    assert!(
        verdict.findings[0].message.contains("Mon 09:00–10:00 Europe/Berlin; it is Monday 2026-01-05 11:00 CET"),
        "{verdict:?}"
    );
}

// --- DST -----------------------------------------------------------------------------

#[test]
fn spring_forward_the_skipped_part_of_a_window_does_not_happen() {
    // 2026-03-29: Europe/Berlin jumps from 02:00 CET to 03:00 CEST; 02:00-02:59 do not exist.
    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "windows": [{ "days": ["sun"], "start": "01:30", "end": "02:30" }]
    }));
    let at = |utc: &str| eval_with(&config, &prod_at(utc));
    assert!(!at("2026-03-29T00:29:00Z").is_allow(), "01:29 CET");
    assert!(at("2026-03-29T00:30:00Z").is_allow(), "01:30 CET");
    assert!(at("2026-03-29T00:59:59Z").is_allow(), "01:59:59 CET");
    let verdict = at("2026-03-29T01:00:00Z");
    assert_eq!(
        messages(&verdict),
        ["prod changes are allowed Sun 01:30–02:30 Europe/Berlin; it is Sunday 2026-03-29 03:00 CEST"]
    );
    // A week later the window is a full hour again.
    assert!(at("2026-04-05T00:15:00Z").is_allow(), "02:15 CEST");
}

#[test]
fn fall_back_a_window_on_the_repeated_hour_is_open_both_times() {
    // 2026-10-25: Europe/Berlin goes from 03:00 CEST back to 02:00 CET; 02:00-02:59 happen twice.
    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "windows": [{ "days": ["sun"], "start": "02:00", "end": "03:00" }]
    }));
    let at = |utc: &str| eval_with(&config, &prod_at(utc));
    assert!(!at("2026-10-24T23:59:00Z").is_allow(), "01:59 CEST");
    assert!(at("2026-10-25T00:00:00Z").is_allow(), "02:00 CEST, first pass");
    assert!(at("2026-10-25T00:59:00Z").is_allow(), "02:59 CEST");
    assert!(at("2026-10-25T01:00:00Z").is_allow(), "02:00 CET, second pass");
    assert!(at("2026-10-25T01:59:00Z").is_allow(), "02:59 CET");
    let verdict = at("2026-10-25T02:00:00Z");
    assert_eq!(
        messages(&verdict),
        ["prod changes are allowed Sun 02:00–03:00 Europe/Berlin; it is Sunday 2026-10-25 03:00 CET"]
    );
}

#[test]
fn freeze_bounds_in_a_gap_move_forward() {
    // 02:30 does not exist on 2026-03-29; compatible resolution makes it 03:30 CEST (01:30Z).
    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "freezes": [{ "from": "2026-03-29 02:30", "until": "2026-03-29 06:00", "reason": "DC move" }]
    }));
    assert!(eval_with(&config, &prod_at("2026-03-29T01:29:00Z")).is_allow(), "03:29 CEST");
    assert!(!eval_with(&config, &prod_at("2026-03-29T01:30:00Z")).is_allow(), "03:30 CEST");
}

#[test]
fn freeze_bounds_in_a_repeated_hour_mean_the_first_pass() {
    // 02:30 happens twice on 2026-10-25; compatible resolution picks 02:30 CEST (00:30Z).
    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "freezes": [
            { "from": "2026-10-25 02:30", "until": "2026-10-25 05:00", "reason": "starts in the fold" },
            { "from": "2026-10-26 00:00", "until": "2026-10-25 02:30", "reason": "unused" }
        ]
    }));
    // The second freeze ends before it starts: the config is rejected, and the message says so.
    let error = testing::validate::<ChangeWindow>(&config.to_string()).unwrap_err();
    assert!(error.message().starts_with("config.environments.prod.freezes[1].until: "), "{error}");

    let config = with_prod(json!({
        "timezone": "Europe/Berlin",
        "freezes": [
            { "from": "2026-10-25 02:30", "until": "2026-10-25 05:00", "reason": "starts in the fold" },
            { "from": "2026-10-24 00:00", "until": "2026-10-25 02:30", "reason": "ends in the fold" }
        ]
    }));
    let frozen_by = |utc: &str| -> Vec<String> {
        eval_with(&config, &prod_at(utc)).findings.into_iter().map(|f| f.message).collect()
    };
    assert_eq!(frozen_by("2026-10-25T00:29:00Z").len(), 1, "02:29 CEST: only the freeze ending in the fold");
    assert_eq!(frozen_by("2026-10-25T00:30:00Z").len(), 1, "02:30 CEST: the first ended, the second began");
    assert!(frozen_by("2026-10-25T00:30:00Z")[0].contains("(starts in the fold)"));
    assert!(frozen_by("2026-10-25T01:30:00Z")[0].contains("(starts in the fold)"), "02:30 CET");
}

// --- validation ----------------------------------------------------------------------

fn window(start: &str, end: &str) -> Value {
    json!({ "timezone": "Europe/Berlin", "windows": [
        { "days": ["mon"], "start": "09:00", "end": "10:00" },
        { "days": ["tue"], "start": start, "end": end }
    ]})
}

#[test]
fn the_example_configuration_is_valid() {
    testing::validate::<ChangeWindow>(&config().to_string()).unwrap();
}

#[test]
fn unknown_time_zones_are_named() {
    let error = config_error(with_prod(json!({ "timezone": "Europe/Berln", "windows": [] })));
    assert_eq!(
        error,
        "config.environments.prod.timezone: \"Europe/Berln\" is not a known IANA time zone (use a name such as Europe/Berlin, America/New_York or UTC)"
    );
    assert!(
        config_error(with_prod(json!({ "timezone": "+01:00" }))).contains("\"+01:00\" is not a known IANA time zone")
    );
    assert!(config_error(with_prod(json!({ "timezone": "Etc/Unknown" }))).contains("is not a known IANA time zone"));
}

#[test]
fn times_of_day_must_be_hh_mm() {
    assert_eq!(
        config_error(with_prod(window("25:00", "10:00"))),
        "config.environments.prod.windows[1].start: \"25:00\" is not a time of day (HH:MM)"
    );
    assert!(
        config_error(with_prod(window("09:00", "9:60")))
            .starts_with("config.environments.prod.windows[1].end: \"9:60\"")
    );
    assert!(config_error(with_prod(window("9:00", "10:00"))).contains("\"9:00\" is not a time of day"));
    assert!(config_error(with_prod(window("09:00:00", "10:00"))).contains("\"09:00:00\" is not a time of day"));
    assert_eq!(
        config_error(with_prod(window("24:00", "10:00"))),
        "config.environments.prod.windows[1].start: \"24:00\" is the end of a day; a window cannot start there (use 00:00)"
    );
    assert!(
        config_error(with_prod(window("10:00", "10:00")))
            .starts_with("config.environments.prod.windows[1].end: \"10:00\" equals start")
    );
}

#[test]
fn weekdays_must_be_weekday_names() {
    let config = with_prod(
        json!({ "timezone": "UTC", "windows": [{ "days": ["MONDAY", "fryday"], "start": "09:00", "end": "10:00" }] }),
    );
    assert_eq!(
        config_error(config),
        "config.environments.prod.windows[0].days[1]: \"fryday\" is not a weekday (use mon, tue, wed, thu, fri, sat, sun or monday..sunday)"
    );
    let config = with_prod(json!({ "timezone": "UTC", "windows": [{ "days": [], "start": "09:00", "end": "10:00" }] }));
    assert_eq!(config_error(config), "config.environments.prod.windows[0].days: list at least one weekday (mon..sun)");
}

#[test]
fn freezes_must_end_after_they_start_and_give_a_reason() {
    let config = json!({ "default": { "timezone": "Europe/Berlin", "freezes": [
        { "from": "2027-01-05 09:00", "until": "2026-12-20 00:00", "reason": "year-end close" }
    ]}});
    assert_eq!(
        config_error(config),
        "config.default.freezes[0].until: \"2026-12-20 00:00\" is not after from \"2027-01-05 09:00\"; a freeze must end after it starts"
    );
    let config = with_prod(
        json!({ "timezone": "UTC", "freezes": [{ "from": "2026-12-20 00:00", "until": "2027-01-05 09:00", "reason": " " }] }),
    );
    assert!(config_error(config).starts_with("config.environments.prod.freezes[0].reason: must not be empty"));
    let config = with_prod(
        json!({ "timezone": "UTC", "freezes": [{ "from": "2026-12-32 00:00", "until": "2027-01-05 09:00", "reason": "x" }] }),
    );
    assert_eq!(
        config_error(config),
        "config.environments.prod.freezes[0].from: \"2026-12-32 00:00\" is not a local date-time (YYYY-MM-DD HH:MM)"
    );
    let config = with_prod(
        json!({ "timezone": "UTC", "freezes": [{ "from": "2026-12-20", "until": "2027-01-05 09:00", "reason": "x" }] }),
    );
    assert!(config_error(config).contains("\"2026-12-20\" is not a local date-time"));
}

#[test]
fn empty_window_lists_and_missing_zones_are_errors() {
    assert!(
        config_error(with_prod(json!({ "timezone": "UTC", "windows": [] })))
            .starts_with("config.environments.prod.windows: an empty list would block every change")
    );
    assert_eq!(
        config_error(with_prod(json!({ "windows": [{ "days": ["mon"], "start": "09:00", "end": "10:00" }] }))),
        "config.environments.prod.timezone: missing; windows and freezes need an IANA time zone such as Europe/Berlin"
    );
    assert!(config_error(json!({})).starts_with("config: there are no rules"));
    assert!(
        config_error(json!({ "default": {}, "break_glass_label": "" }))
            .starts_with("config.break_glass_label: must not be empty")
    );
}

#[test]
fn serde_errors_name_the_field() {
    let error = config_error(with_prod(json!({ "timezone": "UTC", "rollbacks": "sometimes" })));
    assert!(error.starts_with("config.environments.prod.rollbacks: unknown variant `sometimes`"), "{error}");
    let error = config_error(with_prod(json!({ "timezone": "UTC", "break-glass": "always" })));
    assert!(error.contains("unknown field `break-glass`"), "{error}");
    let error = config_error(json!({ "enviroments": {} }));
    assert!(error.contains("unknown field `enviroments`"), "{error}");
}

#[test]
fn info_names_the_policy() {
    let info = ChangeWindow::info();
    assert_eq!(info.name, "change-window");
    assert!(info.capabilities.is_empty());
}
