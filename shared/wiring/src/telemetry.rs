//! `tracing` set-up: JSON lines on Lambda, readable lines locally. Called once at start-up.
//!
//! `RUST_LOG` takes `target=level` directives (`info`, `linkledger_api=debug,info`), read by
//! `tracing_subscriber`'s `Targets` filter: the same syntax as `EnvFilter` without its span and
//! field filters, whose regex engine would add about 190 KiB to every Lambda package.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogFormat;

/// The filter `RUST_LOG` names; `info` when it is unset or not a list of directives.
fn filter() -> Targets {
    std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

pub fn init_tracing(format: LogFormat) {
    let registry = tracing_subscriber::registry();
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .without_time() // CloudWatch stamps every line
                    .with_filter(filter()),
            )
            .try_init(),
        LogFormat::Pretty => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_filter(filter()),
            )
            .try_init(),
    };
}
