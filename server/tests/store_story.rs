//! The repository story, on SQLite always and PostgreSQL when `DATABASE_URL` is set: tenant
//! scoping, conflicts mapped to fields, first run racing between replicas, re-opened
//! migrations.

mod common;

use app::api::{NewTenant, UserPatch};
use common::{TestDb, backends};
use switchyard::config::Secret;
use switchyard::store::{NewUserRecord, Store, StoreError};

fn user<'a>(email: &'a str) -> NewUserRecord<'a> {
    NewUserRecord {
        email,
        display_name: "Someone",
        password_hash: None,
        platform_admin: false,
    }
}

#[tokio::test]
async fn store_story_on_every_backend() {
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let url = Secret::new(db.url.clone());
        let store = Store::open(&url, 4).await.unwrap();
        // Migrations re-applied on a second open are a no-op.
        let store_again = Store::open(&url, 4).await.unwrap();

        // First run, raced by two replicas: exactly one tenant and one admin.
        let tenant = NewTenant {
            slug: "default".into(),
            name: "Default".into(),
        };
        let admin = NewUserRecord {
            email: "admin@localhost",
            display_name: "Admin",
            password_hash: Some("x"),
            platform_admin: true,
        };
        let (a, b) = tokio::join!(
            store.first_run(&tenant, &admin),
            store_again.first_run(&tenant, &admin)
        );
        let winners = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(winners, 1, "{backend:?}");
        assert!(store.first_run(&tenant, &admin).await.unwrap().is_none());
        let (tenants, _) = store.list_tenants(None, None, 10).await.unwrap();
        assert_eq!(tenants.len(), 1);

        // Scopes exist only for real tenants.
        assert!(matches!(
            store.scope(uuid::Uuid::now_v7()).await,
            Err(StoreError::NotFound("tenant"))
        ));
        let red = store
            .create_tenant(&NewTenant {
                slug: "red".into(),
                name: "Red".into(),
            })
            .await
            .unwrap();
        let blue = store
            .create_tenant(&NewTenant {
                slug: "blue".into(),
                name: "Blue".into(),
            })
            .await
            .unwrap();
        let red = store.scope(red.id).await.unwrap();
        let blue = store.scope(blue.id).await.unwrap();

        // A user of one tenant cannot be read, listed, changed or deleted through another.
        let ann = store
            .create_user(&red, &user("ann@example.com"))
            .await
            .unwrap();
        assert_eq!(ann.tenant_id, red.tenant_id());
        assert!(matches!(
            store.get_user(&blue, ann.id).await,
            Err(StoreError::NotFound("user"))
        ));
        let (blue_users, _) = store.list_users(&blue, None, None, None, 10).await.unwrap();
        assert!(blue_users.is_empty());
        let patch = UserPatch {
            disabled: Some(true),
            ..Default::default()
        };
        assert!(matches!(
            store.update_user(&blue, ann.id, &patch).await,
            Err(StoreError::NotFound("user"))
        ));
        assert!(matches!(
            store.delete_user(&blue, ann.id).await,
            Err(StoreError::NotFound("user"))
        ));
        assert!(!store.get_user(&red, ann.id).await.unwrap().disabled);

        // Unique constraints come back as conflicts naming the API field.
        assert!(matches!(
            store.create_user(&red, &user("ANN@example.com")).await,
            Err(StoreError::Conflict { field: "email" })
        ));
        assert!(
            store
                .create_user(&blue, &user("ann@example.com"))
                .await
                .is_ok()
        );
        let dup = NewTenant {
            slug: "red".into(),
            name: "Again".into(),
        };
        assert!(matches!(
            store.create_tenant(&dup).await,
            Err(StoreError::Conflict { field: "slug" })
        ));

        // Every write to its gateway configuration moves the version replicas cache by.
        let version = store.tenant_config_version(&red).await.unwrap();
        let kit = app::api::VirtualServerInput {
            name: "kit".into(),
            tools: vec!["files.*".into()],
            enabled: true,
            ..Default::default()
        };
        let created = store.create_virtual_server(&red, &kit).await.unwrap();
        let after_create = store.tenant_config_version(&red).await.unwrap();
        assert!(after_create > version);
        store.delete_virtual_server(&red, created.id).await.unwrap();
        assert!(store.tenant_config_version(&red).await.unwrap() > after_create);
        assert_eq!(
            store.tenant_config_version(&blue).await.unwrap(),
            0,
            "another tenant's version stays"
        );
        store.create_virtual_server(&red, &kit).await.unwrap();

        // Deleting a tenant removes what it owns (the version triggers firing on the way).
        store.delete_tenant(red.tenant_id()).await.unwrap();
        assert!(matches!(
            store.scope(red.tenant_id()).await,
            Err(StoreError::NotFound("tenant"))
        ));
        store.close().await;
        store_again.close().await;
        db.drop_db().await;
    }
}

/// SQLite fills its free-text audit index behind the appends (store/audit_index.rs); a search
/// still finds every committed record, each once, however many wait to be indexed — more than
/// one indexing chunk here, appended concurrently as the gateway's callers do.
#[tokio::test]
async fn audit_search_finds_every_committed_record_once() {
    use switchyard::audit::{self, Origin, Outcome};
    use switchyard::store::AuditFilter;
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let store = Store::open(&Secret::new(db.url.clone()), 4).await.unwrap();
        let tenant = store
            .create_tenant(&NewTenant {
                slug: "audited".into(),
                name: "Audited".into(),
            })
            .await
            .unwrap();
        let scope = store.scope(tenant.id).await.unwrap();
        let origin = Origin::default();
        let appends = (0..700).map(|i| {
            let word = if i == 650 { "needle-650" } else { "hay" };
            let event = origin
                .event("user:bench", "tool.call", Outcome::Success)
                .target(format!("tool:files.{word}"))
                .detail(serde_json::json!({ "n": i }));
            audit::record(&store, tenant.id, event)
        });
        for appended in futures::future::join_all(appends).await {
            appended.unwrap();
        }
        let search = |q: &'static str| {
            let filter = AuditFilter {
                q: Some(q),
                ..AuditFilter::default()
            };
            let store = store.clone();
            async move {
                store
                    .search_audit(&scope, &filter, None, 1000)
                    .await
                    .unwrap()
                    .0
            }
        };
        let found = search("NEEDLE-650").await;
        assert_eq!(found.len(), 1, "{backend:?}");
        assert_eq!(found[0].target, "tool:files.needle-650");
        assert_eq!(search("files.hay").await.len(), 699, "{backend:?}");
        // Appended after a search: found by the next one.
        let event = origin
            .event("user:late", "tool.call", Outcome::Failure)
            .target("tool:files.late-one");
        audit::record(&store, tenant.id, event).await.unwrap();
        assert_eq!(search("late-one").await.len(), 1, "{backend:?}");
    }
}

/// Transactions that read before they write (here: check the user, then replace its roles)
/// while other writers commit in between (the audit writer, its free-text indexer) all
/// succeed. On SQLite a deferred transaction that read a snapshot cannot take the write
/// lock once another connection has written (SQLITE_BUSY at once, no busy wait), so such
/// transactions begin `IMMEDIATE`.
#[tokio::test]
async fn read_then_write_transactions_survive_concurrent_writers() {
    use switchyard::audit::{self, Origin, Outcome};
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let store = Store::open(&Secret::new(db.url.clone()), 8).await.unwrap();
        let tenant = store
            .create_tenant(&NewTenant {
                slug: "busy".into(),
                name: "Busy".into(),
            })
            .await
            .unwrap();
        let scope = store.scope(tenant.id).await.unwrap();
        let someone = store
            .create_user(&scope, &user("busy@example.com"))
            .await
            .unwrap();
        let writes = (0..400).map(|i| {
            let event = Origin::default()
                .event("tester", "test.append", Outcome::Success)
                .target(format!("n:{i}"));
            audit::record(&store, tenant.id, event)
        });
        let appends = futures::future::join_all(writes);
        let reassign = async {
            let mut failures = Vec::new();
            for _ in 0..200 {
                if let Err(e) = store.set_user_roles(&scope, someone.id, &[]).await {
                    failures.push(e.to_string());
                }
                tokio::task::yield_now().await;
            }
            failures
        };
        let (appended, failures) = tokio::join!(appends, reassign);
        assert!(appended.iter().all(Result::is_ok), "{backend:?}");
        assert!(failures.is_empty(), "{backend:?}: {failures:?}");
        store.close().await;
        db.drop_db().await;
    }
}

/// Appends `n` audit records to `tenant`'s chain whose targets hold `word`, concurrently.
async fn append_records(store: &Store, tenant: uuid::Uuid, word: &str, n: usize) {
    use switchyard::audit::{self, Origin, Outcome};
    let origin = Origin::default();
    let appends = (0..n).map(|i| {
        let event = origin
            .event("user:indexed", "tool.call", Outcome::Success)
            .target(format!("tool:files.{word}-{i}"));
        audit::record(store, tenant, event)
    });
    for appended in futures::future::join_all(appends).await {
        appended.unwrap();
    }
}

/// How many of `tenant`'s records a free-text search for `q` finds.
async fn found(store: &Store, tenant: uuid::Uuid, q: &str) -> usize {
    let scope = store.scope(tenant).await.unwrap();
    let filter = switchyard::store::AuditFilter {
        q: Some(q),
        ..Default::default()
    };
    let (rows, _) = store
        .search_audit(&scope, &filter, None, 1000)
        .await
        .unwrap();
    rows.len()
}

/// SQLite's free-text index is a database file of its own (store/audit_index.rs): while its
/// write lock is held — as while a chunk is indexed or a merge runs — audit appends commit
/// all the same (were the index attached to the store's connections, their `BEGIN
/// IMMEDIATE` would wait for it: 5 s, then fail). Search finds them once the lock is free.
#[tokio::test]
async fn audit_appends_do_not_wait_for_the_free_text_index() {
    use sqlx::Connection;
    let db = TestDb::create(&common::Backend::Sqlite).await;
    let store = Store::open(&Secret::new(db.url.clone()), 4).await.unwrap();
    let tenant = store
        .create_tenant(&NewTenant {
            slug: "indexed".into(),
            name: "Indexed".into(),
        })
        .await
        .unwrap();
    let index = db._dir.path().join("test.db-search");
    assert!(index.exists(), "the index lives beside the store");
    let mut holder = sqlx::SqliteConnection::connect(&format!("sqlite://{}", index.display()))
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut holder)
        .await
        .unwrap();
    let appended = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        append_records(&store, tenant.id, "while-locked", 300),
    )
    .await;
    assert!(appended.is_ok(), "appends waited for the index's lock");
    sqlx::query("ROLLBACK").execute(&mut holder).await.unwrap();
    holder.close().await.unwrap();
    assert_eq!(found(&store, tenant.id, "while-locked").await, 300);
    store.close().await;
}

/// The index is checked against its store when opened: one that describes other records
/// (here another store's, as after restoring a backup beside a newer index) is rebuilt, so the
/// records appended next are found; a deleted one is built again from the records.
#[tokio::test]
async fn an_index_that_does_not_match_its_store_is_rebuilt() {
    let (first, second) = (
        TestDb::create(&common::Backend::Sqlite).await,
        TestDb::create(&common::Backend::Sqlite).await,
    );
    let mut tenants = Vec::new();
    for db in [&first, &second] {
        let store = Store::open(&Secret::new(db.url.clone()), 2).await.unwrap();
        let tenant = store
            .create_tenant(&NewTenant {
                slug: "restored".into(),
                name: "Restored".into(),
            })
            .await
            .unwrap();
        let records = if std::ptr::eq(db, &first) { 40 } else { 3 };
        append_records(&store, tenant.id, "before", records).await;
        assert_eq!(found(&store, tenant.id, "before").await, records);
        store.close().await;
        tenants.push(tenant.id);
    }
    // The first store's index, 40 records ahead, put beside the second store.
    let index = |db: &TestDb| db._dir.path().join("test.db-search");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", index(&second).display()));
    }
    std::fs::copy(index(&first), index(&second)).unwrap();
    let store = Store::open(&Secret::new(second.url.clone()), 2)
        .await
        .unwrap();
    append_records(&store, tenants[1], "after", 5).await;
    assert_eq!(found(&store, tenants[1], "after").await, 5);
    assert_eq!(found(&store, tenants[1], "before").await, 3);
    store.close().await;
    // Deleted: built again.
    std::fs::remove_file(index(&second)).unwrap();
    let store = Store::open(&Secret::new(second.url.clone()), 2)
        .await
        .unwrap();
    assert_eq!(found(&store, tenants[1], "before").await, 3);
    assert_eq!(found(&store, tenants[1], "after").await, 5);
    store.close().await;
}

/// A chat turn reads a conversation's latest messages, in order: the newest user message is
/// always among them, however long the conversation grew.
#[tokio::test]
async fn a_conversation_s_latest_messages_come_in_order() {
    use switchyard::store::{ConversationRecord, NewMessage};
    for backend in backends() {
        let db = TestDb::create(&backend).await;
        let store = Store::open(&Secret::new(db.url.clone()), 4).await.unwrap();
        let tenant = NewTenant {
            slug: "default".into(),
            name: "Default".into(),
        };
        let (tenant, admin) = store
            .first_run(&tenant, &user("a@x.test"))
            .await
            .unwrap()
            .unwrap();
        let scope = store.scope(tenant).await.unwrap();
        let record = ConversationRecord {
            title: "Long",
            provider: None,
            instructions: None,
            workflow_id: None,
        };
        let conversation = store
            .create_conversation(&scope, admin, &record)
            .await
            .unwrap();
        for i in 1..=5 {
            let content = format!("message {i}");
            let new = NewMessage {
                role: "user",
                content: &content,
                detail: None,
                card: None,
            };
            store
                .add_chat_message(&scope, conversation.id, &new)
                .await
                .unwrap();
        }
        let latest = store
            .latest_chat_messages(&scope, conversation.id, 3)
            .await
            .unwrap();
        let seqs: Vec<i64> = latest.iter().map(|m| m.message.seq).collect();
        assert_eq!(seqs, [3, 4, 5], "{backend:?}");
        assert_eq!(latest[2].message.content, "message 5");
        db.drop_db().await;
    }
}
