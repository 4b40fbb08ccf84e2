//! STS: `AssumeRoleWithWebIdentity` (EKS IRSA: a token file and a role, unsigned) and
//! `AssumeRole` (a profile's `role_arn` with `source_profile`, signed with the source
//! credentials). Form-encoded POSTs, XML replies.

use std::sync::Arc;

use super::credentials::{parse_expiration, Credentials, CredentialsProvider, Env};
use super::remote::{http, HTTP_TIMEOUT};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// `AWS_ENDPOINT_URL_STS`, else the regional endpoint, else the global one.
pub(super) fn endpoint(env: &Env<'_>, region: Option<&str>) -> String {
    env("AWS_ENDPOINT_URL_STS")
        .or_else(|| env("AWS_ENDPOINT_URL"))
        .unwrap_or_else(|| match region {
            Some(r) => format!("https://sts.{r}.amazonaws.com"),
            None => "https://sts.amazonaws.com".to_owned(),
        })
        .trim_end_matches('/')
        .to_owned()
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                percent_encoding::utf8_percent_encode(v, crate::auth::UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The content type of STS's form-encoded requests.
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// POSTs a form to STS's root and reads the credentials of its reply.
fn post(
    endpoint: &str,
    headers: &[(&str, String)],
    body: &str,
    action: &str,
    cancel: &Cancel,
) -> Result<Credentials> {
    let url = format!("{endpoint}/");
    let r = http("POST", &url, headers, Some(body.as_bytes()), HTTP_TIMEOUT, cancel)?;
    parse_reply(r.status, &r.body, action)
}

/// The text of `<tag>…</tag>` in `xml`, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let len = xml[start..].find(&format!("</{tag}>"))?;
    Some(
        xml[start..start + len]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The credentials of a successful reply, or the service's error code and message.
fn parse_reply(status: u16, xml: &str, action: &str) -> Result<Credentials> {
    if status != 200 {
        return Err(Error::Api {
            status,
            code: xml_text(xml, "Code").unwrap_or_else(|| status.to_string()),
            message: format!("sts {action}: {}", xml_text(xml, "Message").unwrap_or_default()),
        });
    }
    let field = |t: &str| {
        xml_text(xml, t).ok_or_else(|| Error::Config(format!("sts {action}: the reply has no <{t}>")))
    };
    let c = Credentials::new(
        field("AccessKeyId")?,
        field("SecretAccessKey")?,
        Some(field("SessionToken")?),
    );
    Ok(c.expiring_at(parse_expiration(&field("Expiration")?, "sts")?))
}

/// A role assumed with a web identity token read from a file at each fetch (the file is
/// rotated by the platform).
#[derive(Debug, Clone)]
pub(super) struct WebIdentity {
    pub(super) endpoint: String,
    pub(super) token_file: String,
    pub(super) role_arn: String,
    pub(super) session_name: String,
}

impl WebIdentity {
    /// From `AWS_WEB_IDENTITY_TOKEN_FILE` and `AWS_ROLE_ARN` (and `AWS_ROLE_SESSION_NAME`);
    /// `None` unless both are set.
    pub(super) fn from_env(env: &Env<'_>, region: Option<&str>) -> Option<WebIdentity> {
        Some(WebIdentity {
            token_file: env("AWS_WEB_IDENTITY_TOKEN_FILE")?,
            role_arn: env("AWS_ROLE_ARN")?,
            session_name: env("AWS_ROLE_SESSION_NAME").unwrap_or_else(session_name),
            endpoint: endpoint(env, region),
        })
    }
}

/// A session name unique enough to tell this process's sessions apart in CloudTrail.
pub(super) fn session_name() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    format!("trackflow-{ms}")
}

impl CredentialsProvider for WebIdentity {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        let token = std::fs::read_to_string(&self.token_file)
            .map_err(|e| Error::Config(format!("AWS_WEB_IDENTITY_TOKEN_FILE {}: {e}", self.token_file)))?;
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", &self.role_arn),
            ("RoleSessionName", &self.session_name),
            ("WebIdentityToken", token.trim()),
        ]);
        let headers = [("Content-Type", FORM.to_owned())];
        post(
            &self.endpoint,
            &headers,
            &body,
            "AssumeRoleWithWebIdentity",
            cancel,
        )
    }
}

/// A role assumed with the credentials of another provider (a profile's `source_profile`).
#[derive(Debug, Clone)]
pub(super) struct AssumeRole {
    pub(super) source: Arc<dyn CredentialsProvider>,
    pub(super) endpoint: String,
    pub(super) region: String,
    pub(super) role_arn: String,
    pub(super) session_name: String,
    pub(super) external_id: Option<String>,
}

impl CredentialsProvider for AssumeRole {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        let source = self.source.fetch(cancel)?;
        let mut pairs = vec![
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", self.role_arn.as_str()),
            ("RoleSessionName", self.session_name.as_str()),
        ];
        if let Some(x) = &self.external_id {
            pairs.push(("ExternalId", x));
        }
        let body = form(&pairs);
        let content_type = FORM;
        let host = self
            .endpoint
            .split("://")
            .nth(1)
            .unwrap_or_default()
            .split('/')
            .next()
            .unwrap_or_default();
        let signed = crate::auth::sigv4::sign(
            &source,
            &crate::auth::sigv4::SignInput {
                method: "POST",
                host,
                path: "/",
                query: &[],
                headers: &[("Content-Type", content_type)],
                body: body.as_bytes(),
                time_ms: crate::clock::system().now_ms(),
                region: &self.region,
                service: "sts",
            },
        );
        let mut headers = vec![
            ("Content-Type", content_type.to_owned()),
            ("X-Amz-Date", signed.amz_date.clone()),
            ("Authorization", signed.authorization.clone()),
        ];
        if let Some(t) = &signed.security_token {
            headers.push(("X-Amz-Security-Token", t.clone()));
        }
        post(&self.endpoint, &headers, &body, "AssumeRole", cancel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_and_errors() {
        let ok = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>\
                  <SecretAccessKey>s&amp;k</SecretAccessKey><SessionToken>tok</SessionToken>\
                  <Expiration>2030-01-01T00:00:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let c = parse_reply(200, ok, "AssumeRole").unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.expose()),
            ("ASIA1", "s&k")
        );
        let err = parse_reply(
            403,
            "<ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error></ErrorResponse>",
            "AssumeRole",
        )
        .unwrap_err();
        assert!(
            matches!(&err, Error::Api { status: 403, code, .. } if code == "AccessDenied"),
            "{err}"
        );
        assert!(parse_reply(200, "<x/>", "AssumeRole").is_err());
        assert_eq!(form(&[("A", "a b/c"), ("B", "x=y")]), "A=a%20b%2Fc&B=x%3Dy");
    }
}
