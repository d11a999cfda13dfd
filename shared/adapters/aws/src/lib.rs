//! AWS adapters: DynamoDB for the table port, SQS for the queue port.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod queue;
#[cfg(feature = "streams")]
pub mod stream;
pub mod table;

pub use queue::{create_queue_pair, SqsQueue};
pub use table::{create_table, DynamoTable};

use std::error::Error;
use std::fmt;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

/// What a service answered when it refused a call: its error code and message, which are the
/// whole of its answer (the SDK's error around them only adds "service error").
#[derive(Debug, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ServiceRefusal {
    pub code: String,
    pub message: String,
}

/// The cause of a failed SDK call, for a [`BackendError`](linkledger_store::ports::BackendError):
/// the service's refusal, or else the SDK's own error (dispatch, timeout, ...) with its sources.
/// Neither carries credentials.
fn sdk_cause<E, R>(err: SdkError<E, R>) -> Box<dyn Error + Send + Sync + 'static>
where
    E: ProvideErrorMetadata + Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service) = &err {
        let e = service.err();
        return Box::new(ServiceRefusal {
            code: e.code().unwrap_or("unknown error").to_owned(),
            message: e.message().unwrap_or_default().to_owned(),
        });
    }
    Box::new(err)
}

/// The SDK's shared configuration (what [`sdk_config`] and [`lambda_sdk_config`] load).
pub use aws_config::SdkConfig;

fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// The SDK configuration by the SDK's whole default chain: the environment, then profiles,
/// SSO, web identity, the container and instance metadata (the local binary on a developer's
/// machine, tests and tools).
///
/// The HTTP client is chosen here rather than by the SDK's `default-https-client` feature:
/// rustls with the ring provider (plain HTTP for a local emulator still works), which keeps
/// aws-lc-rs and its C build out of every Lambda package.
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK configuration of a Lambda function: what its runtime sets in the environment
/// (`AWS_REGION`, the role's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`), and
/// `AWS_ENDPOINT_URL` when set (an emulator). Nothing else is looked for: the default chain's
/// profile, SSO, STS and metadata providers are never linked into the Lambda packages (about
/// 350 KiB of code). The standard retry and timeout defaults apply.
pub async fn lambda_sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::{
        EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider,
    };
    use aws_config::meta::region::ProvideRegion;
    let region = EnvironmentVariableRegionProvider::new().region().await;
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                EnvironmentVariableCredentialsProvider::new(),
            ),
        )
        .identity_cache(aws_config::identity::IdentityCache::lazy().build())
        .retry_config(aws_smithy_types::retry::RetryConfig::standard())
        .time_source(aws_smithy_async::time::SystemTimeSource::new())
        .http_client(https_client());
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        builder = builder.sleep_impl(sleep);
    }
    if let Ok(url) = std::env::var("AWS_ENDPOINT_URL") {
        if !url.trim().is_empty() {
            builder = builder.endpoint_url(url.trim());
        }
    }
    builder.build()
}
