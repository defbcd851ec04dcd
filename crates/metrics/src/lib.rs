//! vawg-metrics: the central aggregator's `MetricsService`.
//!
//! Every query reads the aggregate tables (never the raw records; the store first applies
//! every change acknowledged before the query), grouped in SQL on the narrowest roll-up that
//! has the requested breakdowns, computes the metric, and applies statistical disclosure
//! control to every cell before it leaves. Nobody gets record-level data here.
//!
//! The metrics are those of the catalogue (`vawg_domain::aggregate::CATALOGUE`, a reviewed data
//! file): every metric is read the same way, by its computation, so a new metric needs no code
//! here. A query is checked and resolved into a plan (the private module `plan`: what to read),
//! and the plan turns the rows read into the released table (`plan::table`). Errors are
//! [`MetricsError`], classified into the hub's one error model and converted to a gRPC status
//! only through `vawg_proto::error::status`.

use std::sync::LazyLock;

use tonic::{Request, Response, Status};
use vawg_domain::{
    aggregate::{
        self, Computation, MetricDef,
        publication::{self, PUBLICATIONS, financial_year_start},
    },
    disclosure::DisclosureRules,
    identity::{AgencyKind, CallerIdentity},
};
use vawg_firewall::Firewall;
use vawg_policy::Flow;
use vawg_proto::{
    error::IntoStatus,
    pb::{self, metrics_service_server::MetricsService},
};
use vawg_store::{
    Store,
    aggregates::{AggregateFilter, Dimension},
};

mod error;
mod plan;

pub use error::MetricsError;
use error::invalid;
use plan::{Plan, no_data};
pub use plan::{label, statistic};

/// The gRPC methods, as the audit log names them.
const QUERY_METRIC: &str = "/vawg.v1.MetricsService/QueryMetric";
const COMPARE_DEFINITIONS: &str = "/vawg.v1.MetricsService/CompareDefinitions";
const GET_PUBLICATION_TABLE: &str = "/vawg.v1.MetricsService/GetPublicationTable";

/// The code for England and Wales as a whole.
pub const ENGLAND_AND_WALES: &str = "K04000001";

/// The aggregator.
#[derive(Clone)]
pub struct MetricsApi {
    store: Store,
    rules: DisclosureRules,
    current_definition: String,
    firewall: Firewall,
}

impl MetricsApi {
    /// Over a store, with the hub's default disclosure rules and current definition version;
    /// every query is decided by, and audited through, `firewall`.
    ///
    /// Panics if the embedded metric catalogue is invalid (a unit test of `vawg-domain` rules
    /// that out).
    pub fn new(
        store: Store,
        rules: DisclosureRules,
        current_definition: impl Into<String>,
        firewall: Firewall,
    ) -> Self {
        // The catalogue is parsed and validated on first use: do it now, so an invalid
        // catalogue stops the hub at start-up (with the file, line and field) rather than
        // failing queries.
        LazyLock::force(&aggregate::CATALOGUE);
        LazyLock::force(&PUBLICATIONS);
        Self {
            store,
            rules,
            current_definition: current_definition.into(),
            firewall,
        }
    }

    /// Asks the firewall whether `caller` may read aggregates for statistics (so the policy
    /// files govern the aggregator too), and audits the decision with what was asked: the
    /// metric, victim scopes and counting rules — catalogue ids and enum names only, never
    /// text from the request that is not one of them.
    pub async fn authorise(
        &self,
        caller: &CallerIdentity,
        rpc: &str,
        query: &pb::MetricQuery,
        variants: &[(i32, i32)],
    ) -> Result<(), MetricsError> {
        let mut flow = Flow::new(pb::Action::ReadAggregates, pb::Purpose::Statistics, rpc);
        flow.categories = query.categories.clone();
        let mut decision = self.firewall.decide(caller, &flow);
        // Publication tables are prepared for release by the central team: for anyone else the
        // refusal is decided here, before the audit entry, so the log shows it as refused.
        if rpc == GET_PUBLICATION_TABLE
            && decision.allowed
            && caller.agency_kind != AgencyKind::CentralAnalyst
        {
            decision.allowed = false;
            decision.policy_ids = vec!["code-rule:publication-tables-central-only".into()];
            decision.reason = format!(
                "agency {}: publication tables are prepared for release by the central team; \
                 agencies read figures through QueryMetric.",
                caller.agency_id
            );
        }
        let metric = aggregate::metric(&query.metric_id)
            .map(|d| d.id.as_str())
            .unwrap_or("(not in the catalogue)");
        let variants: Vec<String> = variants
            .iter()
            .map(|(scope, rule)| {
                format!(
                    "{}/{}",
                    pb::VictimScope::try_from(*scope)
                        .unwrap_or_default()
                        .as_str_name(),
                    pb::CountingRule::try_from(*rule)
                        .unwrap_or_default()
                        .as_str_name()
                )
            })
            .collect();
        // The protection asked for is audited too: an exact, not-for-release answer to the
        // central team is visible in the log as such.
        let protection = pb::Protection::try_from(query.protection).unwrap_or_default();
        let given = if rpc == GET_PUBLICATION_TABLE {
            pb::Protection::Suppression.as_str_name()
        } else {
            plan::protection_of(caller, query)
                .map(|p| p.as_str_name())
                .unwrap_or("none (refused)")
        };
        decision.reason = format!(
            "{} Query: metric {metric}; scope/rule {}; {} area code(s); {} breakdown(s); \
             protection asked {}, given {given}.",
            decision.reason,
            variants.join(", "),
            query.area_codes.len(),
            query.breakdowns.len(),
            protection.as_str_name()
        );
        self.firewall
            .audit(caller, &flow, &decision, &[])
            .await
            .inspect_err(|e| tracing::error!(error = %e, "audit append failed; query refused"))?;
        if !decision.allowed {
            tracing::info!(
                agency_id = %caller.agency_id,
                hard_rule = decision.hard_rule,
                "metrics query refused by the firewall"
            );
            return Err(MetricsError::Forbidden(decision.reason));
        }
        Ok(())
    }

    /// Runs one query for a caller.
    pub async fn query(
        &self,
        caller: &CallerIdentity,
        query: &pb::MetricQuery,
    ) -> Result<pb::MetricTable, MetricsError> {
        let plan = Plan::new(caller, query, self.rules, &self.current_definition)?;
        let rows = self
            .store
            .aggregate_rows(&plan.filter, &plan.group_by)
            .await?;
        Ok(plan.table(rows))
    }
}

/// Checks a query as [`MetricsApi::query`] would before reading anything: the metric, the
/// definition version, scope, counting rule, period, grain, area level, breakdowns and
/// statistic. Pure, so the fuzz target runs it on arbitrary decoded requests.
pub fn validate_query(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
    rules: DisclosureRules,
    current_definition: &str,
) -> Result<(), MetricsError> {
    Plan::new(caller, query, rules, current_definition).map(|_| ())
}

/// What [`MetricsApi::query`] reads from the store for `query`: the aggregate filter and the
/// dimensions the database groups by (the store reads the narrowest table that has them all;
/// see [`vawg_store::rollup::table_for_read`]).
pub fn aggregate_read(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
    rules: DisclosureRules,
    current_definition: &str,
) -> Result<(AggregateFilter, Vec<Dimension>), MetricsError> {
    Plan::new(caller, query, rules, current_definition).map(|p| (p.filter, p.group_by))
}

/// A catalogue metric as `ListMetrics` describes it.
fn descriptor(m: &MetricDef) -> pb::MetricDescriptor {
    let mut breakdowns = vec![
        pb::Breakdown::Area,
        pb::Breakdown::Category,
        pb::Breakdown::Sex,
        pb::Breakdown::AgeBand,
        pb::Breakdown::EthnicGroup,
        pb::Breakdown::Disability,
        pb::Breakdown::ImmigrationStatus,
    ];
    if m.subtype.is_some() {
        breakdowns.push(pb::Breakdown::Subtype);
    }
    if aggregate::by_domestic_context(m) {
        breakdowns.push(pb::Breakdown::DomesticAbuseRelated);
    }
    if aggregate::profile_series(m).is_some() {
        breakdowns.extend([
            pb::Breakdown::SuspectSex,
            pb::Breakdown::SuspectAgeBand,
            pb::Breakdown::SuspectEthnicGroup,
            pb::Breakdown::Relationship,
            pb::Breakdown::SexualOrientation,
            pb::Breakdown::GenderIdentity,
        ]);
    }
    pb::MetricDescriptor {
        id: m.id.to_string(),
        title: m.title.to_string(),
        description: match &m.subtype {
            Some(s) => format!("{} Sub-type: {s}.", m.description),
            None => m.description.clone(),
        },
        unit: m.unit as i32,
        outcome: m.outcome as i32,
        owner_agency_kinds: m.owners.iter().map(|k| *k as i32).collect(),
        categories: vec![],
        breakdowns: breakdowns.into_iter().map(|b| b as i32).collect(),
        counting_rule_applies: m.counting_rule_applies,
        event_kinds: m.event_kinds.iter().map(|k| *k as i32).collect(),
        statistics: match m.computation {
            Computation::Days => vec!["mean".into(), "median".into(), "p90".into()],
            Computation::Proportion => vec!["proportion".into()],
            Computation::Amount => vec!["sum".into()],
            Computation::Count => vec!["count".into()],
        },
    }
}

fn caller<T>(request: &Request<T>) -> Result<CallerIdentity, MetricsError> {
    request
        .extensions()
        .get::<CallerIdentity>()
        .cloned()
        .ok_or(MetricsError::Unauthenticated)
}

/// Every victim scope × counting rule pair, scope-major: the three scopes by the four rules.
pub fn all_variants() -> Vec<pb::DefinitionVariant> {
    let scopes = [
        pb::VictimScope::AllVictims,
        pb::VictimScope::WomenAndGirls,
        pb::VictimScope::Aged16Plus,
    ];
    let rules = [
        pb::CountingRule::AllOffences,
        pb::CountingRule::PrincipalCrime,
        pb::CountingRule::PrincipalPlusCourseOfConduct,
        pb::CountingRule::OnePerRelationship,
    ];
    scopes
        .iter()
        .flat_map(|s| {
            rules.iter().map(|r| pb::DefinitionVariant {
                victim_scope: *s as i32,
                counting_rule: *r as i32,
            })
        })
        .collect()
}

#[tonic::async_trait]
impl MetricsService for MetricsApi {
    async fn list_metrics(
        &self,
        request: Request<pb::ListMetricsRequest>,
    ) -> Result<Response<pb::ListMetricsResponse>, Status> {
        caller(&request).into_status()?;
        Ok(Response::new(pb::ListMetricsResponse {
            metrics: aggregate::CATALOGUE.iter().map(descriptor).collect(),
        }))
    }

    async fn query_metric(
        &self,
        request: Request<pb::QueryMetricRequest>,
    ) -> Result<Response<pb::QueryMetricResponse>, Status> {
        self.query_metric_rpc(request)
            .await
            .into_status()
            .map(Response::new)
    }

    async fn compare_definitions(
        &self,
        request: Request<pb::CompareDefinitionsRequest>,
    ) -> Result<Response<pb::CompareDefinitionsResponse>, Status> {
        self.compare_definitions_rpc(request)
            .await
            .into_status()
            .map(Response::new)
    }

    async fn list_publication_tables(
        &self,
        request: Request<pb::ListPublicationTablesRequest>,
    ) -> Result<Response<pb::ListPublicationTablesResponse>, Status> {
        caller(&request).into_status()?;
        Ok(Response::new(pb::ListPublicationTablesResponse {
            tables: PUBLICATIONS.iter().map(|t| t.to_pb()).collect(),
        }))
    }

    async fn get_publication_table(
        &self,
        request: Request<pb::GetPublicationTableRequest>,
    ) -> Result<Response<pb::GetPublicationTableResponse>, Status> {
        self.get_publication_table_rpc(request)
            .await
            .into_status()
            .map(Response::new)
    }
}

/// The RPCs, with the service's own errors (converted once, in the trait methods above).
impl MetricsApi {
    async fn query_metric_rpc(
        &self,
        request: Request<pb::QueryMetricRequest>,
    ) -> Result<pb::QueryMetricResponse, MetricsError> {
        let who = caller(&request)?;
        let query = request
            .into_inner()
            .query
            .ok_or_else(|| invalid("query", "required"))?;
        self.authorise(
            &who,
            QUERY_METRIC,
            &query,
            &[(query.victim_scope, query.counting_rule)],
        )
        .await?;
        let table = self.query(&who, &query).await?;
        Ok(pb::QueryMetricResponse { table: Some(table) })
    }

    /// A fixed publication table for one financial year, for the central team, which prepares
    /// tables for release: checked, audited like every query, then suppressed across the whole
    /// table.
    async fn get_publication_table_rpc(
        &self,
        request: Request<pb::GetPublicationTableRequest>,
    ) -> Result<pb::GetPublicationTableResponse, MetricsError> {
        let who = caller(&request)?;
        let req = request.into_inner();
        let table = publication::publication(&req.table_id)
            .ok_or_else(|| MetricsError::UnknownPublication(req.table_id.clone()))?;
        let start = financial_year_start(&req.financial_year).ok_or_else(|| {
            invalid(
                "financial_year",
                format!(
                    "'{}' is not a financial year written like 2024-25",
                    req.financial_year
                ),
            )
        })?;
        let query = table.query(Some(start));
        self.authorise(
            &who,
            GET_PUBLICATION_TABLE,
            &query,
            &[(query.victim_scope, query.counting_rule)],
        )
        .await?;
        let plan = Plan::publication(table, start, self.rules, &self.current_definition)?;
        let rows = self
            .store
            .aggregate_rows(&plan.filter, &plan.group_by)
            .await?;
        Ok(pb::GetPublicationTableResponse {
            publication: Some(table.to_pb()),
            table: Some(plan.table(rows)),
        })
    }

    async fn compare_definitions_rpc(
        &self,
        request: Request<pb::CompareDefinitionsRequest>,
    ) -> Result<pb::CompareDefinitionsResponse, MetricsError> {
        let who = caller(&request)?;
        let req = request.into_inner();
        let base = req.query.ok_or_else(|| invalid("query", "required"))?;
        let variants = if req.variants.is_empty() {
            all_variants()
        } else {
            req.variants
        };
        let asked: Vec<(i32, i32)> = variants
            .iter()
            .map(|v| (v.victim_scope, v.counting_rule))
            .collect();
        self.authorise(&who, COMPARE_DEFINITIONS, &base, &asked)
            .await?;
        let mut tables = Vec::new();
        let mut first: Option<f64> = None;
        for variant in variants {
            let mut q = base.clone();
            q.victim_scope = variant.victim_scope;
            q.counting_rule = variant.counting_rule;
            q.grain = pb::TimeGrain::WholePeriod as i32;
            let table = self.query(&who, &q).await?;
            let total = table
                .totals
                .first()
                .and_then(|r| r.cell)
                .unwrap_or_else(no_data);
            let released = matches!(
                pb::DisclosureStatus::try_from(total.status),
                Ok(pb::DisclosureStatus::Released
                    | pb::DisclosureStatus::Rounded
                    | pb::DisclosureStatus::Perturbed
                    | pb::DisclosureStatus::ExactNotForRelease)
            );
            let difference = match (first, released) {
                (Some(f), true) if f != 0.0 => (total.value - f) / f,
                _ => 0.0,
            };
            if tables.is_empty() && released {
                first = Some(total.value);
            }
            tables.push(pb::ComparedTable {
                variant: Some(variant),
                table: Some(table),
                total: Some(total),
                difference_from_first: difference,
            });
        }
        Ok(pb::CompareDefinitionsResponse { tables })
    }
}
