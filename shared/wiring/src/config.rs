//! Configuration from `LINKLEDGER_*` environment variables (see the README's table).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "aws")]
use linkledger_aws::{DynamoTable, SqsQueue};
#[cfg(feature = "sqlite")]
use linkledger_sqlite::SqliteDb;
use linkledger_store::ports::{Queue, StoreError, Table};
use linkledger_store::Store;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("opening the store")]
    Store(#[from] StoreError),
    /// The configuration names a backend this binary was built without (a Lambda links the
    /// AWS adapter only).
    #[error("LINKLEDGER_BACKEND={0} is not built into this binary")]
    NotBuilt(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file (the local default).
    Sqlite { path: PathBuf },
    /// DynamoDB table and SQS queues (Lambda).
    Aws {
        table: String,
        conversions_queue_url: Option<String>,
        conversions_dlq_url: Option<String>,
        settlement_queue_url: Option<String>,
        settlement_dlq_url: Option<String>,
        finance_queue_url: Option<String>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub backend: Backend,
    /// HMAC key for visitor hashes; required on AWS, kept in the database locally when unset.
    pub click_hash_secret: Option<Secret>,
    pub link_cache_ttl: Duration,
    pub log_format: LogFormat,
}

pub const DEFAULT_DB: &str = "linkledger.db";

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let backend = match var("LINKLEDGER_BACKEND").as_deref().unwrap_or("sqlite") {
            "sqlite" => Backend::Sqlite {
                path: PathBuf::from(var("LINKLEDGER_DB").unwrap_or_else(|| DEFAULT_DB.to_string())),
            },
            "aws" => Backend::Aws {
                table: var("LINKLEDGER_TABLE").ok_or(ConfigError::Missing("LINKLEDGER_TABLE"))?,
                conversions_queue_url: var("LINKLEDGER_CONVERSIONS_QUEUE_URL"),
                conversions_dlq_url: var("LINKLEDGER_CONVERSIONS_DLQ_URL"),
                settlement_queue_url: var("LINKLEDGER_SETTLEMENT_QUEUE_URL"),
                settlement_dlq_url: var("LINKLEDGER_SETTLEMENT_DLQ_URL"),
                finance_queue_url: var("LINKLEDGER_FINANCE_QUEUE_URL"),
            },
            other => {
                return Err(ConfigError::Invalid {
                    name: "LINKLEDGER_BACKEND",
                    reason: format!("{other:?} is neither sqlite nor aws"),
                })
            }
        };
        let click_hash_secret = match var("LINKLEDGER_CLICK_HASH_SECRET") {
            Some(s) if s.len() < 32 => {
                return Err(ConfigError::Invalid {
                    name: "LINKLEDGER_CLICK_HASH_SECRET",
                    reason: "must be at least 32 characters".into(),
                })
            }
            Some(s) => Some(Secret::new(s.into_bytes())),
            None => None,
        };
        let link_cache_ttl = match var("LINKLEDGER_LINK_CACHE_SECONDS") {
            Some(s) => Duration::from_secs(s.parse().map_err(|_| ConfigError::Invalid {
                name: "LINKLEDGER_LINK_CACHE_SECONDS",
                reason: "must be a whole number of seconds".into(),
            })?),
            None => Duration::from_secs(30),
        };
        let log_format = match var("LINKLEDGER_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("pretty") | None => {
                // Lambda sets AWS_LAMBDA_FUNCTION_NAME: default to JSON there.
                if var("AWS_LAMBDA_FUNCTION_NAME").is_some() {
                    LogFormat::Json
                } else {
                    LogFormat::Pretty
                }
            }
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "LINKLEDGER_LOG_FORMAT",
                    reason: format!("{other:?} is neither json nor pretty"),
                })
            }
        };
        Ok(Self {
            backend,
            click_hash_secret,
            link_cache_ttl,
            log_format,
        })
    }
}

/// The adapters a process runs on, built from configuration.
#[derive(Clone)]
pub struct Backends {
    pub store: Store,
    pub table: Arc<dyn Table>,
    /// The conversions queue, where configured (webhooks send to it, the worker consumes it).
    pub conversions: Option<Arc<dyn Queue>>,
    /// Chunks of a fanned-out settlement run (AWS only; locally a run settles in-process).
    pub settlement: Option<Arc<dyn Queue>>,
    /// Where completed settlement runs are announced.
    pub finance: Option<Arc<dyn Queue>>,
    /// The SQLite database, when that is the backend (for local housekeeping).
    #[cfg(feature = "sqlite")]
    pub sqlite: Option<SqliteDb>,
}

/// What loading the SDK's configuration gives: the configuration with the AWS backend built in.
#[cfg(feature = "aws")]
type SdkOrNothing = linkledger_aws::SdkConfig;
#[cfg(not(feature = "aws"))]
type SdkOrNothing = ();

impl Backends {
    /// The backends `backend` names; on AWS with the SDK's whole default credential chain
    /// (profiles, SSO, ...: the local binary on a developer's machine).
    pub async fn connect(backend: &Backend) -> Result<Self, ConfigError> {
        #[cfg(feature = "aws")]
        return Self::connect_with(backend, linkledger_aws::sdk_config).await;
        #[cfg(not(feature = "aws"))]
        return Self::connect_with(backend, || async {}).await;
    }

    /// The backends of a Lambda function: on AWS with what the Lambda runtime puts in the
    /// environment only ([`linkledger_aws::lambda_sdk_config`]), so the default chain's
    /// providers are not linked into the function.
    #[cfg(feature = "aws")]
    pub async fn connect_on_lambda(backend: &Backend) -> Result<Self, ConfigError> {
        Self::connect_with(backend, linkledger_aws::lambda_sdk_config).await
    }

    async fn connect_with<F, Fut>(backend: &Backend, load_sdk: F) -> Result<Self, ConfigError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = SdkOrNothing>,
    {
        #[cfg(not(feature = "aws"))]
        let _ = load_sdk;
        match backend {
            #[cfg(not(feature = "sqlite"))]
            Backend::Sqlite { .. } => Err(ConfigError::NotBuilt("sqlite")),
            #[cfg(not(feature = "aws"))]
            Backend::Aws { .. } => Err(ConfigError::NotBuilt("aws")),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite { path } => {
                let db = SqliteDb::open(path)?;
                let table: Arc<dyn Table> = Arc::new(db.table());
                let conversions: Arc<dyn Queue> = Arc::new(db.queue("conversions"));
                let finance: Arc<dyn Queue> = Arc::new(db.queue("finance"));
                Ok(Self {
                    store: Store::new(table.clone()),
                    table,
                    conversions: Some(conversions),
                    settlement: None,
                    finance: Some(finance),
                    sqlite: Some(db),
                })
            }
            #[cfg(feature = "aws")]
            Backend::Aws {
                table,
                conversions_queue_url,
                conversions_dlq_url,
                settlement_queue_url,
                settlement_dlq_url,
                finance_queue_url,
            } => {
                let sdk = load_sdk().await;
                let table: Arc<dyn Table> = Arc::new(DynamoTable::new(
                    aws_sdk_dynamodb::Client::new(&sdk),
                    table.clone(),
                ));
                let sqs = aws_sdk_sqs::Client::new(&sdk);
                let queue = |url: &Option<String>, dlq: &Option<String>| match (url, dlq) {
                    (Some(url), Some(dlq)) => Some(Arc::new(SqsQueue::new(
                        sqs.clone(),
                        url.clone(),
                        dlq.clone(),
                    )) as Arc<dyn Queue>),
                    _ => None,
                };
                Ok(Self {
                    store: Store::new(table.clone()),
                    table,
                    conversions: queue(conversions_queue_url, conversions_dlq_url),
                    settlement: queue(settlement_queue_url, settlement_dlq_url),
                    // Finance consumes this queue; we only send to it (no dead-letter side).
                    finance: queue(finance_queue_url, finance_queue_url),
                    #[cfg(feature = "sqlite")]
                    sqlite: None,
                })
            }
        }
    }
}
