//! The hub's cell-key secret (migration `0500_cell_keys.sql`): generated once in the database,
//! read once per store and kept in its shared state, handed only to the aggregate rules. It
//! never leaves the store and the domain, and is never logged: errors about it carry no bytes.

use vawg_domain::aggregate::CellKeySecret;

use crate::{Store, StoreError};

impl Store {
    /// The hub's cell-key secret, read from `cell_key_secret` on first use (after the
    /// migrations) and then kept for the life of the store and its clones.
    pub(crate) async fn cell_key_secret(&self) -> Result<&CellKeySecret, StoreError> {
        self.agg.secret.get_or_try_init(|| load(self)).await
    }
}

/// Reads the secret.
async fn load(store: &Store) -> Result<CellKeySecret, StoreError> {
    let sql = "SELECT secret FROM cell_key_secret WHERE id = 1";
    let bytes: Option<Vec<u8>> = crate::dispatch_pool!(store.pool(), |p| {
        sqlx::query_scalar(sql).fetch_optional(p).await?
    });
    let bytes =
        bytes.ok_or_else(|| StoreError::Corrupt("the cell-key secret is missing".into()))?;
    CellKeySecret::new(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}
