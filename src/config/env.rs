//! `${NAME}` in the config's string values, from the environment, so secrets and endpoints
//! need not be written into the file.
//!
//! `${NAME}` is the variable's value (an error naming it and the key when unset),
//! `${NAME:-fallback}` the fallback when unset or empty, `$${` a literal `${`. Only string
//! values are read; keys, numbers and booleans are left as written.

use crate::error::{Error, Result};

/// Replaces the references in every string of `table`, naming `path` in errors.
pub(crate) fn interpolate_table(
    table: &mut toml::Table,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<()> {
    for (k, v) in table.iter_mut() {
        let here = if path.is_empty() {
            k.clone()
        } else {
            format!("{path}.{k}")
        };
        interpolate_value(v, &here, env)?;
    }
    Ok(())
}

fn interpolate_value(v: &mut toml::Value, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<()> {
    match v {
        toml::Value::String(s) if s.contains('$') => *s = interpolate(s, path, env)?,
        toml::Value::Array(a) => {
            for (i, x) in a.iter_mut().enumerate() {
                interpolate_value(x, &format!("{path}[{i}]"), env)?;
            }
        }
        toml::Value::Table(t) => interpolate_table(t, path, env)?,
        _ => {}
    }
    Ok(())
}

/// One string with its references replaced. Errors name the key and the variable, never a
/// value (values are often secrets).
pub(crate) fn interpolate(s: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = after;
        } else if let Some(body) = tail.strip_prefix("${") {
            let end = body
                .find('}')
                .ok_or_else(|| Error::Config(format!("{path}: `${{` without a closing `}}`")))?;
            out.push_str(&lookup(&body[..end], path, env)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup(reference: &str, path: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String> {
    let (name, fallback) = match reference.split_once(":-") {
        Some((n, f)) => (n, Some(f)),
        None => (reference, None),
    };
    let valid = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Error::Config(format!(
            "{path}: `${{{name}}}`: a variable name is letters, digits and _, not starting with a digit"
        )));
    }
    match (env(name).filter(|v| !v.is_empty()), fallback) {
        (Some(v), _) => Ok(v),
        (None, Some(f)) => Ok(f.to_owned()),
        (None, None) => Err(Error::Config(format!(
            "{path}: environment variable `{name}` is not set (write `${{{name}:-fallback}}` for a default)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cr3t".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn references_fallbacks_and_escapes() {
        let run = |s: &str| interpolate(s, "backend.url", &env);
        assert_eq!(
            run("https://h/?t=${TOKEN}&x=1").unwrap(),
            "https://h/?t=s3cr3t&x=1"
        );
        assert_eq!(run("${MISSING:-dflt}/${EMPTY:-e}").unwrap(), "dflt/e");
        assert_eq!(run("cost $5, $${TOKEN}").unwrap(), "cost $5, ${TOKEN}");
        assert_eq!(run("ünïcode ${TOKEN}€").unwrap(), "ünïcode s3cr3t€");
        let err = run("${MISSING}").unwrap_err().to_string();
        assert!(
            err.contains("backend.url: environment variable `MISSING` is not set"),
            "{err}"
        );
        assert!(run("${TOKEN")
            .unwrap_err()
            .to_string()
            .contains("without a closing"));
        assert!(run("${1X}").unwrap_err().to_string().contains("variable name"));
        assert!(run("${}").is_err());
    }

    #[test]
    fn nested_tables_and_arrays_are_walked_and_errors_never_show_values() {
        let mut t: toml::Table = toml::from_str(
            "[[backends]]\nkind = \"gravity\"\nurl = \"u?access_token=${TOKEN}\"\nheaders = [\"${TOKEN}\", \"${NOPE}\"]\n",
        )
        .unwrap();
        let err = interpolate_table(&mut t, "", &env).unwrap_err().to_string();
        assert!(
            err.contains("backends[0].headers[1]: environment variable `NOPE`"),
            "{err}"
        );
        assert!(!err.contains("s3cr3t"));
        let mut t: toml::Table =
            toml::from_str("[backend]\nurl = \"u?access_token=${TOKEN}\"\nn = 5\n").unwrap();
        interpolate_table(&mut t, "", &env).unwrap();
        assert_eq!(t["backend"]["url"].as_str(), Some("u?access_token=s3cr3t"));
        assert_eq!(t["backend"]["n"].as_integer(), Some(5));
    }
}
