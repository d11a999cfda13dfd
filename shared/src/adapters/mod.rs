//! Adapters: the SQLite (local default) and AWS (DynamoDB + SQS) implementations of the ports.
pub mod aws;
pub mod sqlite;
