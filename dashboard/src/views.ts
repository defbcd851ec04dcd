// The dashboard's views. Each renders its controls, charts and data tables into a container,
// and returns the rows its CSV export holds (the same figures as its tables, GSS symbols
// included) and the hub's tables it shows (so the page can mark exact figures not for release).

import { type Hub } from "./api";
import { AreaLevel, CountingRule, VictimScope } from "./gen/vawg/v1/common_pb";
import { type Category } from "./gen/vawg/v1/definition_pb";
import {
  Breakdown,
  type Cell,
  type MetricDescriptor,
  type MetricRow,
  type MetricTable,
  MetricUnit,
  Outcome,
  Protection,
  TimeGrain,
} from "./gen/vawg/v1/metrics_pb";
import {
  baseText,
  cellState,
  cellText,
  csvBase,
  csvValue,
  formatValue,
  isWithheld,
  mark,
  NOT_FOR_RELEASE_BANNER,
  notForRelease,
  parseDate,
  plotValue,
  statusName,
  symbol,
  unitLabel,
} from "./format";
import { chart, el, input, select, type Series, table, type TableCell } from "./ui";

/** What every view can read. */
export interface Context {
  hub: Hub;
  catalogue: MetricDescriptor[];
  categories: Category[];
  /** The period chosen in the header, `yyyy-mm-dd`. */
  from: string;
  to: string;
  /** The protection chosen in the header: unset for the caller's default (exact, not for
   * release, for the central team; perturbed for agencies) or cell-key perturbation. */
  protection: Protection;
  /** The view's parameters from the address (`#/view?key=value`). */
  params: URLSearchParams;
  /** Replaces the view's parameters (re-renders the view). */
  navigate: (params: Record<string, string>) => void;
}

/** What a view produced. */
export interface Rendered {
  /** CSV rows (header first). */
  csv: string[][];
  /** The hub's tables the view shows (their protection decides the not-for-release banner). */
  tables: MetricTable[];
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
  protection: Protection;
}

const SCOPES: [VictimScope, string][] = [
  [VictimScope.ALL_VICTIMS, "All victims (Home Office)"],
  [VictimScope.WOMEN_AND_GIRLS, "Women and girls (police forces)"],
  [VictimScope.AGED_16_PLUS, "Aged 16 and over (Crime Survey)"],
];
const RULES: [CountingRule, string][] = [
  [CountingRule.ALL_OFFENCES, "All offences"],
  [CountingRule.PRINCIPAL_CRIME, "Principal crime per incident (since 2023)"],
  [CountingRule.PRINCIPAL_PLUS_COURSE_OF_CONDUCT, "Principal + course of conduct (2017/18–2023)"],
  [CountingRule.ONE_PER_RELATIONSHIP, "One per relationship (NAO summary)"],
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
/** Each breakdown: the dimension the hub names it in a table, and its label. */
const BREAKDOWNS: [Breakdown, string, string][] = [
  [Breakdown.AREA, "area", "Area"],
  [Breakdown.CATEGORY, "category", "Category"],
  [Breakdown.SEX, "sex", "Sex"],
  [Breakdown.AGE_BAND, "age_band", "Age band"],
  [Breakdown.ETHNIC_GROUP, "ethnic_group", "Ethnic group"],
  [Breakdown.DISABILITY, "disability", "Disability"],
  [Breakdown.IMMIGRATION_STATUS, "immigration_status", "Immigration status"],
  [Breakdown.SUBTYPE, "subtype", "Sub-type"],
  [Breakdown.DOMESTIC_ABUSE_RELATED, "domestic_abuse_related", "Domestic abuse-related"],
  [Breakdown.SUSPECT_SEX, "suspect_sex", "Suspect sex"],
  [Breakdown.SUSPECT_AGE_BAND, "suspect_age_band", "Suspect age band"],
  [Breakdown.SUSPECT_ETHNIC_GROUP, "suspect_ethnic_group", "Suspect ethnic group"],
  [Breakdown.RELATIONSHIP, "relationship", "Victim–suspect relationship"],
  [Breakdown.SEXUAL_ORIENTATION, "sexual_orientation", "Victim sexual orientation"],
  [Breakdown.GENDER_IDENTITY, "gender_identity", "Victim gender identity"],
];
const BREAKDOWN_NAMES: Record<number, string> = Object.fromEntries(BREAKDOWNS.map(([b, , label]) => [b, label]));
const DIMENSION_NAMES: Record<string, string> = Object.fromEntries(BREAKDOWNS.map(([, dim, label]) => [dim, label]));

/** The breakdowns by the suspect, the relationship and the victim's profile: any two combine,
 * but none with SUBTYPE or DOMESTIC_ABUSE_RELATED (the hub refuses those pairs). */
const PROFILE_BREAKDOWNS: readonly Breakdown[] = [
  Breakdown.SUSPECT_SEX,
  Breakdown.SUSPECT_AGE_BAND,
  Breakdown.SUSPECT_ETHNIC_GROUP,
  Breakdown.RELATIONSHIP,
  Breakdown.SEXUAL_ORIENTATION,
  Breakdown.GENDER_IDENTITY,
];

/** Whether two breakdowns may be asked for together. */
export function breakdownsCombine(a: Breakdown, b: Breakdown): boolean {
  const excluded = (x: Breakdown) => x === Breakdown.SUBTYPE || x === Breakdown.DOMESTIC_ABUSE_RELATED;
  const profile = (x: Breakdown) => PROFILE_BREAKDOWNS.includes(x);
  return !((profile(a) && excluded(b)) || (profile(b) && excluded(a)));
}
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
  [MetricUnit.PERSON]: "People",
  [MetricUnit.CASE]: "Cases",
  [MetricUnit.OFFENCE]: "Offences",
  [MetricUnit.RECORD]: "Records",
  [MetricUnit.INCIDENT]: "Incidents",
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
    protection: ctx.protection,
    ...extra,
  };
}

async function query(ctx: Context, q: Query): Promise<MetricTable> {
  const res = await ctx.hub.metrics.queryMetric({ query: q });
  if (!res.table) throw new Error("The hub returned no table.");
  return res.table;
}

/** The short note on perturbed figures, when the hub sent none of its own. */
export const PERTURBED_NOTE =
  "Figures are perturbed (cell-key perturbation): each count is within 5 of the true count, never 1 to 4, and the same in every query.";

/** The notes on the figures of one or more tables: the hub's notes (each once), the
 * suppression threshold when one was applied (publication tables), and the rounding base. */
function notes(...tables: MetricTable[]): HTMLElement | null {
  const items: string[] = [];
  const add = (n: string) => {
    if (n && !items.includes(n)) items.push(n);
  };
  for (const t of tables) {
    t.notes.forEach(add);
    if (t.protection === Protection.CELL_KEY_PERTURBATION && !t.notes.some((n) => /perturb/i.test(n))) add(PERTURBED_NOTE);
    const threshold = t.suppressionThreshold;
    if (threshold > 2) add(`Counts from 1 to ${threshold - 1} are withheld ([c]).`);
    else if (threshold === 2) add("Counts of 1 are withheld ([c]).");
    if (t.roundingBase > 1) add(`Released values are rounded to the nearest ${t.roundingBase}.`);
  }
  if (!items.length) return null;
  return el("ul", { class: "notes", "aria-label": "Notes on these figures", "data-testid": "notes" }, items.map((n) => el("li", {}, n)));
}

/** The banner over exact figures: a region with a heading, at the top of the view. */
export function notForReleaseBanner(): HTMLElement {
  // "EXACT FIGURES — NOT FOR RELEASE" as the heading, the rest as its text.
  const at = NOT_FOR_RELEASE_BANNER.indexOf(": ");
  const title = NOT_FOR_RELEASE_BANNER.slice(0, at);
  const rest = NOT_FOR_RELEASE_BANNER.slice(at + 2);
  return el(
    "section",
    { class: "banner not-for-release", "aria-labelledby": "not-for-release-title", "data-testid": "not-for-release" },
    el("h3", { id: "not-for-release-title" }, title),
    el("p", {}, rest.charAt(0).toUpperCase() + rest.slice(1)),
  );
}

/** Whether any of the tables holds exact figures, not for release. */
export function anyNotForRelease(tables: MetricTable[]): boolean {
  return tables.some(notForRelease);
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
    return { csv: [["id", ...header], ...ctx.catalogue.map((m, i) => [m.id, ...(rows[i] ?? [])])], tables: [] };
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
      if (isWithheld(cell)) omitted.push(`${key} ${p}`);
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
    // Only the breakdowns the metric's descriptor lists; the second only when it combines with
    // the first (a pair the hub refuses is dropped, with a note).
    const offered = (b: Breakdown) => b === 0 || d.breakdowns.includes(b);
    const asked1 = Number(p.get("by1") || Breakdown.CATEGORY) as Breakdown;
    const by1 = offered(asked1) ? asked1 : ((d.breakdowns.includes(Breakdown.CATEGORY) ? Breakdown.CATEGORY : 0) as Breakdown);
    const asked2 = Number(p.get("by2") || 0) as Breakdown;
    const combines = offered(asked2) && breakdownsCombine(by1, asked2);
    const by2 = combines && asked2 !== by1 ? asked2 : (0 as Breakdown);
    const dropped = offered(asked2) && !combines ? asked2 : 0;
    const category = p.get("category") || "";
    const areas = (p.get("areas") || "").split(",").map((a) => a.trim()).filter(Boolean);
    const statistic = p.get("statistic") || "";
    const breakdownOptions = (filter: (b: Breakdown) => boolean): [string, string][] => [
      ["0", "None"],
      ...d.breakdowns.filter(filter).map((b): [string, string] => [String(b), BREAKDOWN_NAMES[b] ?? titleCase(Breakdown[b]?.toLowerCase() ?? String(b))]),
    ];
    const stats = d.statistics.filter((s) => s !== "count");
    root.append(
      controls(ctx, [
        select("Metric", "metric", metricOptions(ctx), metricId),
        select("Time grain", "grain", GRAINS.map(([v, t]) => [String(v), t]), String(grain)),
        select("Victim scope", "scope", SCOPES.map(([v, t]) => [String(v), t]), String(scope), !d.countingRuleApplies),
        select("Counting rule", "rule", RULES.map(([v, t]) => [String(v), t]), String(rule), !d.countingRuleApplies),
        select("Area level", "level", LEVELS.map(([v, t]) => [String(v), t]), String(level)),
        select("Break down by", "by1", breakdownOptions(() => true), String(by1)),
        select("and by", "by2", breakdownOptions((b) => b !== by1 && breakdownsCombine(by1, b)), String(by2)),
        select("Category", "category", [["", "All categories"], ...ctx.categories.map((c): [string, string] => [c.id, c.name])], category),
        input("Areas (GSS codes, comma-separated)", "areas", "text", areas.join(","), "Empty: every area you may read."),
        stats.length > 1 ? select("Statistic", "statistic", stats.map((s): [string, string] => [s, s]), statistic || stats[0] || "") : null,
      ].filter((x): x is HTMLElement => x !== null)),
      el("p", { class: "description" }, d.description),
    );
    if (dropped) {
      root.append(
        el("p", { class: "note", "data-testid": "breakdown-dropped" },
          `${BREAKDOWN_NAMES[dropped] ?? "That breakdown"} does not combine with ${BREAKDOWN_NAMES[by1] ?? "the first breakdown"}: broken down by ${BREAKDOWN_NAMES[by1] ?? "the first"} only.`),
      );
    }
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
    const header = t.dimensions.map((n) => DIMENSION_NAMES[n] ?? titleCase(n)).concat(["Value"]);
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
        [...t.dimensions, "value", "status", "shown_as", "base", "symbol"],
        ...t.rows.map((r) => [...r.dimensions.map((dv) => dv.value), ...csvCell(r.cell, unit)]),
        ...t.totals.map((r) => [r.dimensions[0]?.value ?? "", ...breakdowns.map(() => "ALL"), ...csvCell(r.cell, unit)]),
      ],
      tables: [t],
    };
  },
};

/** A cell's CSV columns: value (empty when withheld or empty), status, the text shown, base
 * (0 when withheld or empty) and GSS symbol. */
function csvCell(cell: Cell | undefined, unit: MetricUnit): string[] {
  return [csvValue(cell), statusName(cell), cellText(cell, unit), csvBase(cell), symbol(cell)];
}

/** A proportion as shown ("12.5%"), "[low]" when a non-zero one shows as 0.0%. */
function percent(p: number): string {
  return formatValue(p, MetricUnit.PROPORTION);
}

function titleCase(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, " ");
}

function grainName(g: TimeGrain): string {
  return (GRAINS.find(([v]) => v === g)?.[1] ?? "period").toLowerCase();
}

/** One metric under the three victim scopes × four counting rules (twelve variants), side by side. */
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
    // The difference from the first variant exists only when both totals were released.
    const first = res.tables[0]?.total;
    const difference = (total: Cell | undefined): string | undefined =>
      cellState(total) !== "value" ? mark(total) : cellState(first) !== "value" ? "[x]" : undefined;
    const find = (s: VictimScope, r: CountingRule) =>
      res.tables.find((t) => t.variant?.victimScope === s && t.variant?.countingRule === r);
    const grid: TableCell[][] = SCOPES.map(([s, sName]) => [
      sName,
      ...RULES.map(([r]) => {
        const t = find(s, r);
        return num(t ? cellText(t.total, d.unit) : "[x]");
      }),
    ]);
    const omitted: string[] = [];
    const series: Series[] = RULES.map(([r, rName]) => ({
      label: rName,
      data: SCOPES.map(([s, sName]) => {
        const cell = find(s, r)?.total;
        if (isWithheld(cell)) omitted.push(`${sName}, ${rName}`);
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
      num(difference(t.total) ?? percent(t.differenceFromFirst)),
    ]);
    root.append(
      table("Difference of each variant's total from the first (all victims, all offences)", ["Variant", "Total", "Difference from first"], detail, "compare-detail"),
      notes(...res.tables.flatMap((t) => (t.table ? [t.table] : []))) ?? "",
    );
    return {
      csv: [
        ["victim_scope", "counting_rule", "total", "status", "shown_as", "difference_from_first", "symbol"],
        ...res.tables.map((t) => [
          VictimScope[t.variant?.victimScope ?? 0] ?? "",
          CountingRule[t.variant?.countingRule ?? 0] ?? "",
          csvValue(t.total),
          statusName(t.total),
          cellText(t.total, d.unit),
          difference(t.total) === undefined ? String(t.differenceFromFirst) : "",
          symbol(t.total),
        ]),
      ],
      tables: res.tables.flatMap((t) => (t.table ? [t.table] : [])),
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
    // A share exists only when both counts were released, and the cohort is not empty.
    const share = (r: MetricRow): string =>
      cellState(r.cell) !== "value"
        ? (mark(r.cell) ?? "[x]")
        : cellState(first) !== "value"
          ? "[x]"
          : recorded === 0
            ? "[z]"
            : percent((r.cell?.value ?? 0) / recorded);
    const omitted = t.rows.filter((r) => isWithheld(r.cell)).map((r) => label(r, 1));
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
        ["stage", "cases", "status", "shown_as", "share_of_recorded", "symbol"],
        ...t.rows.map((r) => [r.dimensions[1]?.value ?? "", csvValue(r.cell), statusName(r.cell), cellText(r.cell, MetricUnit.COUNT), share(r), symbol(r.cell)]),
      ],
      tables: [t],
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
        if (isWithheld(cell)) omitted.push(`${k.name} (${s})`);
        return plotValue(cell, MetricUnit.DAYS);
      }),
    }));
    // The charges a mean rests on: its base, never a withheld mean's ([c] instead).
    const charges = (k: { id: string }, csv = false) => {
      const c = cellFor(0, k.id);
      if (cellState(c) === "value" && c && c.base > 0) return csv ? String(c.base) : baseText(c);
      return cellText(c, MetricUnit.COUNT);
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
      notes(...tables) ?? "",
    );
    return {
      csv: [
        ["category", "charges", "mean", "median", "p90"],
        ...keys.map((k) => [k.id || "ALL", charges(k, true), ...stats.map((_, i) => cellText(cellFor(i, k.id), MetricUnit.DAYS))]),
      ],
      tables,
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
    const omitted = stages.filter((s) => isWithheld(s.rate)).map((s) => s.name);
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
          num(baseText(s.rate, "0")),
          num(cellText(countFor(s.name), MetricUnit.COUNT)),
          num(cellText(s.rate, MetricUnit.PROPORTION)),
        ]),
        "withdrawal-table",
      ),
      notes(rates, counts) ?? "",
    );
    return {
      csv: [
        ["stage", "cases_reaching_stage", "withdrawals", "withdrawal_rate", "rate_status", "rate_symbol"],
        ...stages.map((s) => [s.id, csvBase(s.rate), cellText(countFor(s.name), MetricUnit.COUNT), csvValue(s.rate), statusName(s.rate), symbol(s.rate)]),
      ],
      tables: [rates, counts],
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
        if (isWithheld(cell)) omitted.push(`${titles[i]} ${p}`);
        return plotValue(cell, MetricUnit.COUNT);
      }),
    }));
    const demandName = `Support demand and unmet need by quarter, ${ctx.from} to ${ctx.to}`;
    const reasonName = `Unable to support, by reason, ${ctx.from} to ${ctx.to}`;
    const reasonOmitted = reasons.rows.filter((r) => isWithheld(r.cell)).map((r) => label(r, 1));
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
      notes(...series, reasons) ?? "",
    );
    return {
      csv: [
        ["table", "period_or_reason", ...ids],
        ...periods.map((p) => ["by_quarter", p, ...ids.map((_, i) => cellText(cellAt(i, p), MetricUnit.COUNT))]),
        ...reasons.rows.map((r) => ["unable_to_support_by_reason", r.dimensions[1]?.value ?? "", "", "", cellText(r.cell, MetricUnit.COUNT)]),
      ],
      tables: [...series, reasons],
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
    const omitted = rows.filter((r) => isWithheld(r.cell)).map((r) => label(r, 1));
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
          ...rows.map((r): TableCell[] => [label(r, 1), num(cellText(r.cell, d.unit)), num(baseText(r.cell))]),
          ["All areas", num(cellText(total, d.unit)), num(baseText(total))],
        ],
        "areas-table",
      ),
      notes(t) ?? "",
    );
    return {
      csv: [
        ["area", "value", "status", "shown_as", "base", "symbol"],
        ...rows.map((r) => [r.dimensions[1]?.value ?? "", ...csvCell(r.cell, d.unit)]),
        ["ALL", ...csvCell(total, d.unit)],
      ],
      tables: [t],
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
