//! The backends the contract tests run against: SQLite on a fresh temporary file, and
//! DynamoDB/SQS on the endpoint named by `AWS_ENDPOINT_URL` (moto_server in CI).
//!
//! Without `AWS_ENDPOINT_URL` the AWS variants are skipped with a note, except when
//! `CI=true`: then they fail, so that CI cannot silently stop testing the AWS adapters.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use linkledger_aws::{self as aws, DynamoTable, SqsQueue};
use linkledger_sqlite::SqliteDb;
use linkledger_store::ports::{Queue, Table};

/// A name no other test (in this or a concurrent run) uses: letters, digits and `-` only,
/// which both DynamoDB table names and SQS queue names accept.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos & 0xffff_ffff_ffff,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A SQLite file under the system temp dir, removed (with its WAL files) on drop.
#[derive(Debug)]
pub struct TempDbFile {
    path: PathBuf,
}

impl TempDbFile {
    pub fn new(tag: &str) -> Self {
        Self {
            path: std::env::temp_dir().join(format!("{}.db", unique_name(tag))),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDbFile {
    fn drop(&mut self) {
        for suffix in [
            "",
            "-wal",
            "-shm",
            "-journal",
            "-index",
            "-index-wal",
            "-index-shm",
        ] {
            let mut path = self.path.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A backend handle plus whatever must live as long as it (the temp file).
pub struct Backend<T: ?Sized> {
    pub handle: Arc<T>,
    _file: Option<TempDbFile>,
}

impl<T: ?Sized> Backend<T> {
    pub fn handle(&self) -> Arc<T> {
        Arc::clone(&self.handle)
    }
}

pub fn sqlite_db(tag: &str) -> (SqliteDb, TempDbFile) {
    let file = TempDbFile::new(tag);
    let db = SqliteDb::open(file.path()).expect("open a SQLite database in the temp dir");
    (db, file)
}

pub fn sqlite_table() -> Backend<dyn Table> {
    let (db, file) = sqlite_db("table-contract");
    Backend {
        handle: Arc::new(db.table()),
        _file: Some(file),
    }
}

pub fn sqlite_queue() -> Backend<dyn Queue> {
    let (db, file) = sqlite_db("queue-contract");
    Backend {
        handle: Arc::new(db.queue("contract")),
        _file: Some(file),
    }
}

/// Whether the AWS variants run. Panics when `CI=true` and no endpoint is configured.
pub fn aws_enabled() -> bool {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.trim().is_empty() => true,
        _ => {
            if std::env::var("CI").is_ok_and(|ci| ci == "true") {
                panic!(
                    "CI=true but AWS_ENDPOINT_URL is not set: the AWS contract tests must run \
                     against moto_server in CI (export AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, \
                     AWS_SECRET_ACCESS_KEY and AWS_REGION)"
                );
            }
            eprintln!("note: AWS_ENDPOINT_URL is not set, skipping the AWS variant of this test");
            false
        }
    }
}

/// A [`DynamoTable`] on a freshly created, uniquely named table; `None` when skipped.
pub async fn aws_table() -> Option<DynamoTable> {
    if !aws_enabled() {
        return None;
    }
    let client = aws_sdk_dynamodb::Client::new(&aws::lambda_sdk_config().await);
    let name = unique_name("contract");
    aws::create_table(&client, &name)
        .await
        .expect("create the DynamoDB table");
    Some(DynamoTable::new(client, name))
}

/// A fresh table whose stream is on (keys only, as deployed), and its stream; `None` when
/// skipped. (Only the stats tests turn a stream on: the emulator's transactions slow down with
/// one.)
pub async fn aws_table_with_stream(
) -> Option<(Backend<dyn Table>, linkledger_aws::stream::TableStream)> {
    if !aws_enabled() {
        return None;
    }
    let config = aws::lambda_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = unique_name("stats");
    aws::create_table(&client, &name)
        .await
        .expect("create the DynamoDB table");
    let stream = linkledger_aws::stream::TableStream::enable(
        &client,
        aws_sdk_dynamodbstreams::Client::new(&config),
        &name,
    )
    .await
    .expect("turn the table's stream on");
    let table = Backend {
        handle: Arc::new(DynamoTable::new(client, name)) as Arc<dyn Table>,
        _file: None,
    };
    Some((table, stream))
}

/// An [`SqsQueue`] on a freshly created, uniquely named queue pair; `None` when skipped.
pub async fn aws_queue() -> Option<SqsQueue> {
    if !aws_enabled() {
        return None;
    }
    let client = aws_sdk_sqs::Client::new(&aws::lambda_sdk_config().await);
    let name = unique_name("contract");
    let (url, dlq_url) = aws::create_queue_pair(&client, &name)
        .await
        .expect("create the SQS queue pair");
    Some(SqsQueue::new(client, url, dlq_url))
}

pub async fn aws_table_backend() -> Option<Backend<dyn Table>> {
    let table = aws_table().await?;
    Some(Backend {
        handle: Arc::new(table),
        _file: None,
    })
}

pub async fn aws_queue_backend() -> Option<Backend<dyn Queue>> {
    let queue = aws_queue().await?;
    Some(Backend {
        handle: Arc::new(queue),
        _file: None,
    })
}

/// A table and the conversions queue on one SQLite file, as `linkledger serve` runs them.
pub fn sqlite_app_backend() -> (Backend<dyn Table>, Arc<dyn Queue>) {
    let (table, queue, _) = sqlite_app_backend_and_db();
    (table, queue)
}

/// [`sqlite_app_backend`] and its database handle (for its change feed).
pub fn sqlite_app_backend_and_db() -> (Backend<dyn Table>, Arc<dyn Queue>, SqliteDb) {
    let (db, file) = sqlite_db("app");
    let queue: Arc<dyn Queue> = Arc::new(db.queue("conversions"));
    (
        Backend {
            handle: Arc::new(db.table()),
            _file: Some(file),
        },
        queue,
        db,
    )
}

/// A copy of the SQLite database `fixture` (left untouched), opened by today's adapter, and its
/// conversions queue.
pub fn sqlite_app_backend_copy_of(fixture: &Path) -> (Backend<dyn Table>, Arc<dyn Queue>) {
    let file = TempDbFile::new("fixture");
    std::fs::copy(fixture, file.path()).expect("copy the fixture database");
    let db = SqliteDb::open(file.path()).expect("today's adapter opens the fixture database");
    let queue: Arc<dyn Queue> = Arc::new(db.queue("conversions"));
    (
        Backend {
            handle: Arc::new(db.table()),
            _file: Some(file),
        },
        queue,
    )
}

/// A fresh DynamoDB table and SQS queue pair on the emulator; `None` when skipped.
pub async fn aws_app_backend() -> Option<(Backend<dyn Table>, Arc<dyn Queue>)> {
    let table = aws_table_backend().await?;
    let queue: Arc<dyn Queue> = Arc::new(aws_queue().await?);
    Some((table, queue))
}
