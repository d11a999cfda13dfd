//! `TestApp`: the real composed application (the router `linkledger serve` runs) on a fresh
//! backend, driven through HTTP with `tower::ServiceExt::oneshot`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

use linkledger_api::{issue_key, NewApiKey};
use linkledger_core::api_key::Role;
use linkledger_core::audit::Actor;
use linkledger_core::click::VisitorKey;
use linkledger_core::clock::ShiftedClock;
use linkledger_store::ports::Table;
use linkledger_store::Store;

use linkledger_core::conversion::Platform;
use linkledger_store::ports::Queue;
use linkledger_worker::{ConsumerOptions, Drained};

use crate::backends::{
    aws_app_backend, aws_queue_backend, sqlite_app_backend_and_db, sqlite_queue, Backend,
};
use linkledger_sqlite::SqliteDb;
use linkledger_store::stats::{Guard, RollUp, Rolled};

pub struct TestApp {
    pub router: Router,
    pub store: Store,
    pub table: Arc<dyn Table>,
    /// The conversions queue the webhooks fill and [`TestApp::drain`] empties.
    pub queue: Arc<dyn Queue>,
    /// Whether this app runs on DynamoDB/SQS (else SQLite).
    pub aws: bool,
    /// An admin key minted the way `linkledger keys create --role admin` does.
    pub admin: String,
    /// The clock every part of this app reads: tests skip ahead on it instead of sleeping.
    pub clock: Arc<ShiftedClock>,
    /// The change feed the stats roll-up follows (SQLite's; `None` where the backend's feed is
    /// a stream the test does not read).
    pub feed: Option<SqliteDb>,
    roll_up: RollUp,
    /// On DynamoDB: the table's stream, read and handed to the `stats` function's handler as
    /// its event source would.
    stream: Option<(
        linkledger_aws::stream::TableStream,
        linkledger_stats::Handler,
    )>,
    _backend: Backend<dyn Table>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The error code of a `{"error":{"code","message"}}` body.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn sqlite() -> TestApp {
        let (table, queue, db) = sqlite_app_backend_and_db();
        let mut app = Self::on(table, queue).await;
        linkledger_wiring::stats::register(&app.store, &db)
            .await
            .expect("the feed takes its reader");
        app.feed = Some(db);
        app
    }

    /// A fresh queue on the same kind of backend (a finance or settlement queue in tests).
    pub async fn another_queue(&self) -> Backend<dyn Queue> {
        if self.aws {
            aws_queue_backend()
                .await
                .expect("an SQS queue on the emulator")
        } else {
            sqlite_queue()
        }
    }

    /// `None` when AWS tests are skipped (never under `CI=true`).
    pub async fn aws() -> Option<TestApp> {
        let (table, queue) = aws_app_backend().await?;
        let mut app = Self::on(table, queue).await;
        app.aws = true;
        Some(app)
    }

    /// The app on a given table and conversions queue.
    pub async fn on(backend: Backend<dyn Table>, queue: Arc<dyn Queue>) -> TestApp {
        let table = backend.handle();
        let clock = Arc::new(ShiftedClock::new());
        let store = Store::new(table.clone()).with_clock(clock.clone());
        let router = linkledger::app(
            store.clone(),
            queue.clone(),
            None,
            VisitorKey::new(b"test-secret"),
            Duration::from_secs(30),
        );
        let admin = issue_key(
            &store,
            NewApiKey {
                role: Role::Admin,
                creator_id: None,
                label: None,
            },
            &Actor::operator("test"),
        )
        .await
        .expect("mint an admin key")
        .key;
        TestApp {
            router,
            store,
            table,
            queue,
            aws: false,
            admin,
            clock,
            feed: None,
            roll_up: RollUp::new(Guard::Cursor),
            stream: None,
            _backend: backend,
        }
    }

    /// The app on DynamoDB/SQS with the table's stream on (for the stats); `None` when AWS
    /// tests are skipped (never under `CI=true`).
    pub async fn aws_with_stream() -> Option<TestApp> {
        let (backend, stream) = crate::backends::aws_table_with_stream().await?;
        let queue: Arc<dyn Queue> = Arc::new(crate::backends::aws_queue().await?);
        let mut app = Self::on(backend, queue).await;
        app.aws = true;
        let handler = linkledger_stats::Handler::new(app.store.clone());
        app.stream = Some((stream, handler));
        Some(app)
    }

    /// On DynamoDB: the next [`TestApp::roll_up`] gets every stream record again (a retried
    /// batch); `false` on SQLite, whose feed is read once.
    pub fn redeliver_stream(&self) -> bool {
        match &self.stream {
            Some((stream, _)) => {
                stream.rewind();
                true
            }
            None => false,
        }
    }

    /// Counts what the change feed holds: on SQLite as `linkledger serve`'s roll-up does every
    /// 250 ms; on DynamoDB by reading the table's stream and handing its records, as a Lambda
    /// event, to the `stats` function's handler (which must report no failure).
    pub async fn roll_up(&self) -> Rolled {
        if let Some((stream, handler)) = &self.stream {
            let records = stream.read().await.expect("the stream answers");
            let event = stream_event(&records);
            let (response, rolled) = linkledger_stats::roll_up(handler, &event).await;
            assert!(
                response.batch_item_failures.is_empty(),
                "the stats handler failed records"
            );
            return rolled;
        }
        let db = self
            .feed
            .as_ref()
            .expect("this backend's change feed is followed");
        linkledger_wiring::stats::roll_up_pending(&self.store, db, &self.roll_up)
            .await
            .expect("the roll-up counts the feed")
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("the router never fails");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("read the body");
        let json = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            json,
        }
    }

    /// A JSON API call; `key` goes in as a bearer token.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut builder = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            builder = builder.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(builder.body(body).expect("a valid request"))
            .await
    }

    pub async fn get(&self, path: &str, key: &str) -> Reply {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    /// A shopper's tap on a link.
    pub async fn visit(&self, path_and_query: &str, ip: &str, user_agent: &str) -> Reply {
        self.send(
            Request::get(path_and_query)
                .header("x-forwarded-for", ip)
                .header("user-agent", user_agent)
                .body(Body::empty())
                .expect("a valid request"),
        )
        .await
    }

    /// A program on `brand.com` (USD, 10 %), created through the API; returns its id.
    pub async fn program(&self) -> String {
        let reply = self
            .post(
                "/api/programs",
                &self.admin,
                json!({
                    "name": "Glow Serum",
                    "currency": "USD",
                    "allowed_domains": ["brand.com"],
                    "plan": {"sale": {"rate_bps": 1000}}
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        reply.json["id"].as_str().expect("program id").to_string()
    }

    /// A creator enrolled in `program`, with a creator key of its own: (creator id, key).
    pub async fn creator(&self, program: &str, name: &str) -> (String, String) {
        let reply = self
            .post(
                "/api/creators",
                &self.admin,
                json!({"name": name, "payout_email": format!("{name}@example.com")}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        let id = reply.json["id"].as_str().expect("creator id").to_string();
        let reply = self
            .post(
                &format!("/api/programs/{program}/enrolments"),
                &self.admin,
                json!({"creator_id": id}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        let reply = self
            .post(
                "/api/keys",
                &self.admin,
                json!({"role": "creator", "creator_id": id}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
        (id, reply.json["key"].as_str().expect("key").to_string())
    }

    /// A link with a chosen code; returns the reply.
    pub async fn link(&self, program: &str, creator: &str, code: &str, destination: &str) -> Reply {
        self.post(
            "/api/links",
            &self.admin,
            json!({"program_id": program, "creator_id": creator, "code": code, "destination": destination}),
        )
        .await
    }

    /// A promo code `code` of `creator` in `program`, created through the API (must answer 201).
    pub async fn promo_code(&self, program: &str, code: &str, creator: &str) {
        let reply = self
            .post(
                &format!("/api/programs/{program}/promo-codes"),
                &self.admin,
                json!({"code": code, "creator_id": creator}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.json);
    }

    /// Every item of a listing, page by page: `path` must already carry a query (`?limit=..`);
    /// each page must answer 200, and the cursor is followed until the last page.
    pub async fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..1000 {
            let page_path = match &cursor {
                Some(c) => format!("{path}&cursor={c}"),
                None => path.to_string(),
            };
            let page = self.get(&page_path, &self.admin).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.json);
            items.extend(page.json["items"].as_array().cloned().unwrap_or_default());
            match page.json["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return items,
            }
        }
        panic!("the cursor of {path} never reaches a last page");
    }

    /// Runs the worker until the queue has nothing visible (retries come back after 1 s).
    pub async fn drain(&self) -> Drained {
        let options = ConsumerOptions {
            retry_delay: Duration::from_secs(1),
            ..ConsumerOptions::default()
        };
        linkledger_worker::drain(&self.store, self.queue.as_ref(), &options)
            .await
            .expect("the queue answers")
    }

    /// Drains until `done` holds or `seconds` pass, the way a queue keeps redelivering.
    pub async fn drain_until(&self, seconds: u64, done: impl Fn(&Drained) -> bool) -> Drained {
        let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let drained = self.drain().await;
            if done(&drained) || std::time::Instant::now() > deadline {
                return drained;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Sets a program's signing secret for `platform` through the API; returns it.
    pub async fn webhook_secret(
        &self,
        program: &str,
        platform: Platform,
        secret: Option<&str>,
    ) -> String {
        let reply = self
            .call(
                Method::PUT,
                &format!(
                    "/api/programs/{program}/webhook-secrets/{}",
                    platform.as_str()
                ),
                Some(&self.admin),
                Some(match secret {
                    Some(s) => json!({ "secret": s }),
                    None => json!({}),
                }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        reply.json["secret"].as_str().expect("secret").to_string()
    }

    /// POSTs a raw body with headers (a platform's webhook).
    pub async fn deliver(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> Reply {
        let mut builder = Request::builder().method(Method::POST).uri(path);
        for (name, value) in headers {
            builder = builder.header(*name, value);
        }
        self.send(
            builder
                .body(Body::from(body.to_vec()))
                .expect("a valid request"),
        )
        .await
    }

    pub async fn clicks(&self, code: &str) -> Vec<Value> {
        let reply = self
            .get(&format!("/api/links/{code}/clicks"), &self.admin)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.json);
        reply.json["items"].as_array().cloned().unwrap_or_default()
    }
}

/// Runs plain `async fn name(app: TestApp)` tests against SQLite and against DynamoDB on the
/// emulator: `on_both_backends!(name);` after the function (or several names at once) makes
/// the tests `name::sqlite` and `name::dynamodb`. The bodies are ordinary functions, so rustfmt
/// formats them.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    super::$name($crate::app::TestApp::sqlite().await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn dynamodb() {
                    if let Some(app) = $crate::app::TestApp::aws().await {
                        super::$name(app).await;
                    }
                }
            }
        )+
    };
}

/// Stream records as the Lambda event source delivers them (the documented JSON of a DynamoDB
/// stream event, keys only).
pub fn stream_event(
    records: &[linkledger_aws::stream::StreamRecord],
) -> aws_lambda_events::dynamodb::Event {
    let records: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "eventID": r.event_id,
                "eventName": r.event_name,
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/linkledger/stream/2026-12-01T00:00:00.000",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1796316632.0,
                    "Keys": {"pk": {"S": r.pk}, "sk": {"S": r.sk}},
                    "SequenceNumber": r.sequence_number,
                    "SizeBytes": 64,
                    "StreamViewType": "KEYS_ONLY"
                }
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}
