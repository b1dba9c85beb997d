use tollgate_sdk::PerEnvironment;

type Config = PerEnvironment<Rules>;      // config: { default: {…}, environments: { prod: {…} } }

fn validate(config: &Config) -> Result<()> {
    config.require_rules("config: no rules; add a default or an entry under environments")?;
    config.validate_each(|path, rules| check(&format!("config.{path}"), rules))?;   // path: default | environments.prod
    config.require_rules_where_it_runs()   // every environment the policy runs for has an entry or the default
}
// in evaluate: config.rules_for(&t.to_env)? → (scope, &Rules); an error (the host fails closed) where there are none
