//! Masking of secrets wherever trackflow shows a URL, a request or a message: secret-looking
//! query values and `name=value` pairs, user information in URLs, and parts marked secret.

/// Strings (URL paths that carry a token) masked wherever a URL or a message is shown, as
/// `***`: what [`mark_secret`] added. Few, and checked only where text is masked.
static SECRET_PARTS: parking_lot::RwLock<Vec<String>> = parking_lot::RwLock::new(Vec::new());

/// Masks `part` from now on wherever trackflow shows a URL or an error (`Debug`, errors,
/// logs, dead letters): for a URL whose path is itself a secret (a webhook's token). Parts
/// shorter than 8 bytes are not taken: they would mask ordinary words.
#[cfg_attr(not(feature = "webhook"), allow(dead_code))]
pub(crate) fn mark_secret(part: &str) {
    if part.len() >= 8 {
        let mut parts = SECRET_PARTS.write();
        if !parts.iter().any(|p| p == part) {
            parts.push(part.to_owned());
        }
    }
}

/// `text` with every part [`mark_secret`] added masked.
fn mask_marked(text: String) -> String {
    let parts = SECRET_PARTS.read();
    if parts.is_empty() {
        return text;
    }
    parts.iter().fold(text, |t, p| {
        if t.contains(p.as_str()) {
            t.replace(p.as_str(), "***")
        } else {
            t
        }
    })
}

pub(crate) fn mask_url(url: &str) -> String {
    mask_marked(mask_url_query(url))
}

fn mask_url_query(url: &str) -> String {
    let masked = mask_userinfo(url);
    let url: &str = &masked;
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let masked: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_secret_name(k) => format!("{k}=***"),
            _ => kv.to_owned(),
        })
        .collect();
    format!("{base}?{}", masked.join("&"))
}

/// Masks `name=value` pairs with secret-looking names anywhere in `text` (an error message, a
/// URL): an unquoted value up to the next `&`, whitespace, quote, bracket or comma, a quoted
/// one up to its closing quote.
/// Every `scheme://user:password@host` in free text with its user information masked.
fn mask_all_userinfo(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("://") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let start = i + 3;
        out.push_str(&rest[..start]);
        let authority_end = rest[start..]
            .find(|c: char| "/?#".contains(c) || c.is_whitespace() || "\"'<>()[]".contains(c))
            .map_or(rest.len(), |e| start + e);
        match rest[start..authority_end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&rest[start + at..authority_end]);
            }
            None => out.push_str(&rest[start..authority_end]),
        }
        rest = &rest[authority_end..];
    }
    out.push_str(rest);
    out.into()
}

/// `scheme://user:password@host…` with the user information masked (`scheme://***@host…`).
fn mask_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.into();
    };
    let authority_end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    match url[start..authority_end].rfind('@') {
        Some(at) => format!("{}***{}", &url[..start], &url[start + at..]).into(),
        None => url.into(),
    }
}

/// `text` with what looks like a secret masked: the value of every `name=value` whose name
/// sounds secret (token, key, secret, password, …), and the user information of every URL.
pub(crate) fn mask_secrets(text: &str) -> String {
    mask_marked(mask_pairs(text))
}

fn mask_pairs(text: &str) -> String {
    let unmasked = mask_all_userinfo(text);
    let text: &str = &unmasked;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(eq) = rest.find('=') {
        let (before, after) = rest.split_at(eq);
        // The name runs back to the last character that cannot be in one (which may be
        // several bytes long).
        let name_start = before
            .char_indices()
            .rev()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
            .map_or(0, |(i, c)| i + c.len_utf8());
        out.push_str(before);
        out.push('=');
        let mut value = &after[1..];
        let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
        if let Some(q) = quote {
            out.push(q);
            value = &value[1..];
        }
        // A quote that never closes quotes nothing: a secret after it is still found.
        let end = quote.and_then(|q| value.find(q)).unwrap_or_else(|| {
            value
                .find(|c: char| c == '&' || c.is_whitespace() || "\"'<>()[],;".contains(c))
                .unwrap_or(value.len())
        });
        if is_secret_name(&before[name_start..]) && end > 0 {
            out.push_str("***");
        } else {
            out.push_str(&value[..end]);
        }
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

pub(super) fn is_secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "token",
        "key",
        "secret",
        "signature",
        "password",
        "authorization",
        "credential",
    ]
    .iter()
    .any(|s| n.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_query_values() {
        assert_eq!(
            mask_url("https://h/p?access_token=abc&x=1"),
            "https://h/p?access_token=***&x=1"
        );
        assert_eq!(mask_url("https://h/p"), "https://h/p");
        assert_eq!(
            mask_url("https://user:pa55@h:8/p?token=t"),
            "https://***@h:8/p?token=***"
        );
        assert_eq!(
            mask_url("https://h/p@x"),
            "https://h/p@x",
            "an @ in the path is no user"
        );
    }

    #[test]
    fn masks_user_information_in_any_text() {
        assert_eq!(
            mask_secrets("redirected to https://u:pw@h/x and http://a@b."),
            "redirected to https://***@h/x and http://***@b."
        );
        assert_eq!(mask_secrets("no url: user@host"), "no url: user@host");
    }

    #[test]
    fn masks_secrets_in_any_text() {
        assert_eq!(
            mask_secrets("http://h/p?access_token=abc123&x=1: connection refused"),
            "http://h/p?access_token=***&x=1: connection refused"
        );
        assert_eq!(mask_secrets("key=v, token=\"t t\""), "key=***, token=\"***\"");
        assert_eq!(mask_secrets("secret='a b c' x=1"), "secret='***' x=1");
        assert_eq!(mask_secrets("a = b"), "a = b");
        // A multi-byte character right before the name.
        assert_eq!(mask_secrets("étoken=abc"), "étoken=***");
        assert_eq!(mask_secrets("ééé=1 中token=x"), "ééé=1 中token=***");
    }

    proptest::proptest! {
        #[test]
        fn masking_never_panics_and_hides_token_values(prefix in ".{0,12}", v in "[a-zA-Z0-9]{1,12}") {
            let _ = mask_secrets(&prefix);
            let text = format!("{prefix} token={v}");
            let masked = mask_secrets(&text);
            proptest::prop_assert!(masked.ends_with("token=***"), "{}", masked);
        }
    }
}
