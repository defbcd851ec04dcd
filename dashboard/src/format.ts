// How values are shown. A suppressed cell is shown as suppressed, never as zero: "[c]" (fewer
// than the threshold) or "[c2]" (withheld so a [c] cell cannot be worked out from totals), and
// "-" when there was nothing to count — the same marks the hub's own reports use.

import { type Cell, DisclosureStatus, MetricUnit } from "./gen/vawg/v1/metrics_pb";

/** What a cell holds, for charts and tables. */
export type CellState = "value" | "suppressed" | "suppressed-secondary" | "no-data";

/** The state of a cell (a missing cell is "no data"). */
export function cellState(cell: Cell | undefined): CellState {
  switch (cell?.status) {
    case DisclosureStatus.SUPPRESSED_PRIMARY:
    case DisclosureStatus.SUPPRESSED_SMALL_BASE:
      return "suppressed";
    case DisclosureStatus.SUPPRESSED_SECONDARY:
      return "suppressed-secondary";
    case DisclosureStatus.RELEASED:
    case DisclosureStatus.ROUNDED:
    case DisclosureStatus.PERTURBED:
    case DisclosureStatus.EXACT_NOT_FOR_RELEASE:
      return "value";
    default:
      return "no-data";
  }
}

/** The value to plot, or null (a gap, never zero) when the cell was withheld or empty. */
export function plotValue(cell: Cell | undefined, unit: MetricUnit): number | null {
  if (!cell || cellState(cell) !== "value") return null;
  return unit === MetricUnit.PROPORTION ? cell.value * 100 : unit === MetricUnit.PENCE ? cell.value / 100 : cell.value;
}

/** The mark for a withheld or empty cell, else undefined. */
export function mark(cell: Cell | undefined): string | undefined {
  switch (cellState(cell)) {
    case "suppressed":
      return "[c]";
    case "suppressed-secondary":
      return "[c2]";
    case "no-data":
      return "-";
    default:
      return undefined;
  }
}

/** Explanations of the marks, for tooltips, legends and screen readers. */
export const MARK_EXPLANATION: Record<string, string> = {
  "[c]": "Suppressed: fewer than the disclosure threshold, withheld to protect the people counted",
  "[c2]": "Suppressed (secondary): withheld so that a suppressed cell cannot be worked out from totals",
  "-": "No data: nothing to count (not zero)",
};

/** The text of a cell: its value in its unit, or its mark. */
export function cellText(cell: Cell | undefined, unit: MetricUnit): string {
  const m = mark(cell);
  if (m !== undefined || !cell) return m ?? "-";
  switch (unit) {
    case MetricUnit.PROPORTION:
      return `${(cell.value * 100).toFixed(1)}%`;
    case MetricUnit.DAYS:
      return cell.value.toFixed(1);
    case MetricUnit.PENCE:
      return `£${Math.round(cell.value / 100).toLocaleString("en-GB")}`;
    default:
      return Math.trunc(cell.value).toLocaleString("en-GB");
  }
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

/** Unit suffix for axis titles. */
export function unitLabel(unit: MetricUnit): string {
  switch (unit) {
    case MetricUnit.PROPORTION:
      return "%";
    case MetricUnit.DAYS:
      return "days";
    case MetricUnit.PENCE:
      return "£";
    default:
      return "count";
  }
}

/** One CSV field, quoted when needed; text that a spreadsheet would run as a formula is
 * prefixed with an apostrophe. */
export function csvField(text: string): string {
  let t = text;
  if (/^[=+@\t\r]/.test(t) || /^-[^\d.]/.test(t)) t = `'${t}`;
  return /[",\n\r]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/** A CSV document from rows (the first is the header). */
export function toCsv(rows: string[][]): string {
  return rows.map((r) => r.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** Dates as the API wants them, from `yyyy-mm-dd`. */
export function parseDate(text: string): { year: number; month: number; day: number } {
  const [y, m, d] = text.split("-").map((p) => Number.parseInt(p, 10));
  return { year: y ?? 0, month: m ?? 0, day: d ?? 0 };
}
