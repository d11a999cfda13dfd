//! The storage port's contract, run against every adapter: SQLite always, DynamoDB when
//! `AWS_ENDPOINT_URL` points at moto_server (see `linkledger_tests::backends`).
//!
//! Each scenario is written once against `Arc<dyn Table>`; the `contract!` macro below
//! instantiates it as `sqlite::<name>` and `aws::<name>`.

use std::collections::HashSet;
use std::sync::Arc;

use linkledger_store::ports::table::now_unix;
use linkledger_store::ports::{
    Condition, Created, Index, IndexKey, Item, Key, Query, SkRange, StoreError, Table, WriteOp,
};

type Store = Arc<dyn Table>;

fn item(pk: &str, sk: &str, body: &str) -> Item {
    Item::new(Key::new(pk, sk), body.to_owned())
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

/// Every page of `query`, following cursors (bounded, so a cursor bug cannot loop forever).
async fn all_pages(table: &Store, query: Query) -> Vec<Vec<Item>> {
    let mut pages = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = table
            .query(&query.clone().after(after))
            .await
            .expect("query a page");
        assert!(
            page.items.len() <= query.limit,
            "a page holds at most `limit` items: {} > {}",
            page.items.len(),
            query.limit
        );
        pages.push(page.items);
        match page.next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
    panic!("more than 100 pages: the cursor does not advance");
}

async fn get_of_absent_item_is_none(table: Store) {
    assert_eq!(
        table.get(&Key::new("nobody", "nothing")).await.unwrap(),
        None
    );
    table
        .put(item("somebody", "a", "{}"), Condition::None)
        .await
        .unwrap();
    assert_eq!(table.get(&Key::new("somebody", "b")).await.unwrap(), None);
    assert_eq!(
        table.get(&Key::new("somebodyelse", "a")).await.unwrap(),
        None
    );
}

async fn put_get_roundtrips_every_field(table: Store) {
    let full = item(
        "link#ü1",
        "meta#v1",
        r#"{"name":"Zoë 🚀 — 日本語","n":1.5,"q":"\"'\\"}"#,
    )
    .with_gsi1(IndexKey::new("program#p1", "2024-01-02T03:04:05Z#é"))
    .with_gsi2(IndexKey::new("influencer#i1", "link#ü1"))
    .expiring_at(now_unix() + 3600)
    .with_version(7);
    table.put(full.clone(), Condition::None).await.unwrap();
    assert_eq!(table.get(&full.key).await.unwrap(), Some(full.clone()));

    let bare = item("link#2", "meta", "");
    table.put(bare.clone(), Condition::None).await.unwrap();
    assert_eq!(table.get(&bare.key).await.unwrap(), Some(bare));

    // A put replaces the whole item: fields absent from the new one are gone.
    let replaced = item("link#ü1", "meta#v1", "{}").with_version(8);
    table.put(replaced.clone(), Condition::None).await.unwrap();
    assert_eq!(table.get(&full.key).await.unwrap(), Some(replaced));
    let by_gsi1 = table
        .query(&Query::new(Index::Gsi1, "program#p1", SkRange::All))
        .await
        .unwrap();
    assert!(
        by_gsi1.items.is_empty(),
        "the replaced item left gsi1: {by_gsi1:?}"
    );
}

async fn create_if_absent_then_already_exists(table: Store) {
    let first = item("code#abc", "meta", "first");
    assert_eq!(table.create(first.clone()).await.unwrap(), Created::Created);
    assert_eq!(
        table
            .create(item("code#abc", "meta", "second"))
            .await
            .unwrap(),
        Created::AlreadyExists
    );
    assert_eq!(table.get(&first.key).await.unwrap(), Some(first));
    // Same partition, other sort key: independent.
    assert_eq!(
        table.create(item("code#abc", "other", "x")).await.unwrap(),
        Created::Created
    );
}

async fn concurrent_creates_have_exactly_one_winner(table: Store) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let table = Arc::clone(&table);
        tasks.spawn(async move {
            let outcome = table
                .create(item("code#race", "meta", &format!("writer {i}")))
                .await;
            (i, outcome)
        });
    }
    let mut winners = Vec::new();
    let mut losers = 0;
    while let Some(joined) = tasks.join_next().await {
        let (i, outcome) = joined.expect("task panicked");
        match outcome.expect("create must not fail") {
            Created::Created => winners.push(i),
            Created::AlreadyExists => losers += 1,
        }
    }
    assert_eq!(winners.len(), 1, "exactly one create wins, got {winners:?}");
    assert_eq!(losers, 49);
    let stored = table
        .get(&Key::new("code#race", "meta"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.body, format!("writer {}", winners[0]));
}

async fn version_conditions(table: Store) {
    let key = Key::new("account#1", "balance");
    let v1 = Item::new(key.clone(), "v1".into()).with_version(1);

    // On an absent item, Exists and VersionIs fail; NotExists holds.
    for condition in [Condition::Exists, Condition::VersionIs(1)] {
        let err = table.put(v1.clone(), condition).await.unwrap_err();
        assert!(
            matches!(err, StoreError::ConditionFailed { index: 0 }),
            "{condition:?}: {err:?}"
        );
    }
    table.put(v1.clone(), Condition::NotExists).await.unwrap();
    table.put(v1.clone(), Condition::Exists).await.unwrap();

    let v2 = Item::new(key.clone(), "v2".into()).with_version(2);
    let err = table
        .put(v2.clone(), Condition::VersionIs(2))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    let err = table
        .put(v2.clone(), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    assert_eq!(table.get(&key).await.unwrap(), Some(v1));

    table
        .put(v2.clone(), Condition::VersionIs(1))
        .await
        .unwrap();
    assert_eq!(table.get(&key).await.unwrap(), Some(v2));

    // Concurrent read-modify-write from version 2: exactly one update wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10 {
        let (table, key) = (Arc::clone(&table), key.clone());
        tasks.spawn(async move {
            let next = Item::new(key, format!("v3 by {i}")).with_version(3);
            (i, table.put(next, Condition::VersionIs(2)).await)
        });
    }
    let mut winners = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (i, outcome) = joined.expect("task panicked");
        match outcome {
            Ok(()) => winners.push(i),
            Err(StoreError::ConditionFailed { index: 0 }) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one versioned update wins, got {winners:?}"
    );
    let stored = table.get(&key).await.unwrap().unwrap();
    assert_eq!(
        (stored.version, stored.body),
        (3, format!("v3 by {}", winners[0]))
    );
}

async fn transact_is_all_or_nothing(table: Store) {
    let guard = item("program#1", "meta", "guard").with_version(4);
    table.put(guard.clone(), Condition::None).await.unwrap();

    let ops = |guard_condition: Condition| {
        vec![
            WriteOp::Put {
                item: item("program#1", "click#1", "c1"),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: item("program#1", "click#2", "c2"),
                condition: Condition::None,
            },
            WriteOp::Check {
                key: guard.key.clone(),
                condition: guard_condition,
            },
            WriteOp::Put {
                item: item("program#1", "click#3", "c3"),
                condition: Condition::None,
            },
        ]
    };
    for failing in [Condition::NotExists, Condition::VersionIs(5)] {
        let err = table.transact(ops(failing)).await.unwrap_err();
        assert!(
            matches!(err, StoreError::ConditionFailed { index: 2 }),
            "{failing:?}: {err:?}"
        );
        for sk in ["click#1", "click#2", "click#3"] {
            assert_eq!(
                table.get(&Key::new("program#1", sk)).await.unwrap(),
                None,
                "{sk} was written"
            );
        }
    }

    // The first failing write is named, here index 0.
    table
        .put(item("program#1", "click#0", "c0"), Condition::None)
        .await
        .unwrap();
    let err = table
        .transact(vec![
            WriteOp::Put {
                item: item("program#1", "click#0", "again"),
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                item: item("program#1", "click#9", "c9"),
                condition: Condition::None,
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    assert_eq!(
        table.get(&Key::new("program#1", "click#9")).await.unwrap(),
        None
    );

    for passing in [Condition::Exists, Condition::VersionIs(4), Condition::None] {
        let mut ops = ops(passing);
        for op in &mut ops {
            if let WriteOp::Put { condition, .. } = op {
                *condition = Condition::None;
            }
        }
        table.transact(ops).await.unwrap();
    }
    let stored = table
        .query(&Query::prefix(Index::Primary, "program#1", "click#"))
        .await
        .unwrap();
    assert_eq!(
        sks(&stored.items),
        ["click#0", "click#1", "click#2", "click#3"]
    );
    assert_eq!(
        table.get(&guard.key).await.unwrap(),
        Some(guard),
        "a Check writes nothing"
    );
}

async fn transact_with_delete(table: Store) {
    let x = item("cart#1", "x", "x").with_version(2);
    let y = item("cart#1", "y", "y");
    table.put(x.clone(), Condition::None).await.unwrap();
    table.put(y.clone(), Condition::None).await.unwrap();

    // A failed delete condition undoes the whole transaction.
    let err = table
        .transact(vec![
            WriteOp::Put {
                item: item("cart#1", "z", "z"),
                condition: Condition::NotExists,
            },
            WriteOp::Delete {
                key: x.key.clone(),
                condition: Condition::VersionIs(1),
            },
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 1 }),
        "{err:?}"
    );
    assert_eq!(table.get(&x.key).await.unwrap(), Some(x.clone()));
    assert_eq!(table.get(&Key::new("cart#1", "z")).await.unwrap(), None);

    table
        .transact(vec![
            WriteOp::Delete {
                key: x.key.clone(),
                condition: Condition::VersionIs(2),
            },
            WriteOp::Delete {
                key: y.key.clone(),
                condition: Condition::Exists,
            },
            WriteOp::Delete {
                key: Key::new("cart#1", "never"),
                condition: Condition::None,
            },
            WriteOp::Put {
                item: item("cart#1", "z", "z"),
                condition: Condition::NotExists,
            },
        ])
        .await
        .unwrap();
    assert_eq!(table.get(&x.key).await.unwrap(), None);
    assert_eq!(table.get(&y.key).await.unwrap(), None);
    assert_eq!(
        table.get(&Key::new("cart#1", "z")).await.unwrap(),
        Some(item("cart#1", "z", "z"))
    );

    // Deleting an absent item on condition Exists fails.
    let err = table
        .transact(vec![WriteOp::Delete {
            key: x.key.clone(),
            condition: Condition::Exists,
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
}

async fn transact_rejects_invalid_batches(table: Store) {
    let err = table.transact(Vec::new()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    let twice = vec![
        WriteOp::Put {
            item: item("a", "b", "1"),
            condition: Condition::None,
        },
        WriteOp::Check {
            key: Key::new("a", "b"),
            condition: Condition::None,
        },
    ];
    let err = table.transact(twice).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(table.get(&Key::new("a", "b")).await.unwrap(), None);
}

/// A transaction of as many writes as the table says it takes commits whole, one more is
/// refused; every table takes DynamoDB's 100.
async fn transact_takes_as_many_writes_as_the_table_says(table: Store) {
    let max = table.max_transaction_writes();
    assert!(max >= 100, "{max}");
    let puts = |n: usize| -> Vec<WriteOp> {
        (0..n)
            .map(|i| WriteOp::Put {
                item: item("many", &format!("{i:05}"), "1"),
                condition: Condition::None,
            })
            .collect()
    };
    let err = table.transact(puts(max + 1)).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(table.get(&Key::new("many", "00000")).await.unwrap(), None);
    table.transact(puts(max)).await.unwrap();
    let last = format!("{:05}", max - 1);
    assert!(table.get(&Key::new("many", &last)).await.unwrap().is_some());
}

/// Items of partition `shop#1`: sort keys `a#1..a#5` and `b#1..b#3`; gsi1 on every item
/// (by date, in reverse of the sort key), gsi2 on the `b#` items only.
async fn seed_query_items(table: &Store) {
    let sort_keys = ["a#1", "a#2", "a#3", "a#4", "a#5", "b#1", "b#2", "b#3"];
    for (i, sk) in sort_keys.iter().enumerate() {
        let mut it = item("shop#1", sk, &format!("body {sk}"))
            .with_gsi1(IndexKey::new("day#2024", format!("t{:02}", 20 - i)));
        if sk.starts_with("b#") {
            it = it.with_gsi2(IndexKey::new("status#open", format!("o#{sk}")));
        }
        table.put(it, Condition::None).await.unwrap();
    }
    table
        .put(item("shop#2", "a#1", "other partition"), Condition::None)
        .await
        .unwrap();
}

async fn query_by_prefix_and_direction(table: Store) {
    seed_query_items(&table).await;
    let page = table
        .query(&Query::prefix(Index::Primary, "shop#1", "a#"))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["a#1", "a#2", "a#3", "a#4", "a#5"]);
    assert_eq!(page.next, None);
    assert_eq!(page.items[0], {
        item("shop#1", "a#1", "body a#1").with_gsi1(IndexKey::new("day#2024", "t20"))
    });

    let page = table
        .query(&Query::prefix(Index::Primary, "shop#1", "a#").descending())
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["a#5", "a#4", "a#3", "a#2", "a#1"]);

    let page = table
        .query(&Query::new(Index::Primary, "shop#1", SkRange::All))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 8);
    let page = table
        .query(&Query::prefix(Index::Primary, "shop#1", "c#"))
        .await
        .unwrap();
    assert!(page.items.is_empty());
    let page = table
        .query(&Query::new(Index::Primary, "shop#9", SkRange::All))
        .await
        .unwrap();
    assert!(page.items.is_empty());

    // gsi1: ordered by the index sort key (the reverse of the primary one here).
    let page = table
        .query(&Query::new(Index::Gsi1, "day#2024", SkRange::All))
        .await
        .unwrap();
    assert_eq!(
        sks(&page.items),
        ["b#3", "b#2", "b#1", "a#5", "a#4", "a#3", "a#2", "a#1"]
    );
    let page = table
        .query(&Query::prefix(Index::Gsi1, "day#2024", "t1").descending())
        .await
        .unwrap();
    assert_eq!(
        sks(&page.items),
        ["a#2", "a#3", "a#4", "a#5", "b#1", "b#2", "b#3"]
    );
    assert_eq!(page.items[0].gsi1, Some(IndexKey::new("day#2024", "t19")));

    // gsi2 holds only the items that have gsi2 keys.
    let page = table
        .query(&Query::prefix(Index::Gsi2, "status#open", "o#"))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["b#1", "b#2", "b#3"]);
    let page = table
        .query(&Query::prefix(Index::Gsi2, "status#open", "o#b#2").descending())
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["b#2"]);
    let page = table
        .query(&Query::new(Index::Gsi2, "shop#1", SkRange::All))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "gsi2 is not keyed by the primary pk");
}

async fn query_between_excludes_upper_bound(table: Store) {
    seed_query_items(&table).await;
    let between = |from: &str, to: &str| SkRange::Between {
        from: from.into(),
        to: to.into(),
    };
    let page = table
        .query(&Query::new(Index::Primary, "shop#1", between("a#2", "a#4")))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["a#2", "a#3"]);
    let page = table
        .query(&Query::new(Index::Primary, "shop#1", between("a#2", "a#4")).descending())
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["a#3", "a#2"]);
    let page = table
        .query(&Query::new(Index::Primary, "shop#1", between("a#", "b#")))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["a#1", "a#2", "a#3", "a#4", "a#5"]);
    let page = table
        .query(&Query::new(Index::Primary, "shop#1", between("a#3", "a#3")))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "an empty range: {page:?}");
    let page = table
        .query(&Query::new(Index::Primary, "shop#1", between("a#4", "a#3")))
        .await
        .unwrap();
    assert!(page.items.is_empty(), "a reversed range: {page:?}");

    // On an index the bound applies to the index sort key.
    let page = table
        .query(&Query::new(Index::Gsi1, "day#2024", between("t14", "t17")))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["b#2", "b#1", "a#5"]);
    let page = table
        .query(&Query::new(
            Index::Gsi2,
            "status#open",
            between("o#b#1", "o#b#3"),
        ))
        .await
        .unwrap();
    assert_eq!(sks(&page.items), ["b#1", "b#2"]);

    // Paging through a range stops at its exclusive end.
    let pages = all_pages(
        &table,
        Query::new(Index::Primary, "shop#1", between("a#1", "a#5")).limit(2),
    )
    .await;
    let seen: Vec<String> = pages.iter().flatten().map(|i| i.key.sk.clone()).collect();
    assert_eq!(seen, ["a#1", "a#2", "a#3", "a#4"]);
}

async fn pagination_returns_every_item_once(table: Store) {
    let expected: Vec<String> = (0..25).map(|i| format!("click#{i:03}")).collect();
    for (i, sk) in expected.iter().enumerate() {
        let it = item("link#7", sk, "{}")
            .with_gsi1(IndexKey::new("program#7", format!("{:03}", 100 - i)))
            .with_gsi2(IndexKey::new("same#gsi2pk", format!("g#{i:03}")));
        table.put(it, Condition::None).await.unwrap();
    }
    table
        .put(item("link#8", "click#000", "{}"), Condition::None)
        .await
        .unwrap();

    let cases: [(Query, Vec<String>); 5] = [
        (
            Query::prefix(Index::Primary, "link#7", "click#").limit(7),
            expected.clone(),
        ),
        (
            Query::new(Index::Primary, "link#7", SkRange::All)
                .limit(7)
                .descending(),
            expected.iter().rev().cloned().collect(),
        ),
        (
            Query::new(Index::Gsi1, "program#7", SkRange::All).limit(4),
            expected.iter().rev().cloned().collect(),
        ),
        (
            Query::prefix(Index::Gsi2, "same#gsi2pk", "g#").limit(10),
            expected.clone(),
        ),
        (
            Query::new(Index::Primary, "link#7", SkRange::All).limit(25),
            expected.clone(),
        ),
    ];
    for (query, want) in cases {
        let pages = all_pages(&table, query.clone()).await;
        let seen: Vec<String> = pages.iter().flatten().map(|i| i.key.sk.clone()).collect();
        assert_eq!(seen, want, "{query:?}");
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "an item was returned twice: {query:?}"
        );
        assert!(
            pages.len() >= 25 / query.limit,
            "{query:?} took {} pages",
            pages.len()
        );
    }

    // A query with a limit below the item count says that more may follow.
    let first = table
        .query(&Query::prefix(Index::Primary, "link#7", "click#").limit(3))
        .await
        .unwrap();
    assert_eq!(sks(&first.items), ["click#000", "click#001", "click#002"]);
    assert!(first.next.is_some());
}

async fn invalid_cursor_is_rejected(table: Store) {
    table
        .put(item("p", "s", "{}"), Condition::None)
        .await
        .unwrap();
    for cursor in ["not a cursor", "!!!", "e30", "bm9wZQ"] {
        let query = Query::new(Index::Primary, "p", SkRange::All).after(Some(cursor.to_owned()));
        let err = table.query(&query).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidCursor),
            "{cursor:?}: {err:?}"
        );
    }
}

/// The index entries of the `expired_items_are_absent` scenario: only `live` is listed.
async fn only_live_is_indexed(table: &Store, live: &Item) {
    let page = table
        .query(&Query::prefix(Index::Gsi1, "user#1", "session#"))
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(live));
    let page = table
        .query(&Query::new(Index::Gsi2, "sessions", SkRange::All))
        .await
        .unwrap();
    assert!(page.items.is_empty());
}

async fn expired_items_are_absent(table: Store) {
    let now = now_unix();
    let expired = item("session#1", "meta", "old")
        .with_gsi1(IndexKey::new("user#1", "session#1"))
        .with_gsi2(IndexKey::new("sessions", "1"))
        .expiring_at(now - 10);
    let live = item("session#1", "zz-live", "live")
        .with_gsi1(IndexKey::new("user#1", "session#2"))
        .expiring_at(now + 3600);
    table.put(expired.clone(), Condition::None).await.unwrap();
    table.put(live.clone(), Condition::None).await.unwrap();

    assert_eq!(table.get(&expired.key).await.unwrap(), None);
    assert_eq!(table.get(&live.key).await.unwrap(), Some(live.clone()));
    let page = table
        .query(&Query::new(Index::Primary, "session#1", SkRange::All))
        .await
        .unwrap();
    assert_eq!(page.items, std::slice::from_ref(&live));
    only_live_is_indexed(&table, &live).await;

    // Conditions see an expired item as absent.
    for condition in [Condition::Exists, Condition::VersionIs(1)] {
        let err = table
            .put(expired.clone().expiring_at(now + 60), condition)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::ConditionFailed { index: 0 }),
            "{condition:?}: {err:?}"
        );
    }
    let err = table
        .transact(vec![WriteOp::Check {
            key: expired.key.clone(),
            condition: Condition::Exists,
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ConditionFailed { index: 0 }),
        "{err:?}"
    );
    table
        .transact(vec![WriteOp::Check {
            key: expired.key.clone(),
            condition: Condition::NotExists,
        }])
        .await
        .unwrap();

    // ... and it does not block a create.
    let fresh = item("session#1", "meta", "new");
    assert_eq!(table.create(fresh.clone()).await.unwrap(), Created::Created);
    assert_eq!(table.get(&fresh.key).await.unwrap(), Some(fresh));
    // The item replacing an expired one carries none of its index entries.
    only_live_is_indexed(&table, &live).await;

    // Items without expires_at never expire; an item expiring in the future is there.
    assert_eq!(
        table.create(live.clone()).await.unwrap(),
        Created::AlreadyExists
    );
}

async fn op_counts_count_backend_calls(table: Store) {
    let before = table.op_counts();
    table.get(&Key::new("p", "s")).await.unwrap();
    let after_get = table.op_counts();
    assert_eq!(
        (
            after_get.reads - before.reads,
            after_get.writes - before.writes
        ),
        (1, 0)
    );

    table
        .put(item("p", "s", "{}"), Condition::None)
        .await
        .unwrap();
    let after_put = table.op_counts();
    assert_eq!(
        (
            after_put.reads - after_get.reads,
            after_put.writes - after_get.writes
        ),
        (0, 1)
    );

    // A failed conditional put still costs one write call.
    table.create(item("p", "s", "{}")).await.unwrap();
    let after_create = table.op_counts();
    assert_eq!(
        (
            after_create.reads - after_put.reads,
            after_create.writes - after_put.writes
        ),
        (0, 1)
    );

    table
        .query(&Query::new(Index::Primary, "p", SkRange::All))
        .await
        .unwrap();
    let after_query = table.op_counts();
    assert_eq!(
        (
            after_query.reads - after_create.reads,
            after_query.writes - after_create.writes
        ),
        (1, 0)
    );

    table
        .transact(vec![
            WriteOp::Put {
                item: item("p", "t", "{}"),
                condition: Condition::NotExists,
            },
            WriteOp::Check {
                key: Key::new("p", "s"),
                condition: Condition::Exists,
            },
        ])
        .await
        .unwrap();
    let after_transact = table.op_counts();
    assert_eq!(
        (
            after_transact.reads - after_query.reads,
            after_transact.writes - after_query.writes
        ),
        (0, 1)
    );
}

/// Index entries follow the item: moved when its index key changes, gone when it is deleted,
/// and a failed write leaves none behind.
async fn indexes_follow_updates_and_deletes(table: Store) {
    let in_index = |pk: &'static str| Query::new(Index::Gsi1, pk, SkRange::All);
    let first = item("moving", "x", "1").with_gsi1(IndexKey::new("idx-a", "k1"));
    table.put(first, Condition::None).await.unwrap();
    assert_eq!(
        table.query(&in_index("idx-a")).await.unwrap().items.len(),
        1
    );

    let moved = item("moving", "x", "2")
        .with_gsi1(IndexKey::new("idx-b", "k1"))
        .with_version(2);
    table.put(moved, Condition::VersionIs(1)).await.unwrap();
    assert!(
        table
            .query(&in_index("idx-a"))
            .await
            .unwrap()
            .items
            .is_empty(),
        "old entry gone"
    );
    let found = table.query(&in_index("idx-b")).await.unwrap().items;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].body, "2");

    let stale = item("moving", "x", "3").with_gsi1(IndexKey::new("idx-c", "k1"));
    assert!(table.put(stale, Condition::VersionIs(1)).await.is_err());
    assert!(
        table
            .query(&in_index("idx-c"))
            .await
            .unwrap()
            .items
            .is_empty(),
        "a refused write indexes nothing"
    );

    let unindexed = item("moving", "x", "4").with_version(3);
    table.put(unindexed, Condition::VersionIs(2)).await.unwrap();
    assert!(
        table
            .query(&in_index("idx-b"))
            .await
            .unwrap()
            .items
            .is_empty(),
        "dropped from the index"
    );

    let again = item("moving", "x", "5")
        .with_gsi1(IndexKey::new("idx-d", "k1"))
        .with_version(4);
    table.put(again, Condition::None).await.unwrap();
    table
        .transact(vec![WriteOp::Delete {
            key: Key::new("moving", "x"),
            condition: Condition::Exists,
        }])
        .await
        .unwrap();
    assert!(
        table
            .query(&in_index("idx-d"))
            .await
            .unwrap()
            .items
            .is_empty(),
        "deleted items leave the index"
    );
}

/// Many writes in flight, then a query: it sees every one that was answered.
async fn a_query_sees_every_answered_write(table: Store) {
    let writes = (0..40).map(|i| {
        let table = table.clone();
        tokio::spawn(async move {
            let it = item(&format!("burst-{i}"), "x", "{}")
                .with_gsi2(IndexKey::new("burst", format!("{i:03}")));
            table.put(it, Condition::None).await.unwrap();
        })
    });
    for write in writes.collect::<Vec<_>>() {
        write.await.unwrap();
    }
    let page = table
        .query(&Query::new(Index::Gsi2, "burst", SkRange::All).limit(100))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 40);
}

macro_rules! contract {
    ($($scenario:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let backend = linkledger_tests::backends::sqlite_table();
                    super::$scenario(backend.handle()).await;
                }
            )*
        }

        mod aws {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $scenario() {
                    let Some(backend) = linkledger_tests::backends::aws_table_backend().await else {
                        return;
                    };
                    super::$scenario(backend.handle()).await;
                }
            )*
        }
    };
}

contract!(
    get_of_absent_item_is_none,
    put_get_roundtrips_every_field,
    create_if_absent_then_already_exists,
    concurrent_creates_have_exactly_one_winner,
    version_conditions,
    transact_is_all_or_nothing,
    transact_with_delete,
    transact_rejects_invalid_batches,
    transact_takes_as_many_writes_as_the_table_says,
    query_by_prefix_and_direction,
    query_between_excludes_upper_bound,
    pagination_returns_every_item_once,
    invalid_cursor_is_rejected,
    expired_items_are_absent,
    op_counts_count_backend_calls,
    indexes_follow_updates_and_deletes,
    a_query_sees_every_answered_write,
);
