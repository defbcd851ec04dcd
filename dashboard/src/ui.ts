// Small DOM helpers: elements, accessible tables with disclosure marks, charts with a text
// alternative, and CSV download.

import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
} from "chart.js";
import { MARK_EXPLANATION, toCsv } from "./format";

Chart.register(
  BarController,
  BarElement,
  CategoryScale,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
);

type Child = Node | string | null | undefined | false;

/** An element with attributes and children. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c);
  }
  return e;
}

/** A table cell: plain text, or a value with a disclosure mark to explain. */
export type TableCell = string | { text: string; numeric?: boolean };

function isMark(text: string): boolean {
  return text in MARK_EXPLANATION;
}

/** The value and trailing GSS symbol of a cell's text ("12.5% [u]"), if it has one. */
function trailingSymbol(text: string): [string, string] | undefined {
  const m = /^(.*\S) (\[[a-z]+\])$/.exec(text);
  return m && m[1] && m[2] && isMark(m[2]) ? [m[1], m[2]] : undefined;
}

/** The GSS symbols a cell's text uses. */
function symbolsOf(c: TableCell): string[] {
  const text = typeof c === "string" ? c : c.text;
  if (isMark(text)) return [text];
  const t = trailingSymbol(text);
  return t ? [t[1]] : [];
}

/** A symbol with its explanation: a tooltip, and words for screen readers. */
function symbolNodes(s: string): Node[] {
  return [el("abbr", { title: MARK_EXPLANATION[s] }, s), el("span", { class: "visually-hidden" }, ` (${MARK_EXPLANATION[s]})`)];
}

/** Renders one table cell; a GSS symbol gets an <abbr> with its explanation. The text as shown
 * (symbols included) is kept in `data-text`. */
function cellNode(c: TableCell, header: boolean, scope?: string): HTMLTableCellElement {
  const text = typeof c === "string" ? c : c.text;
  const numeric = typeof c !== "string" && c.numeric;
  const td = el(header ? "th" : "td", { scope, class: numeric ? "num" : undefined, "data-text": text });
  const trailing = header ? undefined : trailingSymbol(text);
  if (!header && isMark(text)) {
    td.classList.add("mark");
    td.dataset.status = text === "[c]" ? "suppressed" : text === "[x]" || text === "[z]" ? "no-data" : "low";
    td.append(...symbolNodes(text));
  } else if (trailing) {
    td.classList.add("flagged");
    td.dataset.status = "low-reliability";
    td.append(`${trailing[0]} `, ...symbolNodes(trailing[1]));
  } else {
    td.textContent = text;
  }
  return td;
}

/** An accessible data table: a caption, column headers, row headers in the first column, and
 * the legend of the GSS symbols it uses. */
export function table(caption: string, header: string[], rows: TableCell[][], testId?: string): HTMLElement {
  const t = el(
    "table",
    { "data-testid": testId },
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, header.map((h) => cellNode(h, true, "col")))),
    el(
      "tbody",
      {},
      rows.map((r) => el("tr", {}, r.map((c, i) => cellNode(c, i === 0, i === 0 ? "row" : undefined)))),
    ),
  );
  const used = new Set(rows.flatMap((r) => r.slice(1).flatMap(symbolsOf)));
  // Scrolls sideways on narrow screens; focusable so keyboard users can scroll it.
  return el(
    "div",
    { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
    t,
    used.size ? legend([...used]) : null,
  );
}

/** The legend of GSS symbols: those given, in the guidance's order (all when none given). */
export function legend(symbols: string[] = Object.keys(MARK_EXPLANATION)): HTMLElement {
  return el(
    "p",
    { class: "legend", "data-testid": "legend" },
    Object.entries(MARK_EXPLANATION)
      .filter(([m]) => symbols.includes(m))
      .map(([m, why]) => el("span", {}, el("strong", {}, m), ` ${why}. `)),
  );
}

/** The colour-blind-safe Okabe–Ito palette (without yellow, too pale on white). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#7F7F7F"];

/** A dataset to chart: `null` values are gaps (withheld or empty cells), never zeros. */
export interface Series {
  label: string;
  data: (number | null)[];
}

/** What a chart shows. */
export interface ChartSpec {
  title: string;
  kind: "line" | "bar";
  horizontal?: boolean;
  labels: string[];
  series: Series[];
  yTitle: string;
  /** Cells left out because they were suppressed, e.g. "E23000001 2021-04". */
  omitted: string[];
  /** What the chart's data table is called, for the screen-reader summary. */
  tableName: string;
}

const charts = new Set<Chart>();

/** Destroys every chart (on leaving a view). */
export function destroyCharts(): void {
  for (const c of charts) c.destroy();
  charts.clear();
}

/** A chart in a <figure>: the canvas is an image with a summary label, pointing to the data
 * table beside it; suppressed cells are omitted, with a visible note saying which. */
export function chart(spec: ChartSpec, testId?: string): HTMLElement {
  const points = spec.series.reduce((n, s) => n + s.data.filter((v) => v !== null).length, 0);
  const summary =
    `${spec.title}: ${spec.kind === "line" ? "line" : "bar"} chart of ${spec.series.length} series ` +
    `over ${spec.labels.length} ${spec.kind === "line" ? "periods" : "categories"}, ${points} values. ` +
    `The same figures are in the table "${spec.tableName}".` +
    (spec.omitted.length ? ` ${spec.omitted.length} withheld cells ([c], confidential) are not plotted.` : "");
  const canvas = el("canvas", { role: "img", "aria-label": summary });
  canvas.textContent = summary;
  const note =
    spec.omitted.length > 0
      ? el(
          "p",
          { class: "note suppressed-note", "data-testid": "suppressed-note" },
          `${spec.omitted.length} withheld cell${spec.omitted.length === 1 ? "" : "s"} ([c]) not plotted ` +
            `(confidential: withheld by disclosure control, not zero): ${spec.omitted.slice(0, 12).join("; ")}` +
            (spec.omitted.length > 12 ? `; and ${spec.omitted.length - 12} more — see the table.` : "."),
        )
      : null;
  const figure = el(
    "figure",
    { class: "chart", "data-testid": testId },
    el("div", { class: "chart-box" }, canvas),
    el("figcaption", {}, spec.title),
    note,
  );
  const c = new Chart(canvas, {
    type: spec.kind,
    data: {
      labels: spec.labels,
      datasets: spec.series.map((s, i) => ({
        label: s.label,
        data: s.data,
        borderColor: PALETTE[i % PALETTE.length],
        backgroundColor: PALETTE[i % PALETTE.length],
        spanGaps: false,
        pointRadius: 2,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      indexAxis: spec.horizontal ? "y" : "x",
      plugins: { legend: { display: spec.series.length > 1, labels: { color: "#1b1b1b" } } },
      scales: {
        [spec.horizontal ? "x" : "y"]: {
          beginAtZero: true,
          title: { display: true, text: spec.yTitle, color: "#1b1b1b" },
          ticks: { color: "#1b1b1b" },
        },
        [spec.horizontal ? "y" : "x"]: { ticks: { color: "#1b1b1b", autoSkip: true } },
      },
    },
  });
  charts.add(c);
  return figure;
}

/** Offers `rows` as a CSV file download, after any comment lines (e.g. "# EXACT FIGURES, NOT
 * FOR RELEASE"). */
export function downloadCsv(name: string, rows: string[][], comments: string[] = []): void {
  const blob = new Blob([toCsv(rows, comments)], { type: "text/csv;charset=utf-8" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** A labelled <select>. */
export function select(
  label: string,
  name: string,
  options: [string, string][],
  value: string,
  disabled = false,
): HTMLElement {
  const id = `f-${name}`;
  const s = el(
    "select",
    { id, name, disabled },
    options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)),
  );
  return el("div", { class: "field" }, el("label", { for: id }, label), s);
}

/** A labelled <input>. */
export function input(label: string, name: string, type: string, value: string, hint?: string): HTMLElement {
  const id = `f-${name}`;
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, label),
    el("input", { id, name, type, value, "aria-describedby": hint ? `${id}-hint` : undefined }),
    hint ? el("span", { class: "hint", id: `${id}-hint` }, hint) : null,
  );
}
