//! Ports: the traits the domain talks to. Adapters live in [`linkledger_sqlite`].
pub mod backend;
pub mod queue;
pub mod table;

pub use backend::{BackendError, ErrorChain};
pub use queue::{Message, Queue, QueueError, MAX_RECEIVES};
pub use table::{
    Condition, Created, Index, IndexKey, Item, Key, OpCounts, Page, Query, SkRange, StoreError,
    Table, WriteOp,
};
