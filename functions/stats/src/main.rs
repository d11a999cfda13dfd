//! Lambda entry point: configuration, logging, adapters, then `lambda_runtime::run` over the
//! table's stream.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, Error, LambdaEvent};

use linkledger_stats::{handle, Handler};
use linkledger_wiring::config::{Backends, Config};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = Config::from_env()?;
    linkledger_wiring::telemetry::init_tracing(config.log_format);
    let backends = Backends::connect_on_lambda(&config.backend).await?;
    let handler = &Handler::new(backends.store);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, Error>(handle(handler, event.payload).await)
    }))
    .await
}
