//! Reading a table's DynamoDB stream, for tests and tools (feature `streams`): on AWS the
//! `stats` function gets the stream's records from its event source mapping instead. Each read
//! opens fresh shard iterators after the last sequence number it returned (iterators expire, and
//! the emulator's go stale after a cancelled transaction).

use std::collections::HashMap;
use std::sync::Mutex;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use aws_sdk_dynamodbstreams::types::{AttributeValue, ShardIteratorType};

use linkledger_store::ports::{BackendError, StoreError};

/// One record of the stream: which item changed, how, and where in its shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    pub event_id: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub sequence_number: String,
    pub pk: String,
    pub sk: String,
}

pub struct TableStream {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// The last sequence number read, per shard.
    after: Mutex<HashMap<String, String>>,
}

fn failed(operation: &str, err: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Unavailable(BackendError::new(operation.to_string(), err))
}

impl TableStream {
    /// Turns on the table's stream (keys only, as `template.yaml` declares it) and follows it
    /// from its start.
    pub async fn enable(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: aws_sdk_dynamodbstreams::Client,
        table: &str,
    ) -> Result<Self, StoreError> {
        let spec = StreamSpecification::builder()
            .stream_enabled(true)
            .stream_view_type(StreamViewType::KeysOnly)
            .build()
            .map_err(|e| StoreError::Invalid(format!("stream specification: {e}")))?;
        dynamodb
            .update_table()
            .table_name(table)
            .stream_specification(spec)
            .send()
            .await
            .map_err(|e| failed("UpdateTable (stream)", e))?;
        let described = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| failed("DescribeTable", e))?;
        let arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| StoreError::Invalid(format!("table {table} has no stream")))?
            .to_string();
        Ok(Self {
            client,
            arn,
            after: Mutex::new(HashMap::new()),
        })
    }

    /// Reads the stream from its start again (as Lambda redelivers a batch it retries).
    pub fn rewind(&self) {
        if let Ok(mut after) = self.after.lock() {
            after.clear();
        }
    }

    /// Every record written since the last read, shard by shard, in each shard's order.
    pub async fn read(&self) -> Result<Vec<StreamRecord>, StoreError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .map_err(|e| failed("DescribeStream", e))?;
        let shards: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for shard in shards {
            let after = self.after.lock().ok().and_then(|a| a.get(&shard).cloned());
            let request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&shard);
            let request = match &after {
                Some(seq) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(seq),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = request
                .send()
                .await
                .map_err(|e| failed("GetShardIterator", e))?
                .shard_iterator()
                .map(str::to_string);
            while let Some(current) = iterator.take() {
                let page = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .limit(1000)
                    .send()
                    .await
                    .map_err(|e| failed("GetRecords", e))?;
                let records = page.records();
                for record in records {
                    let Some(change) = record.dynamodb() else {
                        continue;
                    };
                    let text = |name: &str| match change.keys().and_then(|k| k.get(name)) {
                        Some(AttributeValue::S(s)) => s.clone(),
                        _ => String::new(),
                    };
                    let sequence = change.sequence_number().unwrap_or_default().to_string();
                    out.push(StreamRecord {
                        event_id: record.event_id().unwrap_or_default().to_string(),
                        event_name: record
                            .event_name()
                            .map(|n| n.as_str().to_string())
                            .unwrap_or_default(),
                        sequence_number: sequence.clone(),
                        pk: text("pk"),
                        sk: text("sk"),
                    });
                    if let Ok(mut after) = self.after.lock() {
                        after.insert(shard.clone(), sequence);
                    }
                }
                if records.is_empty() {
                    break;
                }
                iterator = page.next_shard_iterator().map(str::to_string);
            }
        }
        Ok(out)
    }
}
