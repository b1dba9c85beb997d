use tollgate_sdk::PerEnvironment;

type Config = PerEnvironment<Rules>;      // config: { default: {…}, environments: { prod: {…} } }

fn validate(config: &Config) -> Result<()> {
    config.require_rules("config: no rules; add a default or an entry under environments")?;
    config.validate_each(|path, rules| check(&format!("config.{path}"), rules))   // path: default | environments.prod
}
// in evaluate: config.for_env(&t.to_env) → Option<&Rules>; config.scoped(env) also says which entry applied
