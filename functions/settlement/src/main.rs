//! Lambda entry point: configuration, logging, adapters, then `lambda_runtime::run` for both
//! the schedule and the settlement queue.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

use linkledger_settlement::{handle_chunks, handle_schedule, Invocation, Queues};
use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect_on_lambda(&config.backend).await?;
    let chunks = backends
        .settlement
        .clone()
        .ok_or("LINKLEDGER_SETTLEMENT_QUEUE_URL and LINKLEDGER_SETTLEMENT_DLQ_URL are required")?;
    let (store, finance) = (&backends.store, backends.finance.clone());
    let (chunks, finance) = (&chunks, &finance);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Invocation>| async move {
            let queues = Queues::new(chunks.as_ref(), finance.as_deref());
            let out = match event.payload {
                Invocation::Schedule { settle } => {
                    serde_json::to_value(handle_schedule(store, &queues, &settle).await?)?
                }
                Invocation::Chunks(sqs) => {
                    serde_json::to_value(handle_chunks(store, &queues, sqs).await)?
                }
            };
            Ok::<Value, Error>(out)
        },
    ))
    .await
}
