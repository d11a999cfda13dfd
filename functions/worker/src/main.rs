//! Lambda entry point: configuration, logging, adapters, then `lambda_runtime::run` on the SQS
//! event source (with `ReportBatchItemFailures`).

use aws_lambda_events::event::sqs::SqsEvent;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let store = Backends::connect_on_lambda(&config.backend).await?.store;
    let store = &store;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, Error>(linkledger_worker::handle_sqs_batch(store, event.payload).await)
    }))
    .await
}
