// The dashboard's views. Each renders its controls, charts and data tables into a container,
// and returns the rows its CSV export holds (the same figures as its tables, marks included).

import { type Hub } from "./api";
import { AreaLevel, CountingRule, VictimScope } from "./gen/vawg/v1/common_pb";
import { type Category } from "./gen/vawg/v1/definition_pb";
import {
  Breakdown,
  type MetricDescriptor,
  type MetricRow,
  type MetricTable,
  MetricUnit,
  Outcome,
  TimeGrain,
} from "./gen/vawg/v1/metrics_pb";
import { cellState, cellText, csvValue, parseDate, plotValue, statusName, unitLabel } from "./format";
import { chart, el, input, select, type Series, table, type TableCell } from "./ui";

/** What every view can read. */
export interface Context {
  hub: Hub;
  catalogue: MetricDescriptor[];
  categories: Category[];
  /** The period chosen in the header, `yyyy-mm-dd`. */
  from: string;
  to: string;
  /** The view's parameters from the address (`#/view?key=value`). */
  params: URLSearchParams;
  /** Replaces the view's parameters (re-renders the view). */
  navigate: (params: Record<string, string>) => void;
}

/** What a view produced. */
export interface Rendered {
  /** CSV rows (header first). */
  csv: string[][];
}

/** A view. */
export interface View {
  id: string;
  title: string;
  description: string;
  render: (root: HTMLElement, ctx: Context) => Promise<Rendered>;
}

/** The fields of a `MetricQuery` the views set. */
interface Query {
  metricId: string;
  victimScope: VictimScope;
  countingRule: CountingRule;
  period: { start: ReturnType<typeof parseDate>; end: ReturnType<typeof parseDate> };
  grain: TimeGrain;
  areaLevel: AreaLevel;
  breakdowns?: Breakdown[];
  categories?: string[];
  areaCodes?: string[];
  statistic?: string;
}

const SCOPES: [VictimScope, string][] = [
  [VictimScope.ALL_VICTIMS, "All victims (Home Office)"],
  [VictimScope.WOMEN_AND_GIRLS, "Women and girls (police forces)"],
  [VictimScope.AGED_16_PLUS, "Aged 16 and over (Crime Survey)"],
];
const RULES: [CountingRule, string][] = [
  [CountingRule.ALL_OFFENCES, "All offences"],
  [CountingRule.PRINCIPAL_CRIME, "Principal crime"],
  [CountingRule.PRINCIPAL_PLUS_COURSE_OF_CONDUCT, "Principal + course of conduct (2017–2023)"],
];
const GRAINS: [TimeGrain, string][] = [
  [TimeGrain.MONTH, "Month"],
  [TimeGrain.QUARTER, "Quarter"],
  [TimeGrain.FINANCIAL_YEAR, "Financial year"],
  [TimeGrain.WHOLE_PERIOD, "Whole period"],
];
const LEVELS: [AreaLevel, string][] = [
  [AreaLevel.POLICE_FORCE_AREA, "Police force area"],
  [AreaLevel.LOCAL_AUTHORITY, "Local authority"],
  [AreaLevel.INTEGRATED_CARE_BOARD, "Integrated care board"],
  [AreaLevel.ENGLAND_AND_WALES, "England and Wales"],
];
const BREAKDOWN_NAMES: Record<number, string> = {
  [Breakdown.AREA]: "Area",
  [Breakdown.CATEGORY]: "Category",
  [Breakdown.SEX]: "Sex",
  [Breakdown.AGE_BAND]: "Age band",
  [Breakdown.ETHNIC_GROUP]: "Ethnic group",
  [Breakdown.DISABILITY]: "Disability",
  [Breakdown.IMMIGRATION_STATUS]: "Immigration status",
  [Breakdown.SUBTYPE]: "Sub-type",
};
const OUTCOMES: Record<number, string> = {
  [Outcome.REPORTING]: "Reporting",
  [Outcome.JUSTICE]: "Justice",
  [Outcome.VICTIM_ENGAGEMENT]: "Victim engagement",
  [Outcome.PROTECTION]: "Protection",
  [Outcome.SUPPORT]: "Support",
  [Outcome.PREVALENCE]: "Prevalence",
  [Outcome.MULTI_AGENCY]: "Multi-agency",
  [Outcome.PERPETRATORS]: "Perpetrators",
};
const UNITS: Record<number, string> = {
  [MetricUnit.COUNT]: "Count",
  [MetricUnit.PROPORTION]: "Proportion",
  [MetricUnit.DAYS]: "Days",
  [MetricUnit.PENCE]: "Money (£)",
};

function descriptor(ctx: Context, id: string): MetricDescriptor {
  const d = ctx.catalogue.find((m) => m.id === id);
  if (!d) throw new Error(`The hub's catalogue has no metric "${id}".`);
  return d;
}

function baseQuery(ctx: Context, metricId: string, extra: Partial<Query> = {}): Query {
  return {
    metricId,
    victimScope: VictimScope.ALL_VICTIMS,
    countingRule: CountingRule.ALL_OFFENCES,
    period: { start: parseDate(ctx.from), end: parseDate(ctx.to) },
    grain: TimeGrain.WHOLE_PERIOD,
    areaLevel: AreaLevel.POLICE_FORCE_AREA,
    ...extra,
  };
}

async function query(ctx: Context, q: Query): Promise<MetricTable> {
  const res = await ctx.hub.metrics.queryMetric({ query: q });
  if (!res.table) throw new Error("The hub returned no table.");
  return res.table;
}

function notes(t: MetricTable): HTMLElement | null {
  const items = [...t.notes, `Counts from 1 to ${t.suppressionThreshold - 1} are withheld ([c]).`];
  if (t.roundingBase > 1) items.push(`Released values are rounded to the nearest ${t.roundingBase}.`);
  return el("ul", { class: "notes", "aria-label": "Notes on these figures" }, items.map((n) => el("li", {}, n)));
}

function label(row: MetricRow, i: number): string {
  return row.dimensions[i]?.label || row.dimensions[i]?.value || "";
}

function num(text: string): TableCell {
  return { text, numeric: true };
}

/** A form whose fields re-render the view when changed or submitted. */
function controls(ctx: Context, fields: HTMLElement[]): HTMLElement {
  const form = el("form", { class: "controls", "aria-label": "Query" }, fields, el("button", { type: "submit" }, "Show"));
  const apply = (e: Event) => {
    e.preventDefault();
    const params: Record<string, string> = {};
    for (const [k, v] of new FormData(form)) params[k] = String(v);
    ctx.navigate(params);
  };
  form.addEventListener("submit", apply);
  form.addEventListener("change", apply);
  return form;
}

function metricOptions(ctx: Context, filter: (m: MetricDescriptor) => boolean = () => true): [string, string][] {
  return ctx.catalogue.filter(filter).map((m) => [m.id, m.title]);
}

/** The catalogue of metrics, each linking to its time series. */
const catalogueView: View = {
  id: "catalogue",
  title: "Metric catalogue",
  description: "Every metric the hub computes, what it measures, whose records it draws on, and how it can be broken down.",
  async render(root, ctx) {
    const header = ["Metric", "Description", "Unit", "Outcome", "Data owners", "Breakdowns", "Statistics", "Counting rule applies"];
    const rows = ctx.catalogue.map((m) => [
      m.title,
      m.description,
      UNITS[m.unit] ?? "",
      OUTCOMES[m.outcome] ?? "",
      m.ownerAgencyKinds.map((k) => agencyKind(k)).join(", "),
      m.breakdowns.map((b) => BREAKDOWN_NAMES[b] ?? "").join(", "),
      m.statistics.join(", "),
      m.countingRuleApplies ? "yes" : "no",
    ]);
    const t = table(`${ctx.catalogue.length} metrics`, header, rows, "catalogue-table");
    // Each metric's name links to its time series.
    t.querySelectorAll("tbody tr").forEach((tr, i) => {
      const m = ctx.catalogue[i];
      const th = tr.querySelector("th");
      if (m && th) {
        th.textContent = "";
        th.append(el("a", { href: `#/metric?metric=${encodeURIComponent(m.id)}` }, m.title));
      }
    });
    root.append(t);
    return { csv: [["id", ...header], ...ctx.catalogue.map((m, i) => [m.id, ...(rows[i] ?? [])])] };
  },
};

function agencyKind(k: number): string {
  const names = [
    "",
    "Police",
    "CPS",
    "Courts",
    "Health",
    "Local authorities",
    "Schools",
    "Support services",
    "Probation",
    "Central analysts",
    "Immigration enforcement",
    "MARAC",
    "Commissioners",
  ];
  return names[k] ?? String(k);
}

/** Series from a table: one per combination of breakdown values, over the periods. */
function seriesOf(t: MetricTable, unit: MetricUnit, maxSeries: number) {
  const periods = [...new Set(t.rows.map((r) => r.dimensions[0]?.value ?? ""))].sort();
  const byKey = new Map<string, Map<string, MetricRow>>();
  for (const r of t.rows) {
    const key = r.dimensions.slice(1).map((d) => d.label || d.value).join(" · ") || "Value";
    if (!byKey.has(key)) byKey.set(key, new Map());
    byKey.get(key)?.set(r.dimensions[0]?.value ?? "", r);
  }
  const omitted: string[] = [];
  const all: (Series & { total: number })[] = [...byKey.entries()].map(([key, cells]) => {
    const data = periods.map((p) => {
      const cell = cells.get(p)?.cell;
      const state = cellState(cell);
      if (state === "suppressed" || state === "suppressed-secondary") omitted.push(`${key} ${p}`);
      return plotValue(cell, unit);
    });
    return { label: key, data, total: data.reduce<number>((a, v) => a + (v ?? 0), 0) };
  });
  all.sort((a, b) => b.total - a.total);
  return { periods, series: all.slice(0, maxSeries), hidden: Math.max(0, all.length - maxSeries), omitted };
}

/** Any metric as a time series and a table, by area and category, with breakdowns. */
const metricView: View = {
  id: "metric",
  title: "Metric explorer",
  description: "Any metric over time, under a chosen victim scope and counting rule, broken down by up to two dimensions.",
  async render(root, ctx) {
    const p = ctx.params;
    const metricId = p.get("metric") || "recorded_crimes";
    const d = descriptor(ctx, metricId);
    const grain = Number(p.get("grain") || TimeGrain.QUARTER) as TimeGrain;
    const level = Number(p.get("level") || AreaLevel.POLICE_FORCE_AREA) as AreaLevel;
    const scope = Number(p.get("scope") || VictimScope.ALL_VICTIMS) as VictimScope;
    const rule = Number(p.get("rule") || CountingRule.ALL_OFFENCES) as CountingRule;
    const by1 = Number(p.get("by1") || Breakdown.CATEGORY) as Breakdown;
    const by2 = Number(p.get("by2") || 0) as Breakdown;
    const category = p.get("category") || "";
    const areas = (p.get("areas") || "").split(",").map((a) => a.trim()).filter(Boolean);
    const statistic = p.get("statistic") || "";
    const breakdownOptions: [string, string][] = [
      ["0", "None"],
      ...d.breakdowns.map((b): [string, string] => [String(b), BREAKDOWN_NAMES[b] ?? String(b)]),
    ];
    const stats = d.statistics.filter((s) => s !== "count");
    root.append(
      controls(ctx, [
        select("Metric", "metric", metricOptions(ctx), metricId),
        select("Time grain", "grain", GRAINS.map(([v, t]) => [String(v), t]), String(grain)),
        select("Victim scope", "scope", SCOPES.map(([v, t]) => [String(v), t]), String(scope), !d.countingRuleApplies),
        select("Counting rule", "rule", RULES.map(([v, t]) => [String(v), t]), String(rule), !d.countingRuleApplies),
        select("Area level", "level", LEVELS.map(([v, t]) => [String(v), t]), String(level)),
        select("Break down by", "by1", breakdownOptions, String(by1)),
        select("and by", "by2", breakdownOptions, String(by2)),
        select("Category", "category", [["", "All categories"], ...ctx.categories.map((c): [string, string] => [c.id, c.name])], category),
        input("Areas (GSS codes, comma-separated)", "areas", "text", areas.join(","), "Empty: every area you may read."),
        stats.length > 1 ? select("Statistic", "statistic", stats.map((s): [string, string] => [s, s]), statistic || stats[0] || "") : null,
      ].filter((x): x is HTMLElement => x !== null)),
      el("p", { class: "description" }, d.description),
    );
    const breakdowns = [by1, by2].filter((b, i, all) => b !== 0 && all.indexOf(b) === i);
    const t = await query(ctx, baseQuery(ctx, metricId, {
      grain,
      areaLevel: level,
      victimScope: d.countingRuleApplies ? scope : VictimScope.ALL_VICTIMS,
      countingRule: d.countingRuleApplies ? rule : CountingRule.ALL_OFFENCES,
      breakdowns,
      categories: category ? [category] : [],
      areaCodes: areas,
      statistic: stats.length > 1 ? statistic || stats[0] : "",
    }));
    const unit = d.unit;
    const { periods, series, hidden, omitted } = seriesOf(t, unit, 8);
    const tableName = `${d.title}: every cell`;
    root.append(
      chart({
        title: `${d.title} by ${grainName(grain)}${breakdowns.length ? `, by ${breakdowns.map((b) => BREAKDOWN_NAMES[b]).join(" and ")}` : ""}`,
        kind: periods.length > 1 ? "line" : "bar",
        labels: periods,
        series,
        yTitle: unitLabel(unit),
        omitted,
        tableName,
      }, "metric-chart"),
    );
    if (hidden) root.append(el("p", { class: "note" }, `The chart shows the 8 largest of ${series.length + hidden} series; the table has them all.`));
    const header = t.dimensions.map(titleCase).concat(["Value"]);
    const rows: TableCell[][] = t.rows.map((r) => [
      ...r.dimensions.map((dv, i) => (i === 0 ? dv.value : dv.label || dv.value)),
      num(cellText(r.cell, unit)),
    ]);
    const totals: TableCell[][] = breakdowns.length
      ? t.totals.map((r) => [r.dimensions[0]?.value ?? "", ...breakdowns.map(() => "All"), num(cellText(r.cell, unit))])
      : [];
    root.append(table(tableName, header, [...rows, ...totals], "metric-table"), notes(t) ?? "");
    return {
      csv: [
        [...t.dimensions, "value", "status", "shown_as", "base"],
        ...t.rows.map((r) => [
          ...r.dimensions.map((dv) => dv.value),
          csvValue(r.cell),
          statusName(r.cell),
          cellText(r.cell, unit),
          String(r.cell?.base ?? ""),
        ]),
        ...t.totals.map((r) => [
          r.dimensions[0]?.value ?? "",
          ...breakdowns.map(() => "ALL"),
          csvValue(r.cell),
          statusName(r.cell),
          cellText(r.cell, unit),
          String(r.cell?.base ?? ""),
        ]),
      ],
    };
  },
};

function titleCase(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, " ");
}

function grainName(g: TimeGrain): string {
  return (GRAINS.find(([v]) => v === g)?.[1] ?? "period").toLowerCase();
}

/** One metric under the three victim scopes × three counting rules, side by side. */
const compareView: View = {
  id: "compare",
  title: "Definition comparison",
  description:
    "The same metric under each victim scope (who counts as a victim) and counting rule (how crimes are counted), side by side — the choices behind different published figures.",
  async render(root, ctx) {
    const metricId = ctx.params.get("metric") || "recorded_crimes";
    const d = descriptor(ctx, metricId);
    root.append(controls(ctx, [select("Metric", "metric", metricOptions(ctx, (m) => m.countingRuleApplies), metricId)]));
    const res = await ctx.hub.metrics.compareDefinitions({ query: baseQuery(ctx, metricId), variants: [] });
    const find = (s: VictimScope, r: CountingRule) =>
      res.tables.find((t) => t.variant?.victimScope === s && t.variant?.countingRule === r);
    const grid: TableCell[][] = SCOPES.map(([s, sName]) => [
      sName,
      ...RULES.map(([r]) => {
        const t = find(s, r);
        return num(t ? cellText(t.total, d.unit) : "-");
      }),
    ]);
    const omitted: string[] = [];
    const series: Series[] = RULES.map(([r, rName]) => ({
      label: rName,
      data: SCOPES.map(([s, sName]) => {
        const cell = find(s, r)?.total;
        const st = cellState(cell);
        if (st === "suppressed" || st === "suppressed-secondary") omitted.push(`${sName}, ${rName}`);
        return plotValue(cell, d.unit);
      }),
    }));
    const tableName = `${d.title}, ${ctx.from} to ${ctx.to}: victim scope (rows) × counting rule (columns)`;
    root.append(
      chart({ title: `${d.title} under each definition`, kind: "bar", labels: SCOPES.map(([, n]) => n), series, yTitle: unitLabel(d.unit), omitted, tableName }, "compare-chart"),
      table(tableName, ["Victim scope", ...RULES.map(([, n]) => n)], grid, "compare-grid"),
    );
    const detail: TableCell[][] = res.tables.map((t) => [
      `${SCOPES.find(([s]) => s === t.variant?.victimScope)?.[1] ?? ""} / ${RULES.find(([r]) => r === t.variant?.countingRule)?.[1] ?? ""}`,
      num(cellText(t.total, d.unit)),
      num(cellState(t.total) === "value" ? `${(t.differenceFromFirst * 100).toFixed(1)}%` : "-"),
    ]);
    root.append(table("Difference of each variant's total from the first (all victims, all offences)", ["Variant", "Total", "Difference from first"], detail, "compare-detail"));
    return {
      csv: [
        ["victim_scope", "counting_rule", "total", "status", "shown_as", "difference_from_first"],
        ...res.tables.map((t) => [
          VictimScope[t.variant?.victimScope ?? 0] ?? "",
          CountingRule[t.variant?.countingRule ?? 0] ?? "",
          csvValue(t.total),
          statusName(t.total),
          cellText(t.total, d.unit),
          cellState(t.total) === "value" ? String(t.differenceFromFirst) : "",
        ]),
      ],
    };
  },
};

/** Cases recorded in the period and how many went on to each later stage. */
const funnelView: View = {
  id: "funnel",
  title: "Attrition funnel",
  description:
    "Cases recorded in the period (the cohort), and how many of them went on to be referred to the CPS, charged, prosecuted and convicted — linked across police, CPS and courts.",
  async render(root, ctx) {
    const t = await query(ctx, baseQuery(ctx, "attrition_funnel", { breakdowns: [Breakdown.SUBTYPE] }));
    const first = t.rows[0]?.cell;
    const recorded = cellState(first) === "value" ? (first?.value ?? 0) : 0;
    const share = (r: MetricRow) =>
      recorded > 0 && cellState(r.cell) === "value" ? `${(((r.cell?.value ?? 0) / recorded) * 100).toFixed(1)}%` : "-";
    const omitted = t.rows.filter((r) => ["suppressed", "suppressed-secondary"].includes(cellState(r.cell))).map((r) => label(r, 1));
    const tableName = `Attrition funnel, cases recorded ${ctx.from} to ${ctx.to}`;
    root.append(
      chart({
        title: "Cases at each stage",
        kind: "bar",
        horizontal: true,
        labels: t.rows.map((r) => label(r, 1)),
        series: [{ label: "Cases", data: t.rows.map((r) => plotValue(r.cell, MetricUnit.COUNT)) }],
        yTitle: "cases",
        omitted,
        tableName,
      }, "funnel-chart"),
      table(tableName, ["Stage", "Cases", "Of recorded"], t.rows.map((r) => [label(r, 1), num(cellText(r.cell, MetricUnit.COUNT)), num(share(r))]), "funnel-table"),
      notes(t) ?? "",
    );
    return {
      csv: [
        ["stage", "cases", "status", "shown_as", "share_of_recorded"],
        ...t.rows.map((r) => [r.dimensions[1]?.value ?? "", csvValue(r.cell), statusName(r.cell), cellText(r.cell, MetricUnit.COUNT), share(r)]),
      ],
    };
  },
};

/** Days from police referral to CPS charge: mean, median and 90th percentile by category. */
const chargeDaysView: View = {
  id: "charge-days",
  title: "Referral to charge",
  description: "Days from a case's first referral to the CPS to its charge: mean, median and 90th percentile by category.",
  async render(root, ctx) {
    const stats = ["mean", "median", "p90"];
    const tables = await Promise.all(
      stats.map((statistic) => query(ctx, baseQuery(ctx, "referral_to_charge_days", { breakdowns: [Breakdown.CATEGORY], statistic }))),
    );
    const keys: { id: string; name: string }[] = [];
    for (const r of tables[0]?.rows ?? []) keys.push({ id: r.dimensions[1]?.value ?? "", name: label(r, 1) });
    keys.push({ id: "", name: "All VAWG" });
    const cellFor = (i: number, id: string) =>
      id === "" ? tables[i]?.totals[0]?.cell : tables[i]?.rows.find((r) => r.dimensions[1]?.value === id)?.cell;
    const omitted: string[] = [];
    const series: Series[] = stats.map((s, i) => ({
      label: s === "p90" ? "90th percentile" : titleCase(s),
      data: keys.map((k) => {
        const cell = cellFor(i, k.id);
        if (["suppressed", "suppressed-secondary"].includes(cellState(cell))) omitted.push(`${k.name} (${s})`);
        return plotValue(cell, MetricUnit.DAYS);
      }),
    }));
    const charges = (k: { id: string }) => {
      const c = cellFor(0, k.id);
      return c && c.base > 0 ? String(c.base) : cellText(c, MetricUnit.COUNT);
    };
    const tableName = `Days from referral to charge by category, charges ${ctx.from} to ${ctx.to}`;
    root.append(
      chart({ title: "Days from referral to charge", kind: "bar", labels: keys.map((k) => k.name), series, yTitle: "days", omitted, tableName }, "charge-days-chart"),
      table(
        tableName,
        ["Category", "Charges", "Mean", "Median", "90th percentile"],
        keys.map((k) => [k.name, num(charges(k)), ...stats.map((_, i) => num(cellText(cellFor(i, k.id), MetricUnit.DAYS)))]),
        "charge-days-table",
      ),
      tables[0] ? (notes(tables[0]) ?? "") : "",
    );
    return {
      csv: [
        ["category", "charges", "mean", "median", "p90"],
        ...keys.map((k) => [k.id || "ALL", charges(k), ...stats.map((_, i) => cellText(cellFor(i, k.id), MetricUnit.DAYS))]),
      ],
    };
  },
};

/** Victim withdrawals by stage: how many, and the share of cases reaching each stage. */
const withdrawalView: View = {
  id: "withdrawal",
  title: "Withdrawal by stage",
  description: "Cases where the victim no longer supports action, by stage (police, CPS, court): the number, and the share of cases reaching that stage.",
  async render(root, ctx) {
    const [rates, counts] = await Promise.all([
      query(ctx, baseQuery(ctx, "withdrawal_rate", { breakdowns: [Breakdown.SUBTYPE] })),
      query(ctx, baseQuery(ctx, "victim_withdrawals", { breakdowns: [Breakdown.SUBTYPE] })),
    ]);
    const stages = rates.rows.map((r) => ({ id: r.dimensions[1]?.value ?? "", name: label(r, 1), rate: r.cell }));
    const countFor = (name: string) => counts.rows.find((r) => label(r, 1) === name)?.cell;
    const omitted = stages.filter((s) => ["suppressed", "suppressed-secondary"].includes(cellState(s.rate))).map((s) => s.name);
    const tableName = `Victim withdrawal by stage, ${ctx.from} to ${ctx.to}`;
    root.append(
      chart({
        title: "Share of cases where the victim withdrew, by stage",
        kind: "bar",
        labels: stages.map((s) => s.name),
        series: [{ label: "Withdrawal rate", data: stages.map((s) => plotValue(s.rate, MetricUnit.PROPORTION)) }],
        yTitle: "%",
        omitted,
        tableName,
      }, "withdrawal-chart"),
      table(
        tableName,
        ["Stage", "Cases reaching the stage", "Withdrawals", "Withdrawal rate"],
        stages.map((s) => [
          s.name,
          num(s.rate && s.rate.base > 0 ? String(s.rate.base) : "-"),
          num(cellText(countFor(s.name), MetricUnit.COUNT)),
          num(cellText(s.rate, MetricUnit.PROPORTION)),
        ]),
        "withdrawal-table",
      ),
      notes(rates) ?? "",
    );
    return {
      csv: [
        ["stage", "cases_reaching_stage", "withdrawals", "withdrawal_rate", "rate_status"],
        ...stages.map((s) => [s.id, s.rate && s.rate.base > 0 ? String(s.rate.base) : "", cellText(countFor(s.name), MetricUnit.COUNT), csvValue(s.rate), statusName(s.rate)]),
      ],
    };
  },
};

/** Support demand (referrals, people supported) against unmet need (unable to support). */
const supportView: View = {
  id: "support",
  title: "Support and unmet need",
  description: "Referrals to specialist support services and people supported, against referred victims a service was unable to support — by quarter, and unmet need by reason.",
  async render(root, ctx) {
    const ids = ["support_referrals", "people_supported", "unable_to_support"];
    const [series, reasons] = await Promise.all([
      Promise.all(ids.map((id) => query(ctx, baseQuery(ctx, id, { grain: TimeGrain.QUARTER })))),
      query(ctx, baseQuery(ctx, "unable_to_support", { breakdowns: [Breakdown.SUBTYPE] })),
    ]);
    const periods = [...new Set(series.flatMap((t) => t.rows.map((r) => r.dimensions[0]?.value ?? "")))].sort();
    const cellAt = (i: number, p: string) => series[i]?.rows.find((r) => r.dimensions[0]?.value === p)?.cell;
    const omitted: string[] = [];
    const titles = ids.map((id) => descriptor(ctx, id).title);
    const chartSeries: Series[] = ids.map((_, i) => ({
      label: titles[i] ?? "",
      data: periods.map((p) => {
        const cell = cellAt(i, p);
        if (["suppressed", "suppressed-secondary"].includes(cellState(cell))) omitted.push(`${titles[i]} ${p}`);
        return plotValue(cell, MetricUnit.COUNT);
      }),
    }));
    const demandName = `Support demand and unmet need by quarter, ${ctx.from} to ${ctx.to}`;
    const reasonName = `Unable to support, by reason, ${ctx.from} to ${ctx.to}`;
    const reasonOmitted = reasons.rows.filter((r) => ["suppressed", "suppressed-secondary"].includes(cellState(r.cell))).map((r) => label(r, 1));
    root.append(
      chart({ title: "Support demand and unmet need by quarter", kind: "line", labels: periods, series: chartSeries, yTitle: "count", omitted, tableName: demandName }, "support-chart"),
      table(demandName, ["Quarter", ...titles], periods.map((p) => [p, ...ids.map((_, i) => num(cellText(cellAt(i, p), MetricUnit.COUNT)))]), "support-table"),
      chart({
        title: "Unmet need by reason",
        kind: "bar",
        horizontal: true,
        labels: reasons.rows.map((r) => label(r, 1)),
        series: [{ label: "Referred victims not supported", data: reasons.rows.map((r) => plotValue(r.cell, MetricUnit.COUNT)) }],
        yTitle: "count",
        omitted: reasonOmitted,
        tableName: reasonName,
      }, "unmet-chart"),
      table(reasonName, ["Reason", "Referred victims not supported"], reasons.rows.map((r) => [label(r, 1), num(cellText(r.cell, MetricUnit.COUNT))]), "unmet-table"),
      notes(reasons) ?? "",
    );
    return {
      csv: [
        ["table", "period_or_reason", ...ids],
        ...periods.map((p) => ["by_quarter", p, ...ids.map((_, i) => cellText(cellAt(i, p), MetricUnit.COUNT))]),
        ...reasons.rows.map((r) => ["unable_to_support_by_reason", r.dimensions[1]?.value ?? "", "", "", cellText(r.cell, MetricUnit.COUNT)]),
      ],
    };
  },
};

/** Peer areas side by side for one metric, against England and Wales. */
const areasView: View = {
  id: "areas",
  title: "Area comparison",
  description: "One metric for each area side by side, against the figure for all areas — to spot local practice worth spreading.",
  async render(root, ctx) {
    const p = ctx.params;
    const metricId = p.get("metric") || "charge_rate";
    const d = descriptor(ctx, metricId);
    const level = Number(p.get("level") || AreaLevel.POLICE_FORCE_AREA) as AreaLevel;
    const peers = (p.get("areas") || "").split(",").map((a) => a.trim()).filter(Boolean);
    const stats = d.statistics.filter((s) => s !== "count");
    const statistic = p.get("statistic") || stats[0] || "";
    root.append(
      controls(ctx, [
        select("Metric", "metric", metricOptions(ctx), metricId),
        select("Area level", "level", LEVELS.filter(([l]) => l !== AreaLevel.ENGLAND_AND_WALES).map(([v, t]) => [String(v), t]), String(level)),
        input("Peer areas (GSS codes, comma-separated)", "areas", "text", peers.join(","), "Empty: every area you may read."),
        stats.length > 1 ? select("Statistic", "statistic", stats.map((s): [string, string] => [s, s]), statistic) : null,
      ].filter((x): x is HTMLElement => x !== null)),
    );
    const t = await query(ctx, baseQuery(ctx, metricId, {
      areaLevel: level,
      breakdowns: [Breakdown.AREA],
      areaCodes: peers,
      statistic: stats.length > 1 ? statistic : "",
    }));
    const rows = [...t.rows].sort((a, b) => (plotValue(b.cell, d.unit) ?? -Infinity) - (plotValue(a.cell, d.unit) ?? -Infinity));
    const total = t.totals[0]?.cell;
    const omitted = rows.filter((r) => ["suppressed", "suppressed-secondary"].includes(cellState(r.cell))).map((r) => label(r, 1));
    const tableName = `${d.title} by area, ${ctx.from} to ${ctx.to}`;
    root.append(
      el("p", { class: "description" }, d.description),
      chart({
        title: `${d.title} by area`,
        kind: "bar",
        labels: [...rows.map((r) => label(r, 1)), "All areas"],
        series: [{ label: d.title, data: [...rows.map((r) => plotValue(r.cell, d.unit)), plotValue(total, d.unit)] }],
        yTitle: unitLabel(d.unit),
        omitted,
        tableName,
      }, "areas-chart"),
      table(
        tableName,
        ["Area", d.title, "Base"],
        [
          ...rows.map((r): TableCell[] => [label(r, 1), num(cellText(r.cell, d.unit)), num(r.cell && r.cell.base > 0 ? String(r.cell.base) : "")]),
          ["All areas", num(cellText(total, d.unit)), num(total && total.base > 0 ? String(total.base) : "")],
        ],
        "areas-table",
      ),
      notes(t) ?? "",
    );
    return {
      csv: [
        ["area", "value", "status", "shown_as", "base"],
        ...rows.map((r) => [r.dimensions[1]?.value ?? "", csvValue(r.cell), statusName(r.cell), cellText(r.cell, d.unit), String(r.cell?.base ?? "")]),
        ["ALL", csvValue(total), statusName(total), cellText(total, d.unit), String(total?.base ?? "")],
      ],
    };
  },
};

/** Every view, in the navigation's order. */
export const VIEWS: View[] = [
  catalogueView,
  metricView,
  compareView,
  funnelView,
  chargeDaysView,
  withdrawalView,
  supportView,
  areasView,
];
