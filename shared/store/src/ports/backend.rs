//! What the ports say when a backend fails: [`BackendError`], the adapter's operation and the
//! backend's own error, kept whole (boxed, so no adapter type appears in the ports).

use std::borrow::Cow;
use std::error::Error;
use std::sync::Arc;

/// A backend call that failed: what the adapter was doing (`sqlite open`, `Query on <table>`)
/// and, as its [`source`](Error::source), the backend's error (a `rusqlite::Error`, an SDK
/// error, ...). The cause is shared (`Arc`) because one failed SQLite group commit answers
/// every write of the group with the same error.
#[derive(Clone, Debug)]
pub struct BackendError {
    operation: Cow<'static, str>,
    cause: Option<Arc<dyn Error + Send + Sync + 'static>>,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.operation)
    }
}

/// Written by hand rather than derived: the source is the backend's error itself (so that it
/// can be downcast), not the `Arc` that shares it.
impl Error for BackendError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.cause
            .as_deref()
            .map(|cause| cause as &(dyn Error + 'static))
    }
}

impl BackendError {
    /// `operation` failed because of `cause` (any error, or a message of the backend's).
    pub fn new(
        operation: impl Into<Cow<'static, str>>,
        cause: impl Into<Box<dyn Error + Send + Sync + 'static>>,
    ) -> Self {
        Self::shared(operation, Arc::from(cause.into()))
    }

    /// `operation` failed because of a cause shared with other failures.
    pub fn shared(
        operation: impl Into<Cow<'static, str>>,
        cause: Arc<dyn Error + Send + Sync + 'static>,
    ) -> Self {
        Self {
            operation: operation.into(),
            cause: Some(cause),
        }
    }

    /// A failure the adapter (or the store) saw itself, with no error behind it: a reply
    /// missing a field, a record gone between a write and its read-back.
    pub fn without_cause(what: impl Into<Cow<'static, str>>) -> Self {
        Self {
            operation: what.into(),
            cause: None,
        }
    }

    pub fn operation(&self) -> &str {
        &self.operation
    }
}

/// An error and its sources, outermost first: `a: b: c`. Every log line and every reason
/// written for a person shows an error this way, since each error's `Display` names only
/// itself and leaves its cause to [`Error::source`].
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn Error + 'static));

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(inner) = source {
            write!(f, ": {inner}")?;
            source = inner.source();
        }
        Ok(())
    }
}

impl std::fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("disk I/O error")]
    struct Disk;

    #[test]
    fn the_chain_names_the_operation_then_its_cause() {
        let err = BackendError::new("sqlite insert item", Disk);
        assert_eq!(
            ErrorChain(&err).to_string(),
            "sqlite insert item: disk I/O error"
        );
        let cause = err.source().expect("a cause");
        assert!(cause.downcast_ref::<Disk>().is_some(), "{cause:?}");
        assert_eq!(
            ErrorChain(&BackendError::without_cause("gone")).to_string(),
            "gone"
        );
    }
}
