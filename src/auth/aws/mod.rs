//! AWS credentials and region, found where AWS deploys them, cached, and refreshed before
//! they expire.
//!
//! | order | credentials from | refreshed |
//! |---|---|---|
//! | 1 | explicit ([`PersonalizeBuilder::credentials`](crate::backend::personalize::PersonalizeBuilder::credentials), or your own [`CredentialsProvider`]) | by your provider |
//! | 2 | `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) | re-read when they expire |
//! | 3 | web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` → STS `AssumeRoleWithWebIdentity` (EKS IRSA) | before `Expiration` |
//! | 4 | profile `AWS_PROFILE` (else `default`) in `AWS_SHARED_CREDENTIALS_FILE` / `~/.aws/credentials` and `AWS_CONFIG_FILE` / `~/.aws/config`: keys, `credential_process`, `role_arn` with `source_profile` or `credential_source` (STS `AssumeRole`), or `web_identity_token_file` | before `Expiration` |
//! | 5 | container endpoint: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` / `_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` / `_TOKEN` (ECS, EKS Pod Identity) | before `Expiration` |
//! | 6 | EC2 instance metadata, IMDSv2 (token PUT, then role and credentials GETs; IMDSv1 only where the token request gets 404/405 and `AWS_EC2_METADATA_V1_DISABLED` is not `true`); off with `AWS_EC2_METADATA_DISABLED=true` | before `Expiration` |
//!
//! Credentials are refreshed [`REFRESH_MARGIN`] before they expire (a quarter of their
//! lifetime when that is shorter, less up to a tenth at random), by one caller while the
//! others keep signing with the still-valid ones; every signing asks the cache, so rotation
//! needs no restart. A failed fetch is retried after a backoff (1 s doubling to 1 min), not
//! per signing, and fails as `Error::Credentials`: transient, the events wait. The instance
//! metadata session token is reused for its TTL. Region: explicit; `AWS_REGION`; `AWS_DEFAULT_REGION`; the profile's
//! `region`; instance metadata. `AWS_ENDPOINT_URL_STS` points STS calls elsewhere.

mod cached;
mod chain;
mod credentials;
mod profile;
mod remote;
mod sts;

pub use cached::{CachedCredentials, REFRESH_MARGIN};
pub use chain::{region_from_chain, region_from_default_chain, DefaultChain};
pub use credentials::{Credentials, CredentialsProvider, StaticCredentials};
