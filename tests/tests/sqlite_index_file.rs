//! The SQLite adapter keeps its secondary indexes in a derived file (`<db>-index`) written
//! without fsync. Losing it loses nothing: the next open rebuilds it from the items.

use std::time::Duration;

use linkledger_sqlite::{index_path, SqliteDb};
use linkledger_store::ports::{Condition, Index, IndexKey, Item, Key, Query, SkRange, Table};
use linkledger_tests::backends::TempDbFile;

fn indexed(pk: &str, ipk: &str) -> Item {
    Item::new(Key::new(pk, "x"), "{}".into())
        .with_gsi1(IndexKey::new(ipk, pk))
        .with_gsi2(IndexKey::new("all", pk))
}

async fn count(table: &impl Table, index: Index, pk: &str) -> usize {
    table
        .query(&Query::new(index, pk, SkRange::All).limit(100))
        .await
        .unwrap()
        .items
        .len()
}

#[tokio::test]
async fn a_lost_index_file_is_rebuilt_from_the_items() {
    let file = TempDbFile::new("index-rebuild");
    {
        let db = SqliteDb::open(file.path()).unwrap();
        let table = db.table();
        for i in 0..5 {
            table
                .put(indexed(&format!("item-{i}"), "group-a"), Condition::None)
                .await
                .unwrap();
        }
        assert_eq!(count(&table, Index::Gsi1, "group-a").await, 5);
        // one more, still in the backlog when the process goes away
        table
            .put(indexed("item-5", "group-a"), Condition::None)
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the writer thread finishes
    for suffix in ["", "-wal", "-shm"] {
        let mut path = index_path(file.path()).into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }

    let db = SqliteDb::open(file.path()).unwrap();
    let table = db.table();
    assert_eq!(
        count(&table, Index::Gsi1, "group-a").await,
        6,
        "rebuilt from the items"
    );
    assert_eq!(count(&table, Index::Gsi2, "all").await, 6);
}
