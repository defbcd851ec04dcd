//! The agency registry: which agency systems may connect, of what kind, serving which areas,
//! and whether they are active. Managed with `vawg-hub agency add|list|suspend`; read by the
//! auth layer on every call.

use chrono::{SecondsFormat, Utc};
use sqlx::Row;
use vawg_domain::identity::AgencyKind;

use crate::{Pool, Store, StoreError};

/// Whether an agency may connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgencyStatus {
    /// Active: may connect.
    Active,
    /// Suspended: refused at once, whatever its certificate and token say.
    Suspended,
}

impl AgencyStatus {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgencyStatus::Active => "active",
            AgencyStatus::Suspended => "suspended",
        }
    }

    fn parse(s: &str) -> Result<AgencyStatus, StoreError> {
        match s {
            "active" => Ok(AgencyStatus::Active),
            "suspended" => Ok(AgencyStatus::Suspended),
            other => Err(StoreError::Corrupt(format!("agency status '{other}'"))),
        }
    }
}

/// One registered agency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgencyRecord {
    /// Registry identifier, e.g. `police-e23000001` (what certificates and tokens name).
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The agency's kind.
    pub kind: AgencyKind,
    /// ONS GSS codes of the areas served.
    pub areas: Vec<String>,
    /// Active or suspended.
    pub status: AgencyStatus,
}

fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn from_parts(
    id: String,
    name: String,
    kind: String,
    areas: String,
    status: String,
) -> Result<AgencyRecord, StoreError> {
    let kind = kind
        .parse::<AgencyKind>()
        .map_err(|_| StoreError::Corrupt(format!("agency {id}: kind")))?;
    let areas: Vec<String> = serde_json::from_str(&areas)
        .map_err(|_| StoreError::Corrupt(format!("agency {id}: areas")))?;
    Ok(AgencyRecord {
        id,
        name,
        kind,
        areas,
        status: AgencyStatus::parse(&status)?,
    })
}

macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

impl Store {
    /// Registers an agency (active). Fails with `ALREADY_EXISTS`-style unique violation if the
    /// id is taken.
    pub async fn add_agency(
        &self,
        id: &str,
        name: &str,
        kind: AgencyKind,
        areas: &[String],
    ) -> Result<AgencyRecord, StoreError> {
        let areas_json = serde_json::to_string(areas).expect("strings serialise");
        let at = now();
        let sql = "INSERT INTO agencies (id, name, kind, areas, status, created_at, updated_at) \
                   VALUES ($1, $2, $3, $4, 'active', $5, $5)";
        on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .bind(id)
                .bind(name)
                .bind(kind.as_str())
                .bind(&areas_json)
                .bind(&at)
                .execute(p)
                .await?;
        });
        Ok(AgencyRecord {
            id: id.to_string(),
            name: name.to_string(),
            kind,
            areas: areas.to_vec(),
            status: AgencyStatus::Active,
        })
    }

    /// Looks an agency up; `None` when it is not registered.
    pub async fn agency(&self, id: &str) -> Result<Option<AgencyRecord>, StoreError> {
        let sql = "SELECT id, name, kind, areas, status FROM agencies WHERE id = $1";
        let row = on_pool!(self.pool(), |p| {
            sqlx::query(sql).bind(id).fetch_optional(p).await?.map(|r| {
                (
                    r.get::<String, _>(0),
                    r.get::<String, _>(1),
                    r.get::<String, _>(2),
                    r.get::<String, _>(3),
                    r.get::<String, _>(4),
                )
            })
        });
        row.map(|(a, b, c, d, e)| from_parts(a, b, c, d, e))
            .transpose()
    }

    /// Every registered agency, by id.
    pub async fn list_agencies(&self) -> Result<Vec<AgencyRecord>, StoreError> {
        let sql = "SELECT id, name, kind, areas, status FROM agencies ORDER BY id";
        let rows = on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| {
                    (
                        r.get::<String, _>(0),
                        r.get::<String, _>(1),
                        r.get::<String, _>(2),
                        r.get::<String, _>(3),
                        r.get::<String, _>(4),
                    )
                })
                .collect::<Vec<_>>()
        });
        rows.into_iter()
            .map(|(a, b, c, d, e)| from_parts(a, b, c, d, e))
            .collect()
    }

    /// Sets an agency's status. `NotFound` when it is not registered.
    pub async fn set_agency_status(
        &self,
        id: &str,
        status: AgencyStatus,
    ) -> Result<(), StoreError> {
        let sql = "UPDATE agencies SET status = $1, updated_at = $2 WHERE id = $3";
        let at = now();
        let affected = on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .bind(status.as_str())
                .bind(&at)
                .bind(id)
                .execute(p)
                .await?
                .rows_affected()
        });
        if affected == 0 {
            return Err(StoreError::NotFound(format!("agency {id}")));
        }
        Ok(())
    }
}
