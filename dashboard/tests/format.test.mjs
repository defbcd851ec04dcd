// Unit tests of src/format.ts: GSS symbols, cell text, CSV columns and the not-for-release
// comment. No hub or browser: src/format.ts and the generated messages are bundled with esbuild
// (a devDependency) into a temporary module and imported. Run with `npm run test:unit`
// (`npm test` runs these and the browser tests).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { build } from "esbuild";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dashboard = resolve(here, "..");

let tmp;
let f; // the bundled module: format.ts, the generated enums and schemas, and `create`

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "vawg-dashboard-format-"));
  const result = await build({
    stdin: {
      contents: [
        'export * from "./src/format.ts";',
        'export { CellSchema, MetricTableSchema, DisclosureStatus, GssSymbol, MetricUnit, Protection } from "./src/gen/vawg/v1/metrics_pb.ts";',
        'export { create } from "@bufbuild/protobuf";',
      ].join("\n"),
      resolveDir: dashboard,
      loader: "ts",
    },
    bundle: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "warning",
  });
  const file = join(tmp, "format.mjs");
  writeFileSync(file, result.outputFiles[0].contents);
  f = await import(pathToFileURL(file).href);
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A cell: `status` and `symbol` by their short names, e.g. cell(3, "PERTURBED", "LOW_RELIABILITY"). */
function cell(value, status, symbol = "UNSPECIFIED", base = 0) {
  return f.create(f.CellSchema, { value, status: f.DisclosureStatus[status], symbol: f.GssSymbol[symbol], base });
}

describe("GSS symbols", () => {
  test("come from cell.symbol", () => {
    assert.equal(f.symbol(cell(0, "SUPPRESSED_PRIMARY", "CONFIDENTIAL")), "[c]");
    assert.equal(f.symbol(cell(0, "NO_DATA", "NOT_AVAILABLE")), "[x]");
    assert.equal(f.symbol(cell(0, "NO_DATA", "NOT_APPLICABLE")), "[z]");
    assert.equal(f.symbol(cell(0.25, "PERTURBED", "LOW_RELIABILITY", 12)), "[u]");
    assert.equal(f.symbol(cell(0.0001, "EXACT_NOT_FOR_RELEASE", "LOW")), "[low]");
    assert.equal(f.symbol(cell(23, "PERTURBED")), "");
    assert.equal(f.symbol(cell(23, "EXACT_NOT_FOR_RELEASE")), "");
  });

  test("fall back to the status for cells without one: withheld [c], no data [x]", () => {
    for (const s of ["SUPPRESSED_PRIMARY", "SUPPRESSED_SECONDARY", "SUPPRESSED_SMALL_BASE"]) {
      assert.equal(f.symbol(cell(0, s)), "[c]", s);
      assert.equal(f.cellText(cell(0, s), f.MetricUnit.COUNT), "[c]", s);
    }
    assert.equal(f.symbol(cell(0, "NO_DATA")), "[x]");
    assert.equal(f.symbol(undefined), "[x]");
    assert.equal(f.cellText(undefined, f.MetricUnit.COUNT), "[x]");
  });

  test("secondary suppression shows [c] too: there is no [c2]", () => {
    assert.equal(f.cellText(cell(7, "SUPPRESSED_SECONDARY", "CONFIDENTIAL", 7), f.MetricUnit.COUNT), "[c]");
    assert.equal(f.cellState(cell(7, "SUPPRESSED_SECONDARY")), "suppressed");
    assert.deepEqual(Object.keys(f.MARK_EXPLANATION).sort(), ["[c]", "[low]", "[u]", "[x]", "[z]"].sort());
    for (const file of readdirSync(join(dashboard, "src")).filter((n) => n.endsWith(".ts"))) {
      assert.ok(!readFileSync(join(dashboard, "src", file), "utf8").includes("[c2]"), `src/${file} has no [c2]`);
    }
    assert.ok(!readFileSync(join(dashboard, "dist/app.js"), "utf8").includes("[c2]"), "the built bundle has no [c2]");
  });

  test("explanations use the GSS wording", () => {
    assert.match(f.MARK_EXPLANATION["[c]"], /^Confidential/);
    assert.match(f.MARK_EXPLANATION["[x]"], /^Not available/);
    assert.match(f.MARK_EXPLANATION["[z]"], /^Not applicable/);
    assert.match(f.MARK_EXPLANATION["[u]"], /^Low reliability/);
    assert.match(f.MARK_EXPLANATION["[low]"], /^Low: .*rounds to 0/);
  });
});

describe("cell text", () => {
  test("a withheld cell shows [c], never its value, whatever the hub put in it", () => {
    const c = cell(3, "SUPPRESSED_PRIMARY", "CONFIDENTIAL", 3);
    assert.equal(f.cellText(c, f.MetricUnit.COUNT), "[c]");
    assert.equal(f.plotValue(c, f.MetricUnit.COUNT), null);
    // Marked confidential with a released-looking status: still withheld.
    assert.equal(f.cellText(cell(3, "PERTURBED", "CONFIDENTIAL"), f.MetricUnit.COUNT), "[c]");
  });

  test("[u] follows the value of a low-reliability cell", () => {
    assert.equal(f.cellText(cell(0.25, "PERTURBED", "LOW_RELIABILITY", 12), f.MetricUnit.PROPORTION), "25.0% [u]");
    assert.equal(f.cellText(cell(41.26, "EXACT_NOT_FOR_RELEASE", "LOW_RELIABILITY", 15), f.MetricUnit.DAYS), "41.3 [u]");
    assert.equal(f.plotValue(cell(0.25, "PERTURBED", "LOW_RELIABILITY", 12), f.MetricUnit.PROPORTION), 25);
  });

  test("[x] and [z] stand in for empty cells", () => {
    assert.equal(f.cellText(cell(0, "NO_DATA", "NOT_AVAILABLE"), f.MetricUnit.COUNT), "[x]");
    assert.equal(f.cellText(cell(0, "NO_DATA", "NOT_APPLICABLE"), f.MetricUnit.PROPORTION), "[z]");
    assert.equal(f.plotValue(cell(0, "NO_DATA", "NOT_APPLICABLE"), f.MetricUnit.PROPORTION), null);
  });

  test("[low] for a non-zero value that rounds to 0 as shown; a true zero stays 0", () => {
    assert.equal(f.cellText(cell(0.0004, "EXACT_NOT_FOR_RELEASE"), f.MetricUnit.PROPORTION), "[low]");
    assert.equal(f.cellText(cell(0.02, "PERTURBED"), f.MetricUnit.DAYS), "[low]");
    assert.equal(f.cellText(cell(30, "PERTURBED"), f.MetricUnit.PENCE), "[low]");
    assert.equal(f.cellText(cell(0, "PERTURBED"), f.MetricUnit.COUNT), "0");
    assert.equal(f.cellText(cell(0, "PERTURBED"), f.MetricUnit.PROPORTION), "0.0%");
    assert.equal(f.cellText(cell(0.5, "PERTURBED", "LOW"), f.MetricUnit.COUNT), "[low]");
  });

  test("released values in their units", () => {
    assert.equal(f.cellText(cell(12345, "PERTURBED"), f.MetricUnit.COUNT), "12,345");
    assert.equal(f.cellText(cell(0.125, "EXACT_NOT_FOR_RELEASE", "UNSPECIFIED", 400), f.MetricUnit.PROPORTION), "12.5%");
    assert.equal(f.cellText(cell(123456, "RELEASED"), f.MetricUnit.PENCE), "£1,235");
  });

  test("the named count units (people, cases, offences, records, incidents) are whole numbers, like COUNT", () => {
    for (const u of ["PERSON", "CASE", "OFFENCE", "RECORD", "INCIDENT"]) {
      const unit = f.MetricUnit[u];
      assert.ok(f.isCountUnit(unit), u);
      assert.equal(f.cellText(cell(12345, "PERTURBED"), unit), "12,345", u);
      assert.equal(f.cellText(cell(0, "PERTURBED"), unit), "0", u);
      assert.equal(f.cellText(cell(0.5, "PERTURBED", "LOW"), unit), "[low]", u);
      assert.equal(f.cellText(cell(7, "PERTURBED", "LOW_RELIABILITY"), unit), "7 [u]", u);
      assert.equal(f.cellText(cell(0, "SUPPRESSED_PRIMARY", "CONFIDENTIAL"), unit), "[c]", u);
      assert.equal(f.formatValue(1234.9, unit), f.formatValue(1234.9, f.MetricUnit.COUNT), u);
      assert.equal(f.plotValue(cell(42, "EXACT_NOT_FOR_RELEASE"), unit), 42, u);
    }
    assert.ok(f.isCountUnit(f.MetricUnit.COUNT));
    assert.ok(!f.isCountUnit(f.MetricUnit.PROPORTION));
    assert.deepEqual(
      ["COUNT", "PERSON", "CASE", "OFFENCE", "RECORD", "INCIDENT"].map((u) => f.unitLabel(f.MetricUnit[u])),
      ["count", "people", "cases", "offences", "records", "incidents"],
    );
  });
});

describe("CSV", () => {
  test("a withheld cell's value is empty and its base 0, as the CLI writes them", () => {
    for (const s of ["SUPPRESSED_PRIMARY", "SUPPRESSED_SECONDARY", "SUPPRESSED_SMALL_BASE"]) {
      const c = cell(4, s, "CONFIDENTIAL", 4);
      assert.equal(f.csvValue(c), "", s);
      assert.equal(f.csvBase(c), "0", s);
      assert.equal(f.baseText(c), "[c]", `${s}: the table shows [c], not the base`);
    }
    const released = cell(0.3, "PERTURBED", "UNSPECIFIED", 120);
    assert.equal(f.csvValue(released), "0.3");
    assert.equal(f.csvBase(released), "120");
    assert.equal(f.baseText(released), "120");
    assert.equal(f.csvBase(cell(0, "NO_DATA", "NOT_APPLICABLE")), "0");
    assert.equal(f.csvBase(undefined), "");
  });

  test("statuses as the CLI names them", () => {
    assert.equal(f.statusName(cell(1, "EXACT_NOT_FOR_RELEASE")), "exact_not_for_release");
    assert.equal(f.statusName(cell(1, "PERTURBED")), "perturbed");
    assert.equal(f.statusName(cell(0, "SUPPRESSED_SECONDARY")), "suppressed_secondary");
  });

  test("an export of exact figures starts with the CLI's comment line, unquoted", () => {
    const text = f.toCsv([["period", "value", "status", "base", "symbol"], ["2024-04", "7", "exact_not_for_release", "7", ""]], [f.NOT_FOR_RELEASE_CSV_COMMENT]);
    const lines = text.split("\r\n");
    assert.ok(lines[0].startsWith("# EXACT FIGURES, NOT FOR RELEASE"), lines[0]);
    assert.equal(lines[0], "# EXACT FIGURES, NOT FOR RELEASE: publish only the fixed publication tables (suppressed) or perturbed figures");
    assert.equal(lines[1], "period,value,status,base,symbol");
    assert.ok(!f.toCsv([["a"]]).startsWith("#"), "no comment unless asked");
  });

  test("formula-like text is defused and commas quoted", () => {
    assert.equal(f.csvField("=SUM(A1)"), "'=SUM(A1)");
    assert.equal(f.csvField("a,b"), '"a,b"');
    assert.equal(f.csvField("[c]"), "[c]");
  });
});

describe("protection", () => {
  test("exact tables are not for release; perturbed and publication tables are", () => {
    const t = (p) => f.create(f.MetricTableSchema, { protection: f.Protection[p] });
    assert.equal(f.notForRelease(t("EXACT_NOT_FOR_RELEASE")), true);
    assert.equal(f.notForRelease(t("CELL_KEY_PERTURBATION")), false);
    assert.equal(f.notForRelease(t("SUPPRESSION")), false);
    assert.equal(f.notForRelease(undefined), false);
    assert.equal(
      f.NOT_FOR_RELEASE_BANNER,
      "EXACT FIGURES — NOT FOR RELEASE: for the central team's statisticians only. Publish only the fixed publication tables or perturbed figures.",
    );
  });
});
