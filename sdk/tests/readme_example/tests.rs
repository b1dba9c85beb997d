#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::testing::{self, transition};

    #[test]
    fn prod_needs_an_approval_by_someone_else() {
        let t = transition().to_env("prod").version("1.2.3").requested_by("alice").approval("alice", "1.2.3").build();
        let verdict = testing::evaluate::<RequireApproval>(r#"{"environments": ["prod"]}"#, &t).unwrap();
        assert!(!verdict.is_allow());
        assert_eq!(verdict.counted_approvals, Some(vec![]));   // alice's own approval did not count
        let t = transition().to_env("prod").version("1.2.3").approval("bob", "1.2.3").build();
        let verdict = testing::evaluate::<RequireApproval>(r#"{"environments": ["prod"]}"#, &t).unwrap();
        assert!(verdict.is_allow());
        assert_eq!(verdict.counted_approvals, Some(vec!["bob".to_string()]));
    }

    #[test]
    fn a_misspelt_environment_is_a_config_error() {
        testing::set_environments(&["dev", "staging", "prod"], None);   // as tollgate.yaml has them
        let error = testing::validate::<RequireApproval>(r#"{"environments": ["production"]}"#).unwrap_err();
        testing::reset();
        assert!(error.message().starts_with("config.environments[0]: no environment is called production"), "{error}");
    }
}
