//! AWS adapters: DynamoDB for the table port, SQS for the queue port.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod queue;
pub mod table;

pub use queue::{create_queue_pair, SqsQueue};
pub use table::{create_table, DynamoTable};

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
