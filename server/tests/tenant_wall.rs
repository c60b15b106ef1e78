//! The second tenant wall (issue #3, point 8): on PostgreSQL, row-level security admits only
//! the rows of the tenant a transaction names, whatever its SQL says. Needs `DATABASE_URL`;
//! on SQLite alone there is no second wall to test and the story says so.

mod common;

use common::{Backend, TestDb, TestServer, backends, make_user, post, settings};
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};
use switchyard::config::Secret;
use switchyard::store::{APP_ROLE, Store};

#[tokio::test]
async fn postgres_admits_only_the_transactions_tenant() {
    let Some(backend) = backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
    else {
        eprintln!("DATABASE_URL is not set: no PostgreSQL, no row-level security to test");
        return;
    };
    let db = TestDb::create(&backend).await;
    let server = TestServer::start(settings(&db)).await;

    // Two tenants with rows in every tenant-owned table the API can fill.
    let red = common::default_tenant(&server).await;
    let blue: serde_json::Value = post(
        &server.client,
        server.url("/api/v1/tenants"),
        json!({ "slug": "blue", "name": "Blue" }),
    )
    .await
    .json()
    .await
    .unwrap();
    let blue = blue["id"].as_str().unwrap().to_string();
    for tenant in [&red, &blue] {
        make_user(
            &server,
            tenant,
            &format!("ann@{tenant}.example"),
            &["member"],
        )
        .await;
        let r = post(
            &server.client,
            server.url(&format!("/api/v1/tenants/{tenant}/policies")),
            json!({ "name": "read", "effect": "allow", "tool_pattern": "files.read", "priority": 1 }),
        )
        .await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }

    // The server's own connections run as the app role, which the wall binds.
    let store = Store::open(&Secret::new(db.url.clone()), 1).await.unwrap();
    assert_eq!(store.session_role().await.unwrap(), APP_ROLE);
    store.close().await;

    let mut conn = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("SET ROLE {APP_ROLE}")))
        .execute(&mut conn)
        .await
        .unwrap();

    // Every table with a tenant_id column is walled, so a new table cannot escape.
    let tables: Vec<(String, bool, bool)> = sqlx::query_as(
        "SELECT c.table_name::text, k.relrowsecurity, k.relforcerowsecurity \
         FROM information_schema.columns c JOIN pg_class k ON k.relname = c.table_name \
         WHERE c.column_name = 'tenant_id' AND c.table_schema = current_schema() \
           AND k.relnamespace = current_schema()::regnamespace ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(tables.len() >= 10, "{tables:?}");
    for (table, enabled, forced) in &tables {
        assert!(
            *enabled && *forced,
            "{table} has no forced row-level security"
        );
    }

    for (table, _, _) in &tables {
        let count_sql =
            |filter: &str| sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table} {filter}"));
        // No tenant named: nothing, not everything.
        let (none,): (i64,) = sqlx::query_as(count_sql(""))
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(none, 0, "{table} without a tenant setting");

        // Blue's transaction asking for red's rows by their tenant id gets none.
        let mut tx = conn.begin().await.unwrap();
        set_tenant(&mut tx, &blue).await;
        let red_filter = format!("WHERE tenant_id = '{red}'");
        let (seen,): (i64,) = sqlx::query_as(count_sql(&red_filter))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(seen, 0, "{table}: blue saw red's rows");
        let (all,): (i64,) = sqlx::query_as(count_sql(""))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let blue_filter = format!("WHERE tenant_id = '{blue}'");
        let (own,): (i64,) = sqlx::query_as(count_sql(&blue_filter))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(
            all, own,
            "{table}: blue's unfiltered read holds only blue's rows"
        );
        tx.rollback().await.unwrap();

        // The platform setting sees both, so the rows really are there.
        let mut tx = conn.begin().await.unwrap();
        sqlx::query("SELECT set_config('app.platform', 'on', true)")
            .execute(&mut *tx)
            .await
            .unwrap();
        let (red_rows,): (i64,) = sqlx::query_as(count_sql(&red_filter))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        if [
            "users",
            "roles",
            "role_assignments",
            "tool_policies",
            "audit_events",
            "audit_heads",
        ]
        .contains(&table.as_str())
        {
            assert!(red_rows > 0, "{table}: red has rows to hide");
        }
    }

    // The audit free-text helper runs as the owner but keeps the wall: no tenant named, no
    // candidates; blue named, only blue's.
    let count_candidates = "SELECT count(*) FROM audit_text_candidates('%')";
    let (none,): (i64,) = sqlx::query_as(count_candidates)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(none, 0);
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &blue).await;
    let (candidates,): (i64,) = sqlx::query_as(count_candidates)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    let (blue_events,): (i64,) = sqlx::query_as("SELECT count(*) FROM audit_events")
        .fetch_one(&mut *tx)
        .await
        .unwrap();
    assert!(blue_events > 0);
    assert_eq!(candidates, blue_events);
    tx.rollback().await.unwrap();

    // Writes: blue can neither change red's users nor insert rows for red.
    let mut tx = conn.begin().await.unwrap();
    set_tenant(&mut tx, &blue).await;
    let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE users SET display_name = 'owned' WHERE tenant_id = '{red}'"
    )))
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(changed, 0);
    let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM tool_policies WHERE tenant_id = '{red}'"
    )))
    .execute(&mut *tx)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(deleted, 0);
    let insert = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO users (id, tenant_id, email, email_lower, display_name, disabled, \
         platform_admin, created_at, updated_at) \
         VALUES (gen_random_uuid(), '{red}', 'x@x', 'x@x', 'x', FALSE, FALSE, now(), now())"
    )))
    .execute(&mut *tx)
    .await
    .unwrap_err();
    let code = insert
        .as_database_error()
        .and_then(|e| e.code())
        .map(|c| c.to_string());
    assert_eq!(code.as_deref(), Some("42501"), "{insert}");
    tx.rollback().await.unwrap();

    // The setting ends with its transaction: the pooled connection carries nothing over.
    let row = sqlx::query("SELECT count(*) AS n FROM users")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("n"), 0);

    conn.close().await.unwrap();
    server.stop().await;
    db.drop_db().await;
}

async fn set_tenant(conn: &mut PgConnection, tenant: &str) {
    sqlx::query("SELECT set_config('app.tenant_id', $1, true)")
        .bind(tenant)
        .execute(conn)
        .await
        .unwrap();
}
