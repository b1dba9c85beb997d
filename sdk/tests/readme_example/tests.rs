#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_sdk::testing::{self, transition};

    #[test]
    fn prod_needs_an_approval() {
        let t = transition().to_env("prod").version("1.2.3").requested_by("alice").build();
        let verdict = testing::evaluate::<RequireApproval>(r#"{"environments": ["prod"]}"#, &t).unwrap();
        assert!(!verdict.is_allow());
        let t = transition().to_env("prod").version("1.2.3").approval("bob", "1.2.3").build();
        assert!(testing::evaluate::<RequireApproval>(r#"{"environments": ["prod"]}"#, &t).unwrap().is_allow());
    }
}
