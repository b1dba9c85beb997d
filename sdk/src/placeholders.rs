//! `{app}` and `{env}` placeholders in configuration text (file paths, URLs, names), as the
//! standard plugins use them: [`check`] when validating a configuration, [`fill`] when
//! evaluating.

/// Whether `text` uses only the `{app}` and `{env}` placeholders; the error says what is wrong.
pub fn check(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("{text:?} has a {{ without a closing }}; the placeholders are {{app}} and {{env}}"));
        };
        let name = &after[..close];
        if name != "env" && name != "app" {
            return Err(format!("{text:?} uses the unknown placeholder {{{name}}}; only {{app}} and {{env}} are replaced"));
        }
        rest = &after[close + 1..];
    }
    Ok(())
}

/// `template` with `{app}` and `{env}` replaced, each value passed through `escape` (for
/// example percent-encoding for a URL). Any other brace is kept as written; [`check`] refuses
/// such text at validation.
pub fn fill(template: &str, app: &str, env: &str, escape: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open..];
        if let Some(tail) = after.strip_prefix("{env}") {
            out.push_str(&escape(env));
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("{app}") {
            out.push_str(&escape(app));
            rest = tail;
        } else {
            out.push('{');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_checked() {
        assert_eq!(fill("envs/{env}/{app}/{x}.yaml", "shop", "prod", str::to_uppercase), "envs/PROD/SHOP/{x}.yaml");
        assert!(check("envs/{env}/{app}.yaml").is_ok());
        assert!(check("envs/{environment}").unwrap_err().contains("uses the unknown placeholder {environment}"));
        assert!(check("envs/{env").unwrap_err().contains("without a closing }"));
    }
}
