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

/// The SDK configuration from the environment (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL` for moto_server or DynamoDB Local, ...).
///
/// The HTTP client is chosen here rather than by the SDK's `default-https-client` feature:
/// rustls with the ring provider (plain HTTP for a local emulator still works), which keeps
/// aws-lc-rs and its C build out of every Lambda package.
pub async fn sdk_config() -> aws_config::SdkConfig {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .load()
        .await
}
