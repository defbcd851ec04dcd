//! Readable tables for the central team (the demo and `vawg-hub metrics`): metric tables as
//! aligned text, CSV or JSON, with suppressed cells marked, never shown as zero, and definition
//! comparisons side by side.

use vawg_proto::pb;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text.
    Table,
    /// Comma-separated values.
    Csv,
    /// JSON.
    Json,
}

/// The GSS shorthand of a cell's symbol (`[c]`, `[x]`, `[z]`, `[u]`, `[low]`), empty for none.
/// A withheld or empty cell from a hub that predates symbols gets its symbol from its status.
pub fn symbol_text(cell: &pb::Cell) -> &'static str {
    use pb::{DisclosureStatus as S, GssSymbol as G};
    match G::try_from(cell.symbol).unwrap_or(G::Unspecified) {
        G::Confidential => "[c]",
        G::NotAvailable => "[x]",
        G::NotApplicable => "[z]",
        G::LowReliability => "[u]",
        G::Low => "[low]",
        G::Unspecified => match S::try_from(cell.status).unwrap_or(S::Unspecified) {
            S::SuppressedPrimary | S::SuppressedSecondary | S::SuppressedSmallBase => "[c]",
            S::NoData => "[x]",
            _ => "",
        },
    }
}

/// The text of a cell: the value (followed by `[u]` when of low reliability), or the symbol
/// alone for withheld and empty cells.
pub fn cell_text(cell: &pb::Cell, unit: pb::MetricUnit) -> String {
    if withheld(cell) {
        return symbol_text(cell).to_string();
    }
    let value = match unit {
        pb::MetricUnit::Proportion => format!("{:.1}%", cell.value * 100.0),
        pb::MetricUnit::Days => format!("{:.1}", cell.value),
        pb::MetricUnit::Pence => format!("£{:.0}", cell.value / 100.0),
        _ => format!("{}", cell.value as i64),
    };
    match symbol_text(cell) {
        "" => value,
        s => format!("{value} {s}"),
    }
}

/// The legend printed under tables with symbols: the Government Statistical Service's.
pub const LEGEND: &str = "[c] confidential: withheld by disclosure control; [x] not available; \
     [z] not applicable (no base); [u] low reliability (fewer than 20)";

fn status_name(cell: &pb::Cell) -> &'static str {
    match pb::DisclosureStatus::try_from(cell.status).unwrap_or(pb::DisclosureStatus::Unspecified) {
        pb::DisclosureStatus::Released => "released",
        pb::DisclosureStatus::Rounded => "rounded",
        pb::DisclosureStatus::SuppressedPrimary => "suppressed",
        pb::DisclosureStatus::SuppressedSecondary => "suppressed_secondary",
        pb::DisclosureStatus::NoData => "no_data",
        pb::DisclosureStatus::Perturbed => "perturbed",
        pb::DisclosureStatus::ExactNotForRelease => "exact_not_for_release",
        pb::DisclosureStatus::SuppressedSmallBase => "suppressed_small_base",
        pb::DisclosureStatus::Unspecified => "unspecified",
    }
}

/// Aligned columns from rows of strings (first row is the header).
pub fn align(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = widths[c].saturating_sub(s.chars().count());
                // Numbers right-aligned, text left-aligned.
                if c + 1 == row.len() && i > 0 {
                    format!("{}{s}", " ".repeat(pad))
                } else {
                    format!("{s}{}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str("  ");
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            out.push_str("  ");
            out.push_str(
                &widths
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  "),
            );
            out.push('\n');
        }
    }
    out
}

/// Renders a metric table.
pub fn render(table: &pb::MetricTable, unit: pb::MetricUnit, format: Format) -> String {
    let exact = table.protection() == pb::Protection::ExactNotForRelease;
    match format {
        Format::Table if exact => format!("{NOT_FOR_RELEASE}\n{}", render_table(table, unit)),
        Format::Table => render_table(table, unit),
        Format::Csv if exact => format!("# {NOT_FOR_RELEASE}\n{}", render_csv(table)),
        Format::Csv => render_csv(table),
        Format::Json => render_json(table),
    }
}

/// The banner above every exact table (the central team's, on request).
pub const NOT_FOR_RELEASE: &str = "EXACT FIGURES, NOT FOR RELEASE: publish only the fixed \
     publication tables (suppressed) or perturbed figures";

/// Aligned text: a row per cell, then the totals, and the legend when cells are withheld.
fn render_table(table: &pb::MetricTable, unit: pb::MetricUnit) -> String {
    let value_header = match unit {
        pb::MetricUnit::Proportion => "proportion",
        pb::MetricUnit::Days => "days",
        pb::MetricUnit::Pence => "amount",
        _ => "count",
    };
    let mut rows = vec![
        table
            .dimensions
            .iter()
            .cloned()
            .chain([value_header.to_string()])
            .collect::<Vec<_>>(),
    ];
    for r in &table.rows {
        let mut row: Vec<String> = r.dimensions.iter().map(|d| d.label.clone()).collect();
        row.push(
            r.cell
                .as_ref()
                .map(|c| cell_text(c, unit))
                .unwrap_or_default(),
        );
        rows.push(row);
    }
    for t in &table.totals {
        let mut row = vec![
            t.dimensions
                .first()
                .map(|d| d.label.clone())
                .unwrap_or_default(),
        ];
        row.extend(std::iter::repeat_n(
            "All".to_string(),
            table.dimensions.len().saturating_sub(1),
        ));
        row.push(
            t.cell
                .as_ref()
                .map(|c| cell_text(c, unit))
                .unwrap_or_default(),
        );
        rows.push(row);
    }
    let mut out = align(&rows);
    let any_symbol = table
        .rows
        .iter()
        .chain(&table.totals)
        .any(|r| r.cell.as_ref().is_some_and(|c| !symbol_text(c).is_empty()));
    if any_symbol {
        out.push_str(&format!("  {LEGEND}\n"));
    }
    out
}

/// Whether a cell carries a value (released, rounded, perturbed or exact).
pub fn has_value(cell: &pb::Cell) -> bool {
    !withheld(cell)
}

/// Withheld and empty cells have no value in CSV and JSON.
fn withheld(cell: &pb::Cell) -> bool {
    status_name(cell).starts_with("suppressed") || status_name(cell) == "no_data"
}

/// CSV: the dimensions (`*` for a total's missing ones), value, status, base and GSS symbol.
fn render_csv(table: &pb::MetricTable) -> String {
    let mut out = table.dimensions.join(",");
    out.push_str(",value,status,base,symbol\n");
    for r in table.rows.iter().chain(&table.totals) {
        let dims: Vec<String> = r.dimensions.iter().map(|d| csv_field(&d.value)).collect();
        let mut dims = dims;
        dims.resize(table.dimensions.len(), "*".to_string());
        let cell = r.cell.unwrap_or_default();
        let value = if withheld(&cell) {
            String::new()
        } else {
            format!("{}", cell.value)
        };
        out.push_str(&format!(
            "{},{value},{},{},{}\n",
            dims.join(","),
            status_name(&cell),
            if withheld(&cell) { 0 } else { cell.base },
            symbol_text(&cell)
        ));
    }
    out
}

/// JSON: the query's metric, rows and totals (withheld values null), and the disclosure
/// settings.
fn render_json(table: &pb::MetricTable) -> String {
    let row = |r: &pb::MetricRow| {
        let cell = r.cell.unwrap_or_default();
        serde_json::json!({
            "dimensions": r.dimensions.iter().map(|d| (d.dimension.clone(), serde_json::Value::String(d.value.clone()))).collect::<serde_json::Map<_, _>>(),
            "value": if withheld(&cell) { serde_json::Value::Null } else { serde_json::json!(cell.value) },
            "status": status_name(&cell),
            "base": if withheld(&cell) { serde_json::Value::Null } else { serde_json::json!(cell.base) },
            "symbol": symbol_text(&cell),
        })
    };
    let json = serde_json::json!({
        "metric": table.query.as_ref().map(|q| q.metric_id.clone()),
        "dimensions": table.dimensions,
        "rows": table.rows.iter().map(row).collect::<Vec<_>>(),
        "totals": table.totals.iter().map(row).collect::<Vec<_>>(),
        "suppression_threshold": table.suppression_threshold,
        "rounding_base": table.rounding_base,
        "protection": table.protection().as_str_name(),
        "not_for_release": table.protection() == pb::Protection::ExactNotForRelease,
        "notes": table.notes,
    });
    serde_json::to_string_pretty(&json).unwrap_or_default() + "\n"
}

/// Side-by-side text of a definition comparison.
pub fn render_comparison(
    response: &pb::CompareDefinitionsResponse,
    unit: pb::MetricUnit,
) -> String {
    let mut rows = vec![vec![
        "victim scope".to_string(),
        "counting rule".to_string(),
        "total".to_string(),
        "vs first".to_string(),
    ]];
    for t in &response.tables {
        let v = t.variant.unwrap_or_default();
        let scope = pb::VictimScope::try_from(v.victim_scope)
            .unwrap_or_default()
            .as_str_name();
        let rule = pb::CountingRule::try_from(v.counting_rule)
            .unwrap_or_default()
            .as_str_name();
        let total = t.total.map(|c| cell_text(&c, unit)).unwrap_or_default();
        rows.push(vec![
            scope.trim_start_matches("VICTIM_SCOPE_").to_string(),
            rule.trim_start_matches("COUNTING_RULE_").to_string(),
            total,
            format!("{:+.1}%", t.difference_from_first * 100.0),
        ]);
    }
    align(&rows)
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> pb::MetricTable {
        let row = |area: &str, value: f64, status: pb::DisclosureStatus| pb::MetricRow {
            dimensions: vec![
                pb::DimensionValue {
                    dimension: "period".into(),
                    value: "2025-01".into(),
                    label: "2025-01".into(),
                },
                pb::DimensionValue {
                    dimension: "area".into(),
                    value: area.into(),
                    label: area.into(),
                },
            ],
            cell: Some(pb::Cell {
                value,
                status: status as i32,
                base: value as u64,
                symbol: 0,
            }),
        };
        pb::MetricTable {
            dimensions: vec!["period".into(), "area".into()],
            rows: vec![
                row("E23000001", 20.0, pb::DisclosureStatus::SuppressedSecondary),
                row("E23000002", 0.0, pb::DisclosureStatus::SuppressedPrimary),
            ],
            totals: vec![pb::MetricRow {
                dimensions: vec![pb::DimensionValue {
                    dimension: "period".into(),
                    value: "2025-01".into(),
                    label: "2025-01".into(),
                }],
                cell: Some(pb::Cell {
                    value: 23.0,
                    status: pb::DisclosureStatus::Released as i32,
                    base: 23,
                    symbol: 0,
                }),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn suppressed_cells_are_marked_never_zero() {
        let text = render(&table(), pb::MetricUnit::Count, Format::Table);
        assert!(
            text.contains("[c]") && !text.contains("[c2]") && text.contains(LEGEND),
            "{text}"
        );
        assert!(!text.contains(" 20\n"), "a suppressed value leaked: {text}");
        let csv = render(&table(), pb::MetricUnit::Count, Format::Csv);
        assert!(csv.contains("2025-01,E23000002,,suppressed,0,[c]"), "{csv}");
        assert!(
            csv.contains("2025-01,E23000001,,suppressed_secondary,0,[c]"),
            "the secondary's value and base never leave: {csv}"
        );
        assert!(csv.contains("2025-01,*,23,released,23,"), "{csv}");
        let low = pb::Cell {
            value: 0.25,
            status: pb::DisclosureStatus::Perturbed as i32,
            base: 12,
            symbol: pb::GssSymbol::LowReliability as i32,
        };
        assert_eq!(cell_text(&low, pb::MetricUnit::Proportion), "25.0% [u]");
        let json = render(&table(), pb::MetricUnit::Count, Format::Json);
        assert!(json.contains("\"value\": null"), "{json}");
    }
}
