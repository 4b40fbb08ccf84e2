//! Building a [`Talent`]: its builder and defaults.

use super::client::{Talent, TalentVersion};
use super::DEFAULT_ENDPOINT;
use crate::auth::google::Tokens;
use crate::error::{Error, Result};
use crate::transport::HttpTransport;

/// Builder of [`Talent`].
///
/// | setting | default |
/// |---|---|
/// | `endpoint` | `https://jobs.googleapis.com` |
/// | `version` | [`TalentVersion::V4`] |
/// | `tokens` | none: anonymous |
/// | `quota_project` | none |
/// | `transport` | [`HttpTransport::default`] |
#[derive(Debug)]
pub struct TalentBuilder {
    pub(super) inner: Talent,
}

impl TalentBuilder {
    /// Another endpoint (`scheme://host[:port]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").endpoint("http://127.0.0.1:8080");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.inner.endpoint = url.into().trim_end_matches('/').to_owned();
        self
    }
    /// The API version. Defaults to v4.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").version(trackflow::backend::talent::TalentVersion::V4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn version(mut self, v: TalentVersion) -> Self {
        self.inner.version = v;
        self
    }
    /// Where bearer tokens come from.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").tokens(trackflow::auth::google::Tokens::new(trackflow::auth::google::StaticToken::new("ya29.x")));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tokens(mut self, t: Tokens) -> Self {
        self.inner.tokens = Some(t);
        self
    }
    /// The project billed for quota (`x-goog-user-project`).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").quota_project("billing-project");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn quota_project(mut self, p: impl Into<String>) -> Self {
        self.inner.quota_project = Some(p.into());
        self
    }
    /// The HTTP transport.
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").transport(trackflow::transport::HttpTransport::default());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn transport(mut self, t: HttpTransport) -> Self {
        self.inner.transport = t;
        self
    }
    /// Builds the backend.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when `parent` does not fit the version: `projects/*/tenants/*` for v4,
    /// `projects/*` for v3.
    ///
    /// # Examples
    ///
    /// ```
    /// let t = trackflow::backend::talent::Talent::builder("projects/p/tenants/t").build()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self) -> Result<Talent> {
        let parts: Vec<&str> = self.inner.parent.split('/').collect();
        let ok = parts.iter().all(|p| !p.is_empty())
            && match self.inner.version {
                TalentVersion::V4 => parts.len() == 4 && parts[0] == "projects" && parts[2] == "tenants",
                TalentVersion::V3 => parts.len() == 2 && parts[0] == "projects",
            };
        if !ok {
            let want = match self.inner.version {
                TalentVersion::V4 => "projects/PROJECT/tenants/TENANT",
                TalentVersion::V3 => "projects/PROJECT",
            };
            return Err(Error::Config(format!(
                "talent parent `{}`: {:?} needs {want}",
                self.inner.parent, self.inner.version
            )));
        }
        let mut talent = self.inner;
        // Tokens are fetched with this backend's transport settings (CA file, roots, timeouts).
        talent.tokens = talent.tokens.map(|t| t.for_transport(&talent.transport));
        Ok(talent)
    }
}

impl Talent {
    /// A builder for `parent` (`projects/*/tenants/*` for v4, `projects/*` for v3).
    ///
    /// # Examples
    ///
    /// ```
    /// let b = trackflow::backend::talent::Talent::builder("projects/p/tenants/t");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn builder(parent: impl Into<String>) -> TalentBuilder {
        TalentBuilder {
            inner: Talent {
                endpoint: DEFAULT_ENDPOINT.into(),
                parent: parent.into(),
                version: TalentVersion::V4,
                tokens: None,
                quota_project: None,
                transport: HttpTransport::default(),
            },
        }
    }
}
