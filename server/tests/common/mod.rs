//! Test harness: starts the real server on port 0 against a temporary SQLite file, or a fresh
//! PostgreSQL database when `DATABASE_URL` is set, with Redis when `REDIS_URL` is set.
#![allow(dead_code)]

pub mod mcp;
pub mod oauth;
pub mod peers;
pub mod replica;
pub mod vectors;
pub mod workflows;

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::Connection;
use switchyard::config::{Secret, Settings};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The databases a story runs on: SQLite always, PostgreSQL when `DATABASE_URL` is set.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if let Ok(url) = std::env::var("DATABASE_URL")
        && !url.is_empty()
    {
        all.push(Backend::Postgres(url));
    }
    all
}

/// Redis for shared state when `REDIS_URL` is set.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty())
}

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

/// A database made for one test, removed by [`TestDb::drop_db`].
pub struct TestDb {
    pub url: String,
    admin_url: Option<String>,
    name: Option<String>,
    pub _dir: tempfile::TempDir,
}

impl TestDb {
    pub async fn create(backend: &Backend) -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => TestDb {
                url: format!("sqlite://{}", dir.path().join("test.db").display()),
                admin_url: None,
                name: None,
                _dir: dir,
            },
            Backend::Postgres(admin_url) => {
                let mut conn = sqlx::PgConnection::connect(admin_url)
                    .await
                    .expect("connect to DATABASE_URL");
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_secs();
                sweep_stale(&mut conn, now).await;
                let name = format!("switchyard_t_{now}_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let url = replace_database(admin_url, &name);
                TestDb {
                    url,
                    admin_url: Some(admin_url.clone()),
                    name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub async fn drop_db(self) {
        if let (Some(admin_url), Some(name)) = (&self.admin_url, &self.name) {
            let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}

/// Drops test databases left behind by runs that panicked more than an hour ago.
async fn sweep_stale(conn: &mut sqlx::PgConnection, now: u64) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'switchyard_t_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let born = name
            .split('_')
            .nth(2)
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(born) > 3600 {
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Runs one SQL statement directly on the test database, behind the server's back (tamper
/// tests).
pub async fn execute_sql(url: &str, sql: &'static str) -> u64 {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .unwrap()
            .rows_affected()
    }
}

/// The bootstrap administrator's password in tests (`admin@localhost` in tenant `default`).
pub const ADMIN_PASSWORD: &str = "bootstrap-password-for-tests";

/// Settings for a test server on `db`.
pub fn settings(db: &TestDb) -> Settings {
    let mut settings = Settings::default();
    settings.database.url = Secret::new(db.url.clone());
    settings.database.max_connections = 5;
    settings.bootstrap.admin_password = Secret::new(ADMIN_PASSWORD);
    settings.data_dir = db._dir.path().to_path_buf();
    // Stories make many quick requests as one user; limits_story turns these on itself.
    settings.http.tenant_rate_limit_per_second = 0;
    settings.http.principal_rate_limit_per_second = 0;
    // Stories count what a tenant offers; builtin_story registers the built-in servers.
    settings.tools.builtin_for_new_tenants = Vec::new();
    if let Some(url) = redis_url() {
        settings.redis.url = Secret::new(url);
        settings.redis.prefix = format!("switchyard-test:{}:", uuid::Uuid::new_v4().simple());
    }
    settings
}

/// A running server. `client` carries the bootstrap administrator's access token; `anon`
/// carries nothing.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub anon: reqwest::Client,
    pub admin_token: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), switchyard::ServeError>>>,
}

impl TestServer {
    pub async fn start(settings: Settings) -> TestServer {
        let bootstrap = settings.bootstrap.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(switchyard::serve(settings, listener, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        // Ready once /readyz answers (migrations and first run happen before serving).
        for _ in 0..200 {
            if let Ok(r) = client.get(format!("{base}/readyz")).send().await
                && r.status().is_success()
            {
                break;
            }
            if task.is_finished() {
                panic!("server exited during start: {:?}", task.await);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        // Empty when the bootstrap settings do not name an existing administrator (a test
        // that restarts with other bootstrap settings signs in itself).
        let admin_token = sign_in(
            &client,
            &base,
            &bootstrap.tenant_slug,
            &bootstrap.admin_email,
            bootstrap.admin_password.expose(),
        )
        .await
        .map(|t| t["access_token"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
        TestServer {
            base,
            client: bearer_client(&admin_token),
            anon: client,
            admin_token,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Signs in and returns a client carrying the new access token, and the token response.
    pub async fn sign_in_as(
        &self,
        tenant: &str,
        email: &str,
        password: &str,
    ) -> (reqwest::Client, serde_json::Value) {
        let tokens = sign_in(&self.anon, &self.base, tenant, email, password)
            .await
            .unwrap_or_else(|e| panic!("{email} signs in: {e}"));
        (
            bearer_client(tokens["access_token"].as_str().unwrap()),
            tokens,
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, whatever the status.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// The tenant's latest audited tool calls (at most 100), newest first.
    pub async fn tool_calls(&self, tenant: &str) -> Vec<serde_json::Value> {
        let path = format!("/api/v1/tenants/{tenant}/audit?action=tool.call&limit=100");
        let page: serde_json::Value = self.get(&path).await.json().await.unwrap();
        page["items"].as_array().cloned().unwrap_or_default()
    }

    /// The body of `GET path` as text.
    pub async fn text(&self, path: &str) -> String {
        self.get(path).await.text().await.unwrap()
    }

    /// Signals shutdown and waits for the server to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }

    pub fn signal_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    pub async fn wait(mut self) -> Result<(), switchyard::ServeError> {
        self.task.take().unwrap().await.unwrap()
    }
}

/// `POST /api/v1/auth/token`; the token response, or the status and body of the refusal.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    email: &str,
    password: &str,
) -> Result<serde_json::Value, String> {
    let response = client
        .post(format!("{base}/api/v1/auth/token"))
        .json(&serde_json::json!({ "tenant": tenant, "email": email, "password": password }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

/// A client that sends `Authorization: Bearer <token>` on every request.
pub fn bearer_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// The password `make_user` gives its users.
pub const PASSWORD: &str = "correct horse battery staple";

/// Creates a user in `tenant` with `PASSWORD` and `roles`, as the administrator.
pub async fn make_user(server: &TestServer, tenant: &str, email: &str, roles: &[&str]) -> String {
    let created: serde_json::Value = server
        .client
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users")))
        .json(&serde_json::json!({ "email": email, "display_name": email }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("user created").to_string();
    let r = server
        .client
        .post(server.url(&format!("/api/v1/tenants/{tenant}/users/{id}/password")))
        .json(&serde_json::json!({ "new_password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::NO_CONTENT);
    let r = server
        .client
        .put(server.url(&format!("/api/v1/tenants/{tenant}/users/{id}/roles")))
        .json(&serde_json::json!({ "roles": roles }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    id
}

/// The tenant of the bootstrap administrator.
pub async fn default_tenant(server: &TestServer) -> String {
    let me: serde_json::Value = server.get("/api/v1/auth/me").await.json().await.unwrap();
    me["tenant_id"].as_str().unwrap().to_string()
}

/// The JSON body of `GET url` with `client`, whatever the status.
pub async fn get_json(client: &reqwest::Client, url: &str) -> serde_json::Value {
    let response = client.get(url).send().await.unwrap();
    response.json().await.unwrap()
}

/// The fields a problem document's `errors` name, in order (RFC 9457 extension member).
pub fn fields(problem: &serde_json::Value) -> Vec<&str> {
    let errors = problem["errors"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    errors.iter().filter_map(|e| e["field"].as_str()).collect()
}

/// The status of `GET url` with `client`.
pub async fn status(client: &reqwest::Client, url: String) -> reqwest::StatusCode {
    client.get(url).send().await.unwrap().status()
}

/// `POST url` with a JSON body.
pub async fn post(
    client: &reqwest::Client,
    url: String,
    body: serde_json::Value,
) -> reqwest::Response {
    client.post(url).json(&body).send().await.unwrap()
}
