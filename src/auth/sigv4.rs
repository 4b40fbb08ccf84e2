//! AWS Signature Version 4 for JSON APIs, written from the spec with `hmac` + `sha2`.
//!
//! ```text
//! canonical request = METHOD \n /path \n sorted query \n name:value\n… \n signed;names \n hex(sha256(body))
//! string to sign    = AWS4-HMAC-SHA256 \n 20231114T221320Z \n 20231114/{region}/{service}/aws4_request \n hex(sha256(canonical))
//! signing key       = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")
//! ```
//!
//! Checked against the AWS SigV4 test suite and against botocore's signatures in the golden
//! captures.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::aws::Credentials;

type HmacSha256 = Hmac<Sha256>;

/// What to sign: the parts of a request that go into the canonical request.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// `POST`, `GET`, …
    pub method: &'a str,
    /// `host` or `host:port` (with the port when it is not the scheme's default).
    pub host: &'a str,
    /// The absolute path, not yet encoded.
    pub path: &'a str,
    /// Query parameters, not yet encoded.
    pub query: &'a [(&'a str, &'a str)],
    /// Headers to sign besides `host`, `x-amz-date` and `x-amz-security-token`.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
    /// Signing time, ms since the Unix epoch.
    pub time_ms: i64,
    /// Region, e.g. `us-east-1`.
    pub region: &'a str,
    /// Signing name, e.g. `personalize`.
    pub service: &'a str,
}

/// The headers a signed request must carry. `Debug` masks the signature and the session
/// token.
///
/// # Examples
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// use trackflow::auth::sigv4::{sign, SignInput};
/// let creds = Credentials::new("AKID", "SECRETKEY", Some("SESSIONTOKEN".into()));
/// let input = SignInput { method: "POST", host: "h", path: "/", query: &[], headers: &[], body: b"",
///     time_ms: 0, region: "us-east-1", service: "personalize" };
/// let printed = format!("{:?}", sign(&creds, &input));
/// assert!(!printed.contains("SESSIONTOKEN") && printed.contains("Signature=***"), "{printed}");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Signed {
    /// `X-Amz-Date`, e.g. `20231114T221320Z`.
    pub amz_date: String,
    /// `Authorization`.
    pub authorization: String,
    /// `X-Amz-Security-Token`, when the credentials have a session token.
    pub security_token: Option<String>,
    /// The canonical request, for debugging a signature mismatch.
    pub canonical_request: String,
}

impl std::fmt::Debug for Signed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key id and scope help debugging; the signature and session token are not shown.
        let authorization = match self.authorization.split_once("Signature=") {
            Some((head, _)) => format!("{head}Signature=***"),
            None => "***".to_owned(),
        };
        // The canonical request holds the signed x-amz-security-token header's value.
        let masked_request = match &self.security_token {
            Some(t) if !t.is_empty() => self.canonical_request.replace(t.as_str(), "***"),
            _ => self.canonical_request.clone(),
        };
        f.debug_struct("Signed")
            .field("amz_date", &self.amz_date)
            .field("authorization", &authorization)
            .field("security_token", &self.security_token.as_ref().map(|_| "***"))
            .field("canonical_request", &masked_request)
            .finish()
    }
}

/// Signs a request.
///
/// # Examples
///
/// The AWS test suite's `get-vanilla` case:
///
/// ```
/// use trackflow::auth::aws::Credentials;
/// use trackflow::auth::sigv4::{sign, SignInput};
///
/// let creds = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None);
/// let s = sign(&creds, &SignInput {
///     method: "GET", host: "example.amazonaws.com", path: "/", query: &[], headers: &[],
///     body: b"", time_ms: 1_440_938_160_000, region: "us-east-1", service: "service",
/// });
/// assert_eq!(s.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
///     SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
/// ```
pub fn sign(creds: &Credentials, r: &SignInput<'_>) -> Signed {
    let amz_date = amz_date(r.time_ms);
    let date = &amz_date[..8];
    let (canonical_headers, signed_headers) = canonical_headers(creds, r, &amz_date);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method,
        uri_encode(&normalize_path(r.path), false),
        canonical_query(r.query),
        canonical_headers,
        signed_headers,
        hex(&Sha256::digest(r.body))
    );
    let scope = format!("{date}/{}/{}/aws4_request", r.region, r.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical_request.as_bytes()))
    );
    let key = signing_key(creds.secret_access_key.expose(), date, r.region, r.service);
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    Signed {
        authorization: format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            creds.access_key_id
        ),
        amz_date,
        security_token: creds.session_token.as_ref().map(|t| t.expose().to_owned()),
        canonical_request,
    }
}

/// The canonical headers (lowercase names, sorted, repeated names merged with `,`) and the
/// signed-headers list, with `host`, `x-amz-date` and the session token added.
fn canonical_headers(creds: &Credentials, r: &SignInput<'_>, amz_date: &str) -> (String, String) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), collapse(v)))
        .collect();
    headers.push(("host".into(), r.host.to_owned()));
    headers.push(("x-amz-date".into(), amz_date.to_owned()));
    // Signed when present, as botocore adds it before signing.
    if let Some(t) = &creds.session_token {
        headers.push(("x-amz-security-token".into(), t.expose().to_owned()));
    }
    headers.sort();
    let mut merged: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (k, v) in headers {
        match merged.last_mut() {
            Some((lk, lv)) if *lk == k => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((k, v)),
        }
    }
    let signed = merged
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    (merged.iter().map(|(k, v)| format!("{k}:{v}\n")).collect(), signed)
}

/// The canonical query string: names and values encoded, pairs sorted.
fn canonical_query(query: &[(&str, &str)]) -> String {
    let mut pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `kSigning` of the key chain (exposed for tests against published intermediates).
///
/// # Examples
///
/// ```
/// let k = trackflow::auth::sigv4::signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20231114", "us-east-1", "personalize");
/// assert_eq!(trackflow::auth::sigv4::hex(&k)[..8], *"00d09384");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex.
///
/// # Examples
///
/// ```
/// assert_eq!(trackflow::auth::sigv4::hex(&[0xab, 0x01]), "ab01");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn hex(bytes: &[u8]) -> String {
    crate::codec::hex(bytes)
}

/// `YYYYMMDDTHHMMSSZ` of a ms timestamp (UTC).
///
/// # Examples
///
/// ```
/// assert_eq!(trackflow::auth::sigv4::amz_date(1_700_000_000_000), "20231114T221320Z");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn amz_date(ms: i64) -> String {
    let (y, m, d, h) = crate::clock::civil_utc(ms);
    let secs = ms.div_euclid(1000).rem_euclid(3600);
    format!("{y:04}{m:02}{d:02}T{h:02}{:02}{:02}Z", secs / 60, secs % 60)
}

/// Trims and collapses runs of spaces, as the canonical form of a header value wants.
fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Resolves `.` and `..` segments and duplicate slashes (not S3, so paths are normalized).
fn normalize_path(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = format!("/{}", out.join("/"));
    if p.ends_with('/') && s.len() > 1 {
        s.push('/');
    }
    s
}

/// RFC 3986 percent-encoding of everything but unreserved characters (and `/` in paths).
fn uri_encode(s: &str, encode_slash: bool) -> String {
    let set = if encode_slash {
        crate::auth::UNRESERVED
    } else {
        crate::auth::UNRESERVED_PATH
    };
    percent_encoding::utf8_percent_encode(s, set).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suite_creds() -> Credentials {
        Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
    }

    /// 20150830T123600Z, the time of every case in the AWS SigV4 test suite.
    const SUITE_TIME: i64 = 1_440_938_160_000;

    fn suite(method: &str, query: &[(&str, &str)], headers: &[(&str, &str)], body: &[u8]) -> Signed {
        sign(
            &suite_creds(),
            &SignInput {
                method,
                host: "example.amazonaws.com",
                path: "/",
                query,
                headers,
                body,
                time_ms: SUITE_TIME,
                region: "us-east-1",
                service: "service",
            },
        )
    }

    fn sig(s: &Signed) -> &str {
        s.authorization.rsplit("Signature=").next().unwrap()
    }

    // Expected values are the `.authz` files of the AWS SigV4 test suite.
    #[test]
    fn aws_test_suite_get_vanilla() {
        let s = suite("GET", &[], &[], b"");
        assert_eq!(s.amz_date, "20150830T123600Z");
        assert_eq!(
            sig(&s),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
    }

    #[test]
    fn aws_test_suite_post_vanilla() {
        let s = suite("POST", &[], &[], b"");
        assert_eq!(
            sig(&s),
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
        );
    }

    #[test]
    fn aws_test_suite_post_x_www_form_urlencoded() {
        let s = suite(
            "POST",
            &[],
            &[("Content-Type", "application/x-www-form-urlencoded")],
            b"Param1=value1",
        );
        assert!(s
            .authorization
            .contains("SignedHeaders=content-type;host;x-amz-date,"));
        assert_eq!(
            sig(&s),
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
        );
    }

    #[test]
    fn aws_test_suite_get_header_value_trim() {
        let s = suite(
            "GET",
            &[],
            &[("My-Header1", " value1 "), ("My-Header2", " \"a   b   c\" ")],
            b"",
        );
        assert!(s
            .authorization
            .contains("SignedHeaders=host;my-header1;my-header2;x-amz-date,"));
        assert_eq!(
            sig(&s),
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"
        );
    }

    #[test]
    fn aws_test_suite_get_vanilla_query_order_key_case() {
        let s = suite("GET", &[("Param2", "value2"), ("Param1", "value1")], &[], b"");
        assert_eq!(
            sig(&s),
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
    }

    #[test]
    fn key_chain_matches_botocore_intermediates() {
        // From the golden capture put_events_full.json (sigv4_independent_recompute).
        let k = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20231114",
            "us-east-1",
            "personalize",
        );
        assert_eq!(
            hex(&k),
            "00d09384168cc88e17a8cd5802526b19684be5b20891d4c1279446e2cb187782"
        );
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", Some("TOKEN123".into()));
        let s = sign(
            &creds,
            &SignInput {
                method: "POST",
                host: "h",
                path: "/events",
                query: &[],
                headers: &[("Content-Type", "application/json")],
                body: b"{}",
                time_ms: SUITE_TIME,
                region: "us-east-1",
                service: "personalize",
            },
        );
        assert_eq!(s.security_token.as_deref(), Some("TOKEN123"));
        assert!(s
            .authorization
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"));
        assert!(s.canonical_request.contains("x-amz-security-token:TOKEN123\n"));
    }

    #[test]
    fn paths_are_normalized_and_encoded() {
        assert_eq!(uri_encode(&normalize_path("/a/./b/../c d"), false), "/a/c%20d");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("//events"), "/events");
    }
}
