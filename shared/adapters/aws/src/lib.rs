//! AWS adapters: DynamoDB for the table port, SQS for the queue port.
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod queue;
pub mod table;

pub use queue::{create_queue_pair, SqsQueue};
pub use table::{create_table, DynamoTable};

/// The SDK configuration from the environment (`AWS_REGION`, credentials,
/// `AWS_ENDPOINT_URL` for moto_server or DynamoDB Local, ...).
pub async fn sdk_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await
}
