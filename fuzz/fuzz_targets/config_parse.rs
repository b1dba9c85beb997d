//! The `tollgate.yaml` parser: any text gives a configuration or an error naming the file, a
//! line inside the text (when it has one) and a non-empty message; never a panic, and a
//! configuration it accepts serialises and parses back the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::config::Config;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else { return };
    match Config::parse_located("tollgate.yaml", text) {
        Ok(config) => {
            let again = serde_yaml::to_string(&config).expect("a parsed configuration serialises");
            let reparsed = Config::parse_located("tollgate.yaml", &again).unwrap_or_else(|problem| panic!("{problem:?} in\n{again}"));
            assert_eq!(reparsed, config, "the configuration changed on the way back");
        }
        Err(problem) => {
            assert_eq!(problem.file, "tollgate.yaml");
            assert!(!problem.message.trim().is_empty(), "an empty message");
            if let Some(line) = problem.line {
                // Lines as YAML (and editors) count them: CR LF, a lone CR and LF each end one.
                let lines = text.replace("\r\n", "\n").replace('\r', "\n").split('\n').count();
                assert!(line >= 1 && line <= lines, "line {line} is outside the text ({lines} lines)");
            }
        }
    }
});
