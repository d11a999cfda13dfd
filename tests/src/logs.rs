//! Log lines a test can read back, written as the Lambdas write them (JSON lines, as
//! `linkledger_wiring::telemetry::init_tracing` sets them up).

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A log writer the test can read back.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("not poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("not poisoned").clone()).expect("utf-8 logs")
    }

    /// The first JSON line whose message is `message`.
    pub fn line(&self, message: &str) -> Value {
        let text = self.text();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["message"] == message)
            .unwrap_or_else(|| panic!("no {message:?} line in:\n{text}"))
    }
}

/// Captures this thread's log lines, every level, as JSON lines like the Lambdas' (events
/// flattened, each line's spans under `spans`), until the guard is dropped.
pub fn capture_json() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .flatten_event(true)
        .with_current_span(false)
        .without_time()
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}
