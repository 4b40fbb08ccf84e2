//! Google OAuth2 bearer tokens behind one small trait, cached until shortly before they expire.
//!
//! | source | where the token comes from | lifetime |
//! |---|---|---|
//! | [`StaticToken`] | a string you give | forever |
//! | [`EnvToken`] | an environment variable, re-read | 5 min, then re-read |
//! | [`CommandToken`] | a command's stdout, e.g. `gcloud auth print-access-token` | 5 min, then re-run |
//! | [`MetadataServer`] | the GCE/GKE metadata server | `expires_in` of the reply |
//! | [`ServiceAccountKey`] | a service-account JSON key: a JWT (RS256) exchanged at its `token_uri` | `expires_in` of the reply |
//!
//! Tokens and keys are [`Secret`]s: they never appear in `Debug` output, logs or errors.

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use super::cache::Refreshing;
use super::Secret;
use crate::cancel::Cancel;
use crate::clock::{Clock, SharedClock};
use crate::error::{Error, Result};
use crate::transport::{HttpTransport, Request, Response};

/// The scope every Google backend here works with.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// How long before expiry a cached token is replaced.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// How long a token without a stated lifetime (environment, command) is reused.
pub const UNTIMED_TOKEN_TTL: Duration = Duration::from_secs(300);

/// A bearer token and when it stops working.
#[derive(Debug, Clone)]
pub struct AccessToken {
    /// The token.
    pub token: Secret,
    /// When it expires; `None` for never.
    pub expires_at: Option<Instant>,
}

/// A source of bearer tokens. Called only when the cached token is missing or about to expire.
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Gets a fresh token.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] or a transport error saying what failed (never the token).
    fn fetch(&self) -> Result<AccessToken>;

    /// Gets a fresh token, giving up when `cancel` fires (a consumer's shutdown deadline).
    /// Defaults to [`fetch`](Self::fetch), for sources that do not wait on anything.
    ///
    /// # Errors
    ///
    /// As [`fetch`](Self::fetch); [`Error::Cancelled`] when cancelled first.
    fn fetch_with(&self, cancel: &Cancel) -> Result<AccessToken> {
        let _ = cancel;
        self.fetch()
    }

    /// This source fetching through `transport` (a backend's: its CA file, roots and
    /// timeouts), when it fetches over HTTP with the default transport; `None` otherwise
    /// (the default). Retail and Talent call it with their own transport when built.
    fn for_transport(&self, transport: &HttpTransport) -> Option<Arc<dyn TokenSource>> {
        let _ = transport;
        None
    }
}

/// Default for [`CommandToken::timeout`].
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Caches a [`TokenSource`]'s token until [`REFRESH_MARGIN`] before it expires.
///
/// # Examples
///
/// ```
/// use trackflow::auth::google::{Tokens, StaticToken};
/// let t = Tokens::new(StaticToken::new("ya29.example"));
/// assert_eq!(t.bearer()?.expose(), "ya29.example");
/// assert!(!format!("{t:?}").contains("ya29"));
/// # Ok::<(), trackflow::Error>(())
/// ```
#[derive(Clone)]
pub struct Tokens {
    source: Arc<dyn TokenSource>,
    cache: Arc<Refreshing<AccessToken>>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Tokens {
    /// Caches tokens of `source`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x"));
    /// assert_eq!(t.bearer()?.expose(), "ya29.x");
    /// assert!(!format!("{t:?}").contains("ya29"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(source: impl TokenSource + 'static) -> Self {
        Tokens {
            source: Arc::new(source),
            cache: Arc::default(),
        }
    }

    /// These tokens fetched through `transport` where their source fetches over HTTP with
    /// the default transport (see [`TokenSource::for_transport`]): what a backend does with
    /// its own transport, so that its `ca_file`, roots and timeouts apply to its token
    /// endpoint too.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::google::{MetadataServer, Tokens};
    /// let t = Tokens::new(MetadataServer::new("http://127.0.0.1:9"))
    ///     .for_transport(&trackflow::transport::HttpTransport::default());
    /// assert!(format!("{t:?}").contains("MetadataServer"));
    /// ```
    pub fn for_transport(&self, transport: &HttpTransport) -> Tokens {
        match self.source.for_transport(transport) {
            Some(source) => Tokens {
                source,
                cache: Arc::default(),
            },
            None => self.clone(),
        }
    }

    /// A valid token, fetching a new one when the cached one is missing or expires within
    /// [`REFRESH_MARGIN`]. One caller fetches while the others wait for its result.
    ///
    /// # Errors
    ///
    /// What the source returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x"));
    /// assert_eq!(t.bearer()?.expose(), "ya29.x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bearer(&self) -> Result<Secret> {
        self.bearer_with(&Cancel::default())
    }

    /// As [`bearer`](Self::bearer), giving up when `cancel` fires: the fetch itself and the
    /// wait for another caller's fetch both honour it.
    ///
    /// # Errors
    ///
    /// What the source returns; [`Error::Cancelled`] when cancelled first.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::google::{StaticToken, Tokens};
    /// let t = Tokens::new(StaticToken::new("ya29.x"));
    /// assert_eq!(t.bearer_with(&trackflow::delivery::Cancel::default())?.expose(), "ya29.x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn bearer_with(&self, cancel: &Cancel) -> Result<Secret> {
        let fresh = |t: &AccessToken| t.expires_at.is_none_or(|at| at > Instant::now() + REFRESH_MARGIN);
        let usable = |t: &AccessToken| t.expires_at.is_none_or(|at| at > Instant::now());
        let t = self
            .cache
            .get(cancel, fresh, usable, |c| self.source.fetch_with(c))?;
        Ok(t.token)
    }

    /// Forgets the cached token, so the next call fetches anew (after a 401: a token revoked
    /// or rotated before its stated expiry).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x"));
    /// t.invalidate();
    /// assert_eq!(t.bearer()?.expose(), "ya29.x");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn invalidate(&self) {
        self.cache.invalidate();
    }
}

/// A fixed token.
#[derive(Debug, Clone)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// The token.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::google::{StaticToken, TokenSource};
    /// assert_eq!(StaticToken::new("t").fetch()?.token.expose(), "t");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(token: impl Into<String>) -> Self {
        StaticToken(Secret::new(token))
    }
}

impl TokenSource for StaticToken {
    fn fetch(&self) -> Result<AccessToken> {
        Ok(AccessToken {
            token: self.0.clone(),
            expires_at: None,
        })
    }
}

/// A token read from an environment variable, re-read every [`UNTIMED_TOKEN_TTL`].
#[derive(Debug, Clone)]
pub struct EnvToken {
    var: String,
}

impl EnvToken {
    /// Reads `var`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::auth::google::EnvToken::new("GOOGLE_ACCESS_TOKEN");
    /// use trackflow::auth::google::TokenSource;
    /// // Unset here: the error names the variable, never a token.
    /// let err = trackflow::auth::google::EnvToken::new("TRACKFLOW_DOC_NO_SUCH_TOKEN").fetch().unwrap_err();
    /// assert!(err.to_string().contains("TRACKFLOW_DOC_NO_SUCH_TOKEN"), "{err}");
    /// # let _ = t;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(var: impl Into<String>) -> Self {
        EnvToken { var: var.into() }
    }
}

impl TokenSource for EnvToken {
    fn fetch(&self) -> Result<AccessToken> {
        let token = std::env::var(&self.var)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "google token: environment variable {} is not set",
                    self.var
                ))
            })?;
        Ok(AccessToken {
            token: Secret::new(token.trim()),
            expires_at: Some(Instant::now() + UNTIMED_TOKEN_TTL),
        })
    }
}

/// A token printed by a command, e.g. `gcloud auth print-access-token`; re-run every
/// [`UNTIMED_TOKEN_TTL`].
#[derive(Debug, Clone)]
pub struct CommandToken {
    program: String,
    args: Vec<String>,
    timeout: Duration,
}

impl CommandToken {
    /// Runs `program` with `args`.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::auth::google::CommandToken::new("gcloud", ["auth", "print-access-token"]);
    /// # #[cfg(unix)] {
    /// use trackflow::auth::google::TokenSource;
    /// // The program's standard output, trimmed, is the token.
    /// let echo = trackflow::auth::google::CommandToken::new("echo", ["ya29.from-a-command"]);
    /// assert_eq!(echo.fetch()?.token.expose(), "ya29.from-a-command");
    /// # }
    /// # let _ = t;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(program: impl Into<String>, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        CommandToken {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            timeout: DEFAULT_COMMAND_TIMEOUT,
        }
    }

    /// How long the command may run before it is killed. Defaults to 30 s
    /// ([`DEFAULT_COMMAND_TIMEOUT`]); a caller's earlier deadline wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use trackflow::auth::google::{CommandToken, TokenSource};
    /// let err = CommandToken::new("sleep", ["5"]).timeout(Duration::from_millis(50)).fetch().unwrap_err();
    /// assert!(err.to_string().contains("did not finish within"), "{err}");
    /// ```
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }
}

impl TokenSource for CommandToken {
    fn fetch(&self) -> Result<AccessToken> {
        self.fetch_with(&Cancel::default())
    }

    fn fetch_with(&self, cancel: &Cancel) -> Result<AccessToken> {
        let out = crate::auth::command::run_command(
            "google token",
            &self.program,
            &self.args,
            &cancel.with_deadline(Instant::now() + self.timeout),
        )?;
        // A command that ran and failed (no network, expired login) may well succeed later.
        if !out.status.success() {
            return Err(Error::Transport(
                format!(
                    "google token: `{}` exited with {}: {}",
                    self.program,
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                )
                .into(),
            ));
        }
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if token.is_empty() {
            return Err(Error::Transport(
                format!("google token: `{}` printed nothing", self.program).into(),
            ));
        }
        Ok(AccessToken {
            token: Secret::new(token),
            expires_at: Some(Instant::now() + UNTIMED_TOKEN_TTL),
        })
    }
}

/// The GCE/GKE metadata server's token for the instance's default service account.
#[derive(Debug, Clone)]
pub struct MetadataServer {
    base: String,
    transport: HttpTransport,
    // Given with `transport`: a backend's does not replace it.
    own_transport: bool,
}

impl MetadataServer {
    /// `http://$GCE_METADATA_HOST`, else `http://metadata.google.internal`.
    ///
    /// # Examples
    ///
    /// ```
    /// let md = trackflow::auth::google::MetadataServer::from_env();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_env() -> Self {
        let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "metadata.google.internal".into());
        MetadataServer::new(format!("http://{host}"))
    }

    /// A metadata server at `base` (e.g. a local emulator).
    ///
    /// # Examples
    ///
    /// ```
    /// let md = trackflow::auth::google::MetadataServer::new("http://127.0.0.1:8085");
    /// use trackflow::auth::google::{MetadataServer, TokenSource};
    /// // Nothing listens on port 1: the error names the metadata server, never a token.
    /// assert!(MetadataServer::new("http://127.0.0.1:1").fetch().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(base: impl Into<String>) -> Self {
        MetadataServer {
            base: base.into().trim_end_matches('/').to_owned(),
            transport: HttpTransport::default(),
            own_transport: false,
        }
    }

    /// Fetches through `t` rather than the backend's transport.
    ///
    /// # Examples
    ///
    /// ```
    /// let md = trackflow::auth::google::MetadataServer::new("http://127.0.0.1:9")
    ///     .transport(trackflow::transport::HttpTransport::default());
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = t;
        self.own_transport = true;
        self
    }
}

impl TokenSource for MetadataServer {
    fn fetch(&self) -> Result<AccessToken> {
        self.fetch_with(&Cancel::default())
    }

    fn for_transport(&self, transport: &HttpTransport) -> Option<Arc<dyn TokenSource>> {
        (!self.own_transport).then(|| {
            Arc::new(MetadataServer {
                transport: transport.clone(),
                ..self.clone()
            }) as Arc<dyn TokenSource>
        })
    }

    fn fetch_with(&self, cancel: &Cancel) -> Result<AccessToken> {
        let url = format!(
            "{}/computeMetadata/v1/instance/service-accounts/default/token",
            self.base
        );
        let headers = [("Metadata-Flavor", "Google".to_owned())];
        let req = Request {
            url: &url,
            query: &[],
            headers: &headers,
            body: &[],
        };
        let resp = call(&self.transport, &req, false, cancel)?;
        parse_token_reply(&resp, "metadata server")
    }
}

/// A service account's JSON key: a JWT signed with its private key (RS256) is exchanged at
/// the key's `token_uri` for an access token.
pub struct ServiceAccountKey {
    client_email: String,
    key_id: Option<String>,
    token_uri: String,
    key: Arc<RsaKeyPair>,
    scopes: String,
    clock: SharedClock,
    transport: HttpTransport,
    // Given with `transport`: a backend's does not replace it.
    own_transport: bool,
}

impl fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("key", &"***")
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
    private_key_id: Option<String>,
    token_uri: Option<String>,
}

impl ServiceAccountKey {
    /// Reads a key file (as downloaded from the Cloud console).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the file and what is wrong with it.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// use trackflow::auth::google::{ServiceAccountKey, Tokens};
    /// let tokens = Tokens::new(ServiceAccountKey::from_file("/etc/keys/tracker.json")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        ServiceAccountKey::from_json(&text).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Parses a key's JSON text.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when it is not a service-account key or its private key is unusable.
    ///
    /// # Examples
    ///
    /// ```
    /// use trackflow::auth::google::ServiceAccountKey;
    /// assert!(ServiceAccountKey::from_json("{}").is_err());
    /// let wif = r#"{"type": "external_account", "audience": "//iam.googleapis.com/projects/1/x"}"#;
    /// let err = ServiceAccountKey::from_json(wif).unwrap_err().to_string();
    /// assert!(err.contains("`external_account` (workload identity federation) is not supported"), "{err}");
    /// ```
    pub fn from_json(text: &str) -> Result<Self> {
        // The type first: other credential files lack a service account's fields, and the
        // error should say what the file is, not which field it lacks.
        #[derive(serde::Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            ty: Option<String>,
        }
        let kind = serde_json::from_str::<Kind>(text).ok().and_then(|k| k.ty);
        match kind.as_deref() {
            None | Some("service_account") => {}
            Some("external_account") => {
                return Err(Error::Config(
                    "credentials type `external_account` (workload identity federation) is not supported: \
                     use a service-account key, the metadata server, or a command such as \
                     `gcloud auth print-access-token` (auth kind `command`)"
                        .into(),
                ))
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "credentials type `{other}` is not supported: expected `service_account`"
                )))
            }
        }
        let k: KeyFile = serde_json::from_str(text)
            .map_err(|e| Error::Config(format!("not a service-account key: {e}")))?;
        let der = pem_to_der(&k.private_key)
            .ok_or_else(|| Error::Config("private_key: not a PEM `PRIVATE KEY` block".into()))?;
        let key = RsaKeyPair::from_pkcs8(&der)
            .map_err(|e| Error::Config(format!("private_key: not an RSA PKCS#8 key ({e})")))?;
        Ok(ServiceAccountKey {
            client_email: k.client_email,
            key_id: k.private_key_id,
            token_uri: k
                .token_uri
                .unwrap_or_else(|| "https://oauth2.googleapis.com/token".into()),
            key: Arc::new(key),
            scopes: CLOUD_PLATFORM_SCOPE.into(),
            clock: crate::clock::system(),
            transport: HttpTransport::default(),
            own_transport: false,
        })
    }

    /// The scopes to ask for, space-separated. Defaults to [`CLOUD_PLATFORM_SCOPE`].
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let key = trackflow::auth::google::ServiceAccountKey::from_file("key.json")?.scopes("https://www.googleapis.com/auth/jobs");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn scopes(mut self, s: impl Into<String>) -> Self {
        self.scopes = s.into();
        self
    }

    /// Exchanges the JWT through `t` rather than the backend's transport.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let key = trackflow::auth::google::ServiceAccountKey::from_file("key.json")?
    ///     .transport(trackflow::transport::HttpTransport::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.transport = t;
        self.own_transport = true;
        self
    }

    /// The clock for the JWT's `iat`/`exp`. Defaults to the system clock.
    ///
    /// # Examples
    ///
    /// ```,no_run
    /// let key = trackflow::auth::google::ServiceAccountKey::from_file("key.json")?.clock(trackflow::clock::FixedClock(1_700_000_000_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clock(mut self, c: impl Clock + 'static) -> Self {
        self.clock = Arc::new(c);
        self
    }

    /// The signed JWT assertion for `now_s`.
    fn assertion(&self, now_s: i64) -> Result<String> {
        let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = kid.as_str().into();
        }
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": self.scopes,
            "aud": self.token_uri,
            "iat": now_s,
            "exp": now_s + 3600,
        });
        let signing_input = format!(
            "{}.{}",
            base64url(header.to_string().as_bytes()),
            base64url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| Error::Config("service-account key: signing failed".into()))?;
        Ok(format!("{signing_input}.{}", base64url(&sig)))
    }
}

impl TokenSource for ServiceAccountKey {
    fn for_transport(&self, transport: &HttpTransport) -> Option<Arc<dyn TokenSource>> {
        (!self.own_transport).then(|| {
            Arc::new(ServiceAccountKey {
                client_email: self.client_email.clone(),
                key_id: self.key_id.clone(),
                token_uri: self.token_uri.clone(),
                key: self.key.clone(),
                scopes: self.scopes.clone(),
                clock: self.clock.clone(),
                transport: transport.clone(),
                own_transport: false,
            }) as Arc<dyn TokenSource>
        })
    }

    fn fetch(&self) -> Result<AccessToken> {
        self.fetch_with(&Cancel::default())
    }

    fn fetch_with(&self, cancel: &Cancel) -> Result<AccessToken> {
        let assertion = self.assertion(self.clock.now_ms() / 1000)?;
        let body = format!(
            "grant_type={}&assertion={}",
            form_encode("urn:ietf:params:oauth:grant-type:jwt-bearer"),
            form_encode(&assertion)
        );
        let headers = [("Content-Type", "application/x-www-form-urlencoded".to_owned())];
        let req = Request {
            url: &self.token_uri,
            query: &[],
            headers: &headers,
            body: body.as_bytes(),
        };
        let resp = call(&self.transport, &req, true, cancel)?;
        parse_token_reply(&resp, "token endpoint")
    }
}

fn call(transport: &HttpTransport, req: &Request<'_>, post: bool, cancel: &Cancel) -> Result<Response> {
    // The shared classification: only 2xx is a token reply (the transport refuses redirects).
    let judge = |r: &Response| crate::transport::classify_status(r.status, r.retry_after.as_deref(), &r.body);
    let (r, _) = if post {
        transport.post(req, cancel, &judge)
    } else {
        transport.get(req, cancel, &judge)
    };
    r
}

fn parse_token_reply(resp: &Response, from: &str) -> Result<AccessToken> {
    #[derive(serde::Deserialize)]
    struct Reply {
        access_token: String,
        expires_in: Option<u64>,
    }
    let r: Reply = serde_json::from_slice(&resp.body).map_err(|e| {
        Error::Config(format!(
            "google token: the {from}'s reply has no access_token ({e})"
        ))
    })?;
    // Whatever the server says, a lifetime over a day is taken as a day (no overflow).
    let lifetime = Duration::from_secs(r.expires_in.unwrap_or(3600).min(86_400));
    Ok(AccessToken {
        token: Secret::new(r.access_token),
        expires_at: Some(Instant::now() + lifetime),
    })
}

/// The DER inside a PEM `PRIVATE KEY` block.
fn pem_to_der(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .skip_while(|l| !l.starts_with("-----BEGIN PRIVATE KEY"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END"))
        .collect();
    base64_decode(&body)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let text: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .filter(|b| !b.is_empty())
}

/// Base64url without padding (JWT).
pub(crate) fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded` value encoding: everything but RFC 3986's unreserved
/// characters is escaped.
fn form_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, crate::auth::UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64url(b"hello?>"), "aGVsbG8_Pg");
        assert_eq!(base64_decode("aGVs\nbG8/Pg==\n").unwrap(), b"hello?>");
        assert_eq!(base64_decode("not base64!"), None);
        assert_eq!(form_encode("a b/c~"), "a%20b%2Fc~");
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"a"), "YQ");
    }

    #[test]
    fn cached_until_near_expiry() {
        #[derive(Debug, Default)]
        struct Counting(std::sync::atomic::AtomicU32, u64);
        impl TokenSource for Counting {
            fn fetch(&self) -> Result<AccessToken> {
                let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(AccessToken {
                    token: Secret::new(format!("t{n}")),
                    expires_at: Some(Instant::now() + Duration::from_secs(self.1)),
                })
            }
        }
        let long = Tokens::new(Counting(Default::default(), 3600));
        assert_eq!(long.bearer().unwrap().expose(), "t0");
        assert_eq!(long.bearer().unwrap().expose(), "t0");
        // Expires within the refresh margin: every call refreshes.
        let short = Tokens::new(Counting(Default::default(), 30));
        assert_eq!(short.bearer().unwrap().expose(), "t0");
        assert_eq!(short.bearer().unwrap().expose(), "t1");
    }

    #[test]
    fn command_tokens() {
        let t = CommandToken::new("echo", ["ya29.from-command"]);
        assert_eq!(t.fetch().unwrap().token.expose(), "ya29.from-command");
        let err = CommandToken::new("false", Vec::<String>::new())
            .fetch()
            .unwrap_err();
        assert!(err.to_string().contains("`false` exited"), "{err}");
        assert!(err.is_transient(), "a failing command may work later");
    }

    #[test]
    fn a_command_is_killed_at_its_timeout_or_the_callers_deadline() {
        let start = Instant::now();
        let err = CommandToken::new("sleep", ["30"])
            .timeout(Duration::from_millis(100))
            .fetch()
            .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        let cancel = Cancel::default().with_deadline(Instant::now() + Duration::from_millis(100));
        assert!(CommandToken::new("sleep", ["30"]).fetch_with(&cancel).is_err());
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", start.elapsed());
    }

    #[test]
    fn no_lock_is_held_while_a_token_is_fetched() {
        let tokens = Tokens::new(CommandToken::new("sh", ["-c", "sleep 1; echo ya29.slow"]));
        let t2 = tokens.clone();
        let fetching = std::thread::spawn(move || t2.bearer().map(|s| s.expose().to_owned()));
        std::thread::sleep(Duration::from_millis(100));
        // A caller with a short deadline is not stuck behind the slow fetch.
        let start = Instant::now();
        let short = Cancel::default().with_deadline(Instant::now() + Duration::from_millis(50));
        assert!(matches!(tokens.bearer_with(&short), Err(Error::Cancelled)));
        assert!(
            start.elapsed() < Duration::from_millis(900),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(fetching.join().unwrap().unwrap(), "ya29.slow");
        // And the others get the one fetch's token.
        assert_eq!(tokens.bearer().unwrap().expose(), "ya29.slow");
    }

    #[test]
    fn a_huge_expires_in_does_not_overflow() {
        let resp = Response {
            status: 200,
            body: br#"{"access_token":"t","expires_in":18446744073709551615}"#.to_vec(),
            ..Response::default()
        };
        assert!(parse_token_reply(&resp, "test").is_ok());
    }

    proptest::proptest! {
        // Whatever a token endpoint answers, parsing it never panics.
        #[test]
        fn token_replies_never_panic(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let resp = Response { status: 200, body, ..Response::default() };
            let _ = parse_token_reply(&resp, "fuzz");
        }
    }
}
