// How values are shown, with the Government Statistical Service's symbols for table cells
// (Government Analysis Function, "Symbols in tables, definitions and help"), as the hub's own
// reports show them: a withheld cell is "[c]" (confidential), never zero; a cell with no data is
// "[x]" (not available) or "[z]" (not applicable: a rate or average whose base is zero); a value
// of low reliability is followed by "[u]"; a non-zero value that rounds to 0 at the precision
// shown is "[low]".

import { type Cell, DisclosureStatus, GssSymbol, MetricUnit, Protection } from "./gen/vawg/v1/metrics_pb";

/** What a cell holds, for charts and tables. */
export type CellState = "value" | "suppressed" | "no-data";

/** The state of a cell (a missing cell is "no data"). A cell marked confidential is withheld
 * whatever its status says. */
export function cellState(cell: Cell | undefined): CellState {
  if (!cell) return "no-data";
  if (cell.symbol === GssSymbol.CONFIDENTIAL) return "suppressed";
  switch (cell.status) {
    case DisclosureStatus.SUPPRESSED_PRIMARY:
    case DisclosureStatus.SUPPRESSED_SECONDARY:
    case DisclosureStatus.SUPPRESSED_SMALL_BASE:
      return "suppressed";
    case DisclosureStatus.RELEASED:
    case DisclosureStatus.ROUNDED:
    case DisclosureStatus.PERTURBED:
    case DisclosureStatus.EXACT_NOT_FOR_RELEASE:
      return cell.symbol === GssSymbol.NOT_AVAILABLE || cell.symbol === GssSymbol.NOT_APPLICABLE ? "no-data" : "value";
    default:
      return "no-data";
  }
}

/** Whether a cell was withheld by disclosure control (shown "[c]"). */
export function isWithheld(cell: Cell | undefined): boolean {
  return cellState(cell) === "suppressed";
}

/** The value to plot, or null (a gap, never zero) when the cell was withheld or empty. */
export function plotValue(cell: Cell | undefined, unit: MetricUnit): number | null {
  if (!cell || cellState(cell) !== "value") return null;
  return unit === MetricUnit.PROPORTION ? cell.value * 100 : unit === MetricUnit.PENCE ? cell.value / 100 : cell.value;
}

/** The GSS shorthand of a cell's symbol, or "" for none. A cell without a symbol (from a hub
 * that predates symbols) gets one from its status: withheld "[c]", no data "[x]". */
export function symbol(cell: Cell | undefined): string {
  switch (cell?.symbol) {
    case GssSymbol.CONFIDENTIAL:
      return "[c]";
    case GssSymbol.NOT_AVAILABLE:
      return "[x]";
    case GssSymbol.NOT_APPLICABLE:
      return "[z]";
    case GssSymbol.LOW_RELIABILITY:
      return "[u]";
    case GssSymbol.LOW:
      return "[low]";
    default:
      switch (cellState(cell)) {
        case "suppressed":
          return "[c]";
        case "no-data":
          return "[x]";
        default:
          return "";
      }
  }
}

/** The symbol shown instead of a withheld or empty cell's value, else undefined. */
export function mark(cell: Cell | undefined): string | undefined {
  if (cellState(cell) === "value") return undefined;
  const s = symbol(cell);
  // A withheld cell is confidential whatever else it says; an empty one is [x] or [z].
  if (isWithheld(cell)) return "[c]";
  return s === "[z]" ? "[z]" : "[x]";
}

/** Explanations of the GSS symbols, for tooltips, legends and screen readers. */
export const MARK_EXPLANATION: Record<string, string> = {
  "[c]": "Confidential: withheld by disclosure control to protect the people counted (not zero)",
  "[x]": "Not available: no data for this cell (not zero)",
  "[z]": "Not applicable: a rate, proportion or average whose base is zero",
  "[u]": "Low reliability: a rate or proportion on fewer than 20 events, or an average on fewer than 20 cases",
  "[low]": "Low: a non-zero value that rounds to 0 at the precision shown",
};

/** The units whose values are whole numbers: COUNT, and the counts of a named thing (people,
 * cases, offences, records, incidents) the hub gives count metrics since the contract named
 * them. */
export const COUNT_UNITS: readonly MetricUnit[] = [
  MetricUnit.COUNT,
  MetricUnit.PERSON,
  MetricUnit.CASE,
  MetricUnit.OFFENCE,
  MetricUnit.RECORD,
  MetricUnit.INCIDENT,
];

/** Whether a unit counts something (whole numbers, shown like COUNT). */
export function isCountUnit(unit: MetricUnit): boolean {
  return COUNT_UNITS.includes(unit);
}

/** A value in its unit at the precision shown, "[low]" when a non-zero value shows as 0. */
export function formatValue(value: number, unit: MetricUnit): string {
  let text: string;
  let zero: boolean;
  switch (unit) {
    case MetricUnit.PROPORTION: {
      const pct = value * 100;
      text = `${pct.toFixed(1)}%`;
      zero = Math.abs(pct) < 0.05;
      break;
    }
    case MetricUnit.DAYS:
      text = value.toFixed(1);
      zero = Math.abs(value) < 0.05;
      break;
    case MetricUnit.PENCE: {
      const pounds = Math.round(value / 100);
      text = `£${pounds.toLocaleString("en-GB")}`;
      zero = pounds === 0;
      break;
    }
    // COUNT, PERSON, CASE, OFFENCE, RECORD, INCIDENT (and any unit this dashboard predates):
    // whole numbers.
    default: {
      const n = Math.trunc(value);
      text = n.toLocaleString("en-GB");
      zero = n === 0;
    }
  }
  return zero && value !== 0 ? "[low]" : text;
}

/** The text of a cell: its value in its unit (followed by "[u]" when of low reliability), or
 * its symbol alone when withheld or empty. */
export function cellText(cell: Cell | undefined, unit: MetricUnit): string {
  const m = mark(cell);
  if (m !== undefined || !cell) return m ?? "[x]";
  const text = cell.symbol === GssSymbol.LOW ? "[low]" : formatValue(cell.value, unit);
  const s = symbol(cell);
  return s && s !== "[low]" ? `${text} ${s}` : text;
}

/** The status of a cell as the CSV's status column names it (as `vawg-hub metrics query`). */
export function statusName(cell: Cell | undefined): string {
  switch (cell?.status) {
    case DisclosureStatus.RELEASED:
      return "released";
    case DisclosureStatus.ROUNDED:
      return "rounded";
    case DisclosureStatus.SUPPRESSED_PRIMARY:
      return "suppressed";
    case DisclosureStatus.SUPPRESSED_SECONDARY:
      return "suppressed_secondary";
    case DisclosureStatus.PERTURBED:
      return "perturbed";
    case DisclosureStatus.EXACT_NOT_FOR_RELEASE:
      return "exact_not_for_release";
    case DisclosureStatus.SUPPRESSED_SMALL_BASE:
      return "suppressed_small_base";
    default:
      return "no_data";
  }
}

/** The raw value for CSV: the number when released, else empty (never 0). */
export function csvValue(cell: Cell | undefined): string {
  return cell && cellState(cell) === "value" ? String(cell.value) : "";
}

/** The base for CSV, as `vawg-hub metrics query --format csv`: 0 for a withheld or empty cell
 * (its base never leaves with it), empty for a missing cell. */
export function csvBase(cell: Cell | undefined): string {
  if (!cell) return "";
  return cellState(cell) === "value" ? String(cell.base) : "0";
}

/** The base to show in a table: the count a rate or average rests on, the symbol of a withheld
 * or empty cell (never its base), or `none` when the cell has no base. */
export function baseText(cell: Cell | undefined, none = ""): string {
  if (cellState(cell) !== "value") return mark(cell) ?? "[x]";
  return cell && cell.base > 0 ? cell.base.toLocaleString("en-GB") : none;
}

/** Unit suffix for axis titles. */
export function unitLabel(unit: MetricUnit): string {
  switch (unit) {
    case MetricUnit.PROPORTION:
      return "%";
    case MetricUnit.DAYS:
      return "days";
    case MetricUnit.PENCE:
      return "£";
    case MetricUnit.PERSON:
      return "people";
    case MetricUnit.CASE:
      return "cases";
    case MetricUnit.OFFENCE:
      return "offences";
    case MetricUnit.RECORD:
      return "records";
    case MetricUnit.INCIDENT:
      return "incidents";
    default:
      return "count";
  }
}

/** Whether a table holds exact figures, for the central team's statisticians only. */
export function notForRelease(t: { protection: Protection } | undefined): boolean {
  return t?.protection === Protection.EXACT_NOT_FOR_RELEASE;
}

/** The banner over exact figures, on the page. */
export const NOT_FOR_RELEASE_BANNER =
  "EXACT FIGURES — NOT FOR RELEASE: for the central team's statisticians only. Publish only the fixed publication tables or perturbed figures.";

/** The first line of an exported CSV of exact figures (as `vawg-hub metrics query --format csv`). */
export const NOT_FOR_RELEASE_CSV_COMMENT =
  "# EXACT FIGURES, NOT FOR RELEASE: publish only the fixed publication tables (suppressed) or perturbed figures";

/** One CSV field, quoted when needed; text that a spreadsheet would run as a formula is
 * prefixed with an apostrophe. */
export function csvField(text: string): string {
  let t = text;
  if (/^[=+@\t\r]/.test(t) || /^-[^\d.]/.test(t)) t = `'${t}`;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** A CSV document from rows (the first is the header), after any comment lines (written as
 * they are, each starting with "#"). */
export function toCsv(rows: string[][], comments: string[] = []): string {
  return [...comments.map((c) => (c.startsWith("#") ? c : `# ${c}`).replace(/[\r\n]+/g, " ")), ...rows.map((r) => r.map(csvField).join(","))].join("\r\n") + "\r\n";
}

/** Dates as the API wants them, from `yyyy-mm-dd`. */
export function parseDate(text: string): { year: number; month: number; day: number } {
  const [y, m, d] = text.split("-").map((p) => Number.parseInt(p, 10));
  return { year: y ?? 0, month: m ?? 0, day: d ?? 0 };
}
