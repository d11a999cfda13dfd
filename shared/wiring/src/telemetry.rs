//! `tracing` set-up: JSON lines on Lambda, readable lines locally. Called once at start-up.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .without_time() // CloudWatch stamps every line
            .try_init(),
        LogFormat::Pretty => builder.with_target(false).try_init(),
    };
}
