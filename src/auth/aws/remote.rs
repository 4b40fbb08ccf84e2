//! Credentials served over HTTP: the container endpoint (ECS, EKS Pod Identity) and the EC2
//! instance metadata service (IMDSv2, IMDSv1 only as a fallback).
//!
//! ```text
//!  container:  GET $AWS_CONTAINER_CREDENTIALS_FULL_URI            Authorization: <token or token file>
//!          or  GET http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI
//!  IMDS:       PUT /latest/api/token                               X-aws-ec2-metadata-token-ttl-seconds: 21600
//!              GET /latest/meta-data/iam/security-credentials/     X-aws-ec2-metadata-token: <token>  → role
//!              GET /latest/meta-data/iam/security-credentials/role X-aws-ec2-metadata-token: <token>  → JSON
//! ```

use std::time::Duration;

use super::credentials::{parse_expiration, status_error, Credentials, CredentialsProvider, Env};
use crate::cancel::Cancel;
use crate::error::{Error, Result};

/// How long one metadata request may take (the SDKs use 1 s: off EC2 the address does not
/// answer, and the chain must move on quickly).
const IMDS_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one container-endpoint or STS request may take.
pub(super) const HTTP_TIMEOUT: Duration = Duration::from_secs(5);
/// The lifetime asked of an IMDSv2 session token.
const IMDS_TOKEN_TTL: &str = "21600";
const IMDS_TOKEN_TTL_SECS: u64 = 21_600;

/// IMDSv2 session tokens by endpoint, reused until a minute before their TTL.
mod session_cache {
    use std::time::{Duration, Instant};

    use parking_lot::Mutex;

    static SESSIONS: Mutex<Vec<(String, String, Instant)>> = Mutex::new(Vec::new());

    pub(super) fn get(endpoint: &str) -> Option<String> {
        let now = Instant::now();
        SESSIONS
            .lock()
            .iter()
            .find(|(e, _, until)| e == endpoint && now < *until)
            .map(|(_, t, _)| t.clone())
    }

    pub(super) fn put(endpoint: &str, token: &str, ttl_secs: u64) {
        let until = Instant::now() + Duration::from_secs(ttl_secs.saturating_sub(60));
        let mut s = SESSIONS.lock();
        s.retain(|(e, ..)| e != endpoint);
        s.push((endpoint.to_owned(), token.to_owned(), until));
    }

    pub(super) fn forget(endpoint: &str) {
        SESSIONS.lock().retain(|(e, ..)| e != endpoint);
    }
}
/// The largest reply read from a credentials endpoint.
const MAX_REPLY: u64 = 64 << 10;

/// A reply's status and body.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) body: String,
}

/// One request with a timeout, shortened to `cancel`'s deadline, through the transport of
/// the backend whose credentials these are (its CA file, roots and timeouts; redirects are
/// not followed). No retries: the cache calls again after its backoff.
pub(super) fn http(
    method: &str,
    url: &str,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
    timeout: Duration,
    cancel: &Cancel,
) -> Result<Reply> {
    use crate::transport::{HttpRequest, Method, Verdict};
    if cancel.is_aborted() {
        return Err(Error::Cancelled);
    }
    let limit = cancel.remaining().map_or(timeout, |r| r.min(timeout));
    let request = HttpRequest::owned(
        match method {
            "GET" => Method::Get,
            "PUT" => Method::Put,
            _ => Method::Post,
        },
        url,
        headers,
        body.unwrap_or_default(),
    );
    match crate::transport::http::auth_transport().send_once(request, limit, cancel) {
        Ok(resp) => {
            let end = resp.body.len().min(MAX_REPLY as usize);
            Ok(Reply {
                status: resp.status,
                body: String::from_utf8_lossy(&resp.body[..end]).into_owned(),
            })
        }
        Err(Verdict::Permanent(Error::Cancelled)) => Err(Error::Cancelled),
        Err(Verdict::Success) => Err(Error::Transport("no reply".into())),
        Err(Verdict::Permanent(e) | Verdict::Retry { error: e, .. }) => {
            Err(Error::Transport(crate::error::TransportError::from(format!(
                "{method} {}: {}",
                crate::transport::mask::mask_url(url),
                crate::transport::mask::mask_secrets(&e.to_string())
            ))))
        }
    }
}

/// The JSON the container endpoint, IMDS and `credential_process` answer with.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct JsonCredentials {
    access_key_id: String,
    secret_access_key: String,
    #[serde(alias = "SessionToken")]
    token: Option<String>,
    expiration: Option<String>,
    code: Option<String>,
}

impl JsonCredentials {
    pub(super) fn parse(text: &str, source: &str) -> Result<Credentials> {
        let j: JsonCredentials = serde_json::from_str(text).map_err(|e| {
            // The error names a field or a position, never the (secret) text.
            Error::Config(format!("{source}: not a credentials document: {e}"))
        })?;
        if let Some(code) = j.code.filter(|c| c != "Success") {
            return Err(Error::Config(format!(
                "{source}: credentials not available ({code})"
            )));
        }
        let mut c = Credentials::new(j.access_key_id, j.secret_access_key, j.token);
        if let Some(e) = j.expiration {
            c = c.expiring_at(parse_expiration(&e, source)?);
        }
        Ok(c)
    }
}

/// The container credentials endpoint of ECS tasks and EKS Pod Identity.
#[derive(Debug, Clone)]
pub(super) struct ContainerCredentials {
    url: String,
    token: Option<crate::auth::Secret>,
    token_file: Option<String>,
}

/// Hosts an `http://` full URI may name: the container agents' addresses and loopback.
fn allowed_plain_http(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or_default();
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| {
            ip.is_loopback()
                || ip.to_string() == "169.254.170.2"
                || ip.to_string() == "169.254.170.23"
                || ip.to_string() == "fd00:ec2::23"
        })
}

impl ContainerCredentials {
    /// From `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` or `_FULL_URI`, with
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read at each fetch, as EKS rotates it) or
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`; `None` when neither URI is set.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a full URI that is plain `http://` to a host other than loopback
    /// or the container agents' addresses.
    pub(super) fn from_env(env: &Env<'_>) -> Result<Option<ContainerCredentials>> {
        let url = match (
            env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            env("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
        ) {
            (Some(rel), _) => format!("http://169.254.170.2{rel}"),
            (None, Some(full)) => {
                if !(full.starts_with("https://") || allowed_plain_http(&full)) {
                    return Err(Error::Config(format!(
                        "AWS_CONTAINER_CREDENTIALS_FULL_URI `{}`: plain http is allowed only to loopback or the container agent",
                        crate::transport::mask::mask_url(&full)
                    )));
                }
                full
            }
            (None, None) => return Ok(None),
        };
        Ok(Some(ContainerCredentials {
            url,
            token: env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(crate::auth::Secret::new),
            token_file: env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        }))
    }

    fn authorization(&self) -> Result<Option<String>> {
        if let Some(path) = &self.token_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Error::Config(format!("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {path}: {e}")))?;
            return Ok(Some(text.trim().to_owned()));
        }
        Ok(self.token.as_ref().map(|t| t.expose().to_owned()))
    }
}

impl CredentialsProvider for ContainerCredentials {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        let headers: Vec<(&str, String)> = self
            .authorization()?
            .map(|t| ("Authorization", t))
            .into_iter()
            .collect();
        let r = http("GET", &self.url, &headers, None, HTTP_TIMEOUT, cancel)?;
        if r.status != 200 {
            return Err(status_error("container credentials endpoint", r.status));
        }
        JsonCredentials::parse(&r.body, "container credentials endpoint")
    }
}

/// The EC2 instance metadata service.
#[derive(Debug, Clone)]
pub(super) struct InstanceMetadata {
    endpoint: String,
    allow_v1: bool,
}

impl InstanceMetadata {
    /// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else `http://169.254.169.254`; `None` when
    /// `AWS_EC2_METADATA_DISABLED` is `true`. IMDSv1 is used only where the token request is
    /// answered 404 or 405 (no IMDSv2) and `AWS_EC2_METADATA_V1_DISABLED` is not `true`.
    pub(super) fn from_env(env: &Env<'_>) -> Option<InstanceMetadata> {
        let yes = |k: &str| env(k).is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if yes("AWS_EC2_METADATA_DISABLED") {
            return None;
        }
        let endpoint =
            env("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|| "http://169.254.169.254".into());
        Some(InstanceMetadata {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            allow_v1: !yes("AWS_EC2_METADATA_V1_DISABLED"),
        })
    }

    /// The session token header, or none on an IMDSv1-only service. A session token is
    /// reused (by every fetch of this process against this endpoint) until shortly before
    /// its TTL, as the SDKs do.
    fn session(&self, cancel: &Cancel) -> Result<Vec<(&'static str, String)>> {
        if let Some(token) = session_cache::get(&self.endpoint) {
            return Ok(vec![("X-aws-ec2-metadata-token", token)]);
        }
        let url = format!("{}/latest/api/token", self.endpoint);
        let ttl = [("X-aws-ec2-metadata-token-ttl-seconds", IMDS_TOKEN_TTL.to_owned())];
        let r = http("PUT", &url, &ttl, Some(b""), IMDS_TIMEOUT, cancel)?;
        match r.status {
            200 => {
                let token = r.body.trim().to_owned();
                session_cache::put(&self.endpoint, &token, IMDS_TOKEN_TTL_SECS);
                Ok(vec![("X-aws-ec2-metadata-token", token)])
            }
            404 | 405 if self.allow_v1 => {
                log::debug!(
                    "trackflow: IMDSv2 unavailable ({}); falling back to IMDSv1",
                    r.status
                );
                Ok(Vec::new())
            }
            s => Err(status_error("instance metadata token", s)),
        }
    }

    /// `path` under `/latest/meta-data/`.
    fn get(&self, session: &[(&str, String)], path: &str, cancel: &Cancel) -> Result<String> {
        let url = format!("{}/latest/meta-data/{path}", self.endpoint);
        let r = http("GET", &url, session, None, IMDS_TIMEOUT, cancel)?;
        if r.status == 401 {
            // The session token is no longer taken (the service restarted): the next fetch
            // asks for a new one.
            session_cache::forget(&self.endpoint);
        }
        if r.status != 200 {
            return Err(status_error("instance metadata", r.status));
        }
        Ok(r.body)
    }

    /// The instance's region.
    pub(super) fn region(&self, cancel: &Cancel) -> Result<String> {
        let session = self.session(cancel)?;
        Ok(self.get(&session, "placement/region", cancel)?.trim().to_owned())
    }
}

impl CredentialsProvider for InstanceMetadata {
    fn fetch(&self, cancel: &Cancel) -> Result<Credentials> {
        let session = self.session(cancel)?;
        let roles = self.get(&session, "iam/security-credentials/", cancel)?;
        let role = roles
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .ok_or_else(|| Error::Config("instance metadata: the instance has no IAM role".into()))?;
        let doc = self.get(&session, &format!("iam/security-credentials/{role}"), cancel)?;
        JsonCredentials::parse(&doc, "instance metadata")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_to_loopback_and_the_agents() {
        for ok in [
            "http://127.0.0.1:8080/creds",
            "http://localhost/x",
            "http://169.254.170.2/v2/credentials/abc",
            "http://169.254.170.23/v1/credentials",
            "http://[fd00:ec2::23]/v1/credentials",
            "http://[::1]:9/x",
        ] {
            assert!(allowed_plain_http(ok), "{ok}");
        }
        for bad in [
            "http://example.com/x",
            "http://10.0.0.1/x",
            "http://127.0.0.1.evil.com/x",
            "ftp://127.0.0.1/",
        ] {
            assert!(!allowed_plain_http(bad), "{bad}");
        }
    }

    #[test]
    fn credential_documents() {
        let c = JsonCredentials::parse(
            r#"{"Code":"Success","AccessKeyId":"AK","SecretAccessKey":"SK","Token":"T","Expiration":"2030-01-01T00:00:00Z"}"#,
            "t",
        )
        .unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.session_token.is_some()),
            ("AK", true)
        );
        assert!(c.expires_at.is_some());
        let err = JsonCredentials::parse(r#"{"Code":"Failed","AccessKeyId":"","SecretAccessKey":""}"#, "t")
            .unwrap_err();
        assert!(err.to_string().contains("(Failed)"), "{err}");
        let err = JsonCredentials::parse("SECRETSECRET", "t").unwrap_err();
        assert!(!err.to_string().contains("SECRETSECRET"), "{err}");
    }
}
