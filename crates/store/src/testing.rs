//! Fresh, isolated databases for tests: a temporary SQLite file, or a new PostgreSQL database
//! on the test server (`VAWG_TEST_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), dropped again when the test is done.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, postgres::PgConnectOptions};

/// The PostgreSQL server tests use.
pub fn test_server_url() -> String {
    std::env::var("VAWG_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A PostgreSQL database created for one test. Call [`TestDatabase::drop_database`] at the end
/// (a test that panics leaves it; `prune_stale` removes those left over a day).
#[derive(Debug)]
pub struct TestDatabase {
    /// URL of the new database.
    pub url: String,
    name: String,
}

impl TestDatabase {
    /// Creates `vawg_test_<uuid>` on the test server.
    pub async fn create() -> Result<TestDatabase, sqlx::Error> {
        let admin = PgConnectOptions::from_str(&test_server_url())?;
        let mut conn = admin.clone().connect().await?;
        let name = format!("vawg_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        let url = admin.database(&name).to_url_lossy().to_string();
        Ok(TestDatabase { url, name })
    }

    /// Drops the database (forcing other sessions off).
    pub async fn drop_database(self) -> Result<(), sqlx::Error> {
        let admin = PgConnectOptions::from_str(&test_server_url())?;
        let mut conn = admin.connect().await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        conn.close().await?;
        Ok(())
    }
}
