//! The store's error type: what callers may act on (not found, conflict) kept apart from
//! failures they can only report.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named entity does not exist (or not in the given tenant).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique constraint refused the write; `field` is the API field that clashed.
    #[error("a record with this {field} already exists")]
    Conflict { field: &'static str },
    /// The database URL has a scheme other than `sqlite:` or `postgres:`.
    #[error("database URL must start with sqlite: or postgres:")]
    UnsupportedUrl,
    /// The directory of the SQLite file could not be created.
    #[error("cannot create the data directory: {0}")]
    DataDir(std::io::Error),
    /// The database could not be reached.
    #[error("cannot connect to the database: {0}")]
    Connect(sqlx::Error),
    /// Migrations failed to apply.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The audit writer task has stopped (the runtime is shutting down).
    #[error("the audit writer has stopped")]
    AuditWriterGone,
    /// SQLite's step writer has stopped (the store is being dropped).
    #[error("the workflow step writer has stopped")]
    StepWriterGone,
    /// Any other database failure.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// A failure of the step writer's own SQLite connection (`step_writer`).
    #[error("database error: {0}")]
    Sqlite(rusqlite::Error),
}

/// Unique constraints and the API field each protects. PostgreSQL names the constraint;
/// SQLite names the columns in its message ("UNIQUE constraint failed: tenants.slug").
const UNIQUE_FIELDS: &[(&str, &str, &str)] = &[
    ("tenants_slug_key", "tenants.slug", "slug"),
    ("users_tenant_email_key", "users.email_lower", "email"),
    ("roles_tenant_name_key", "roles.name", "name"),
    ("api_keys_prefix_key", "api_keys.prefix", "prefix"),
    ("upstreams_tenant_name_key", "upstreams.name", "name"),
    (
        "virtual_servers_tenant_name_key",
        "virtual_servers.name",
        "name",
    ),
    (
        "llm_providers_tenant_name_key",
        "llm_providers.name",
        "name",
    ),
    (
        "vector_indexes_tenant_name_key",
        "vector_indexes.name",
        "name",
    ),
    (
        "tool_policies_tenant_name_key",
        "tool_policies.name",
        "name",
    ),
];

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
        {
            let message = db.message();
            let constraint = db.constraint().unwrap_or_default();
            for (name, columns, field) in UNIQUE_FIELDS {
                if constraint == *name || message.contains(columns) {
                    return StoreError::Conflict { field };
                }
            }
        }
        StoreError::Database(error)
    }
}
