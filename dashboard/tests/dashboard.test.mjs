// Browser tests of the dashboard: a real hub with synthetic data (`vawg-hub demo --keep-running`
// on free ports), headless Chromium (Debian's package) driven by playwright-core. Signs in with
// the token the demo prints, opens every view, checks what the page shows (through each view's
// CSV export and tables) against the gRPC API (`vawg-hub metrics … --format json` over mutual
// TLS), checks the GSS symbols ([c] for withheld cells, never a value; [u] after values of low
// reliability), the not-for-release banner and CSV comment on the central team's exact figures
// (the default), perturbed figures on request, and saves a screenshot per view.
//
// Environment: VAWG_HUB_BIN (default ../target/debug/vawg-hub), PLAYWRIGHT_CORE_DIR (folder
// holding node_modules/playwright-core; default ../.ci/.cache/playwright), CHROMIUM (default
// /usr/bin/chromium), VAWG_ARTIFACTS (screenshots; default ../.ci/artifacts/dashboard).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "../..");
const bin = process.env.VAWG_HUB_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(repo, "target"), "debug/vawg-hub");
const playwrightDir = process.env.PLAYWRIGHT_CORE_DIR ?? join(repo, ".ci/.cache/playwright");
const { chromium } = createRequire(join(playwrightDir, "package.json"))("playwright-core");
const artifacts = process.env.VAWG_ARTIFACTS ?? join(repo, ".ci/artifacts/dashboard");
const FROM = "2020-04-01";
const TO = "2024-03-31";
const STARTUP_DEADLINE_MS = 300_000;

let demo;
let dataDir;
let grpcAddr;
let dashboardUrl;
let token;
let browser;
let page;

/** Starts the demo and waits (with a deadline) for the lines naming its addresses and token. */
async function startHub() {
  dataDir = mkdtempSync(join(tmpdir(), "vawg-dashboard-"));
  demo = spawn(
    bin,
    ["demo", "--keep-running", "--data-dir", dataDir, "--listen", "127.0.0.1:0", "--dashboard-listen", "127.0.0.1:0", "--journeys", "2000"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  demo.stderr.on("data", (d) => {
    stderr = (stderr + d).slice(-4000);
  });
  const lines = createInterface({ input: demo.stdout });
  await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not print the dashboard token in time:\n${stderr}`)), STARTUP_DEADLINE_MS);
    demo.on("exit", (code) => reject(new Error(`the demo exited (${code}) before serving:\n${stderr}`)));
    lines.on("line", (line) => {
      const hub = line.match(/hub listening on https:\/\/(\S+)/);
      if (hub) grpcAddr = hub[1];
      if (line.startsWith("dashboard-url: ")) dashboardUrl = line.slice("dashboard-url: ".length).trim();
      if (line.startsWith("dashboard-token: ")) {
        token = line.slice("dashboard-token: ".length).trim();
        clearTimeout(timer);
        resolvePromise();
      }
    });
  });
  assert.ok(grpcAddr && dashboardUrl && token, "the demo printed its addresses and a token");
  // A token file for the command-line client (the same central agency, over mutual TLS).
  writeFileSync(join(dataDir, "central.jwt"), token);
}

/** `vawg-hub metrics <args>` as the central team over mutual TLS + token. */
function cli(args) {
  const pki = join(dataDir, "pki");
  return execFileSync(
    bin,
    [
      "metrics",
      ...args,
      "--server", `https://${grpcAddr}`,
      "--ca", join(pki, "ca.pem"),
      "--cert", join(pki, "agencies/central-analysis.pem"),
      "--key", join(pki, "agencies/central-analysis.key"),
      "--token-file", join(dataDir, "central.jwt"),
    ],
    { encoding: "utf8" },
  );
}

/** A metric table from the gRPC API, as JSON. */
function apiQuery(metric, extra = []) {
  return JSON.parse(cli(["query", "--metric", metric, "--from", FROM, "--to", TO, "--format", "json", ...extra]));
}

/** Opens a view by its address and waits until it has rendered. */
async function open(hash, viewId) {
  await page.evaluate((h) => {
    window.location.hash = h;
  }, hash);
  await page.waitForSelector(`#view[data-loaded="${viewId}"]`, { timeout: 60_000 });
  const error = await page.$("#view .error");
  assert.equal(error, null, error ? await error.textContent() : "");
}

/** The rows of a table by test id: the text each cell shows, GSS symbols included (without
 * the words for screen readers). */
async function tableRows(testId) {
  return page.$$eval(`[data-testid="${testId}"] tbody tr`, (rows) =>
    rows.map((r) => [...r.cells].map((c) => (c.dataset.text ?? c.textContent ?? "").trim())),
  );
}

/** Chooses the figures in the header ("" for the default, "perturbed") and waits for the view
 * to render again. */
async function chooseProtection(value) {
  await page.selectOption("#protection", value);
  await page.waitForSelector("#view[data-loaded]", { timeout: 60_000 });
}

/** Clicks "Export as CSV" and returns the file's comment lines ("#…"), header and rows. */
async function exportCsv() {
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
  const text = readFileSync(await download.path(), "utf8");
  const rows = [];
  const comments = [];
  for (const line of text.split("\r\n").filter(Boolean)) {
    if (rows.length === 0 && line.startsWith("#")) {
      comments.push(line);
      continue;
    }
    const cells = [];
    let cur = "";
    let quoted = false;
    for (let i = 0; i < line.length; i++) {
      const ch = line[i];
      if (quoted && ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = !quoted;
      else if (ch === "," && !quoted) {
        cells.push(cur);
        cur = "";
      } else cur += ch;
    }
    cells.push(cur);
    rows.push(cells);
  }
  return { comments, header: rows[0], rows: rows.slice(1), name: download.suggestedFilename() };
}

async function screenshot(name) {
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** The text the dashboard shows for a JSON cell of the API (`vawg-hub metrics … --format
 * json`): the GSS symbol alone for a withheld or empty cell, else the value, followed by its
 * symbol ("[u]"), or "[low]" when a non-zero value shows as 0. */
function shown(cell, unit) {
  if (cell.value === null) return cell.symbol;
  let text;
  let zero;
  if (unit === "proportion") {
    text = `${(cell.value * 100).toFixed(1)}%`;
    zero = Math.abs(cell.value * 100) < 0.05;
  } else if (unit === "days") {
    text = cell.value.toFixed(1);
    zero = Math.abs(cell.value) < 0.05;
  } else {
    text = Math.trunc(cell.value).toLocaleString("en-GB");
    zero = Math.trunc(cell.value) === 0;
  }
  if ((zero && cell.value !== 0) || cell.symbol === "[low]") text = "[low]";
  return cell.symbol && cell.symbol !== "[low]" ? `${text} ${cell.symbol}` : text;
}

const BANNER_TITLE = "EXACT FIGURES — NOT FOR RELEASE";
const BANNER_TEXT = "For the central team's statisticians only. Publish only the fixed publication tables or perturbed figures.";
const CSV_COMMENT = "# EXACT FIGURES, NOT FOR RELEASE";

/** Asserts that the view shows the not-for-release banner at its top (right under its heading,
 * as a region named by its heading), or that it does not. */
async function assertBanner(expected) {
  const banner = await page.$('#view [data-testid="not-for-release"]');
  if (!expected) {
    assert.equal(banner, null, "no not-for-release banner");
    return;
  }
  assert.ok(banner && (await banner.isVisible()), "the not-for-release banner is shown");
  const b = await page.$eval('#view [data-testid="not-for-release"]', (e) => ({
    heading: e.querySelector("h3")?.textContent,
    text: e.querySelector("p")?.textContent,
    labelledBy: e.getAttribute("aria-labelledby"),
    headingId: e.querySelector("h3")?.id,
    tag: e.tagName,
    afterHead: e.previousElementSibling?.classList.contains("view-head") ?? false,
  }));
  assert.equal(b.heading, BANNER_TITLE);
  assert.equal(b.text, BANNER_TEXT);
  assert.equal(b.tag, "SECTION", "a region");
  assert.equal(b.labelledBy, b.headingId, "named by its heading");
  assert.ok(b.afterHead, "at the top of the view, under its title");
  assert.match(await page.textContent("#status"), /exact figures, not for release/);
}

/** Asserts what no view shows: the retired [c2] mark, and a threshold note for a table that had
 * no threshold ("Counts from 1 to -1"). */
async function assertNoStaleMarks() {
  const text = await page.textContent("#view");
  assert.ok(!text.includes("[c2]"), "no [c2]: GSS has one symbol for confidential");
  assert.ok(!/Counts from 1 to/.test(text), "no suppression threshold note on the flexible path");
}

const key = (dims, names) => names.map((n) => dims[n]).join("|");

/** Asserts that CSV rows (the dimensions `dims` first, then value and status columns) match
 * the API's rows. */
function assertCsvMatches(csv, api, dims) {
  const dimColumns = dims.length;
  const byKey = new Map(api.rows.map((r) => [key(r.dimensions, dims), r]));
  const valueAt = csv.header.indexOf("value");
  const statusAt = csv.header.indexOf("status");
  const baseAt = csv.header.indexOf("base");
  const symbolAt = csv.header.indexOf("symbol");
  assert.ok(valueAt >= 0 && statusAt >= 0 && baseAt >= 0 && symbolAt >= 0, `columns of ${csv.header}`);
  let matched = 0;
  for (const row of csv.rows) {
    const k = row.slice(0, dimColumns).join("|");
    const want = byKey.get(k);
    if (!want) continue; // totals rows
    matched++;
    assert.equal(row[statusAt], want.status, `status of ${k}`);
    assert.equal(row[symbolAt], want.symbol, `symbol of ${k}`);
    if (want.value === null) {
      assert.equal(row[valueAt], "", `withheld ${k} exported without a value`);
      assert.equal(row[baseAt], "0", `withheld ${k} exported without its base`);
    } else {
      assert.equal(Number(row[valueAt]), want.value, `value of ${k}`);
      assert.equal(Number(row[baseAt]), want.base, `base of ${k}`);
    }
  }
  assert.equal(matched, api.rows.length, "every row of the API is in the export");
}

describe("dashboard in headless Chromium against a hub with synthetic data", { timeout: 900_000 }, () => {
  before(async () => {
    mkdirSync(artifacts, { recursive: true });
    await startHub();
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--lang=en-GB",
      ],
    });
    // The hub's certificate comes from the demo's own development CA.
    const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, locale: "en-GB", viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.on("pageerror", (e) => console.error("page error:", e));
    await page.goto(dashboardUrl);
  });

  after(async () => {
    await browser?.close();
    if (demo && demo.exitCode === null) {
      const exited = new Promise((r) => demo.once("exit", r));
      demo.kill("SIGTERM");
      await exited;
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  test("a wrong token is refused, with the hub's reason", async () => {
    await page.fill("#token", "not-a-token");
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector("#status.error");
    assert.match(await page.textContent("#status"), /Sign-in failed\. Not signed in/);
    assert.equal(await page.isVisible("#app"), false);
    await screenshot("00-sign-in-refused");
  });

  test("sign in as the central team and see the catalogue", async () => {
    await page.fill("#token", token);
    await page.click("#signin-form button[type=submit]");
    await page.waitForSelector('#view[data-loaded="catalogue"]', { timeout: 60_000 });
    assert.match(await page.textContent("#who"), /central-analysis/);
    const rows = await tableRows("catalogue-table");
    const listed = cli(["list"])
      .split("\n")
      .slice(2)
      .filter((l) => l.trim())
      .map((l) => l.trim().split(/\s{2,}/)[1]);
    assert.equal(rows.length, listed.length, "one row per metric of ListMetrics");
    assert.deepEqual(rows.map((r) => r[0]).sort(), [...listed].sort());
    // Units as ListMetrics gives them: count metrics now name what they count (people, cases,
    // offences, records, incidents).
    const UNIT_NAMES = { count: "Count", proportion: "Proportion", days: "Days", pence: "Money (£)", person: "People", case: "Cases", offence: "Offences", record: "Records", incident: "Incidents" };
    const units = new Map(
      cli(["list"]).split("\n").slice(2).filter((l) => l.trim()).map((l) => l.trim().split(/\s{2,}/)).map(([, title, unit]) => [title, unit]),
    );
    for (const r of rows) assert.equal(r[2], UNIT_NAMES[units.get(r[0])], `unit of ${r[0]} (${units.get(r[0])})`);
    assert.ok([...units.values()].some((u) => ["person", "case", "offence", "record", "incident"].includes(u)), "the hub names count units");
    const csv = await exportCsv();
    assert.equal(csv.rows.length, listed.length);
    assert.match(csv.name, /^vawg-catalogue-/);
    assert.deepEqual(csv.comments, [], "the catalogue holds no figures");
    await assertBanner(false);
    await screenshot("01-catalogue");
  });

  test("keyboard: the views are reachable with Tab and Enter, and focus moves to the heading", async () => {
    await page.focus('#nav a[data-view="catalogue"]');
    for (let i = 0; i < 3; i++) await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("data-view")), "funnel");
    await page.keyboard.press("Enter");
    await page.waitForSelector('#view[data-loaded="funnel"]', { timeout: 60_000 });
    assert.equal(await page.evaluate(() => document.activeElement?.id), "view-title");
    assert.equal(await page.getAttribute('#nav a[data-view="funnel"]', "aria-current"), "page");
  });

  test("metric explorer: a time series by category matches QueryMetric", async () => {
    await open("#/metric?metric=recorded_crimes&grain=2&level=1&scope=2&rule=2&by1=2&by2=0", "metric");
    const api = apiQuery("recorded_crimes", ["--grain", "quarter", "--by", "category", "--scope", "women-and-girls", "--rule", "principal-crime"]);
    const csv = await exportCsv();
    assert.deepEqual(csv.header.slice(0, 2), ["period", "category"]);
    assertCsvMatches(csv, api, ["period", "category"]);
    const rows = await tableRows("metric-table");
    assert.equal(rows.length, api.rows.length + api.totals.length);
    rows.slice(0, api.rows.length).forEach((r, i) => assert.equal(r[r.length - 1], shown(api.rows[i], "count"), `row ${r.slice(0, 2)}`));
    const canvas = await page.$('[data-testid="metric-chart"] canvas');
    assert.equal(await canvas.getAttribute("role"), "img");
    assert.match(await canvas.getAttribute("aria-label"), /Recorded VAWG crimes.*table/);
    await screenshot("02-metric-explorer");
  });

  test("metric explorer: the breakdowns each metric's descriptor lists, with the hub's labels", async () => {
    const options = (name) => page.$$eval(`#view select[name="${name}"] option`, (os) => os.map((o) => o.textContent.trim()));
    // recorded_crimes lists the domestic context and the suspect and victim profile breakdowns.
    await open("#/metric?metric=recorded_crimes&grain=4&level=1&rule=4&by1=9&by2=0", "metric");
    const by1 = await options("by1");
    for (const name of ["Domestic abuse-related", "Suspect sex", "Suspect age band", "Suspect ethnic group", "Victim–suspect relationship", "Victim sexual orientation", "Victim gender identity"]) {
      assert.ok(by1.includes(name), `recorded_crimes offers "${name}": ${by1}`);
    }
    assert.ok((await options("rule")).includes("One per relationship (NAO summary)"));
    const api = apiQuery("recorded_crimes", ["--by", "domestic-abuse-related", "--rule", "one-per-relationship"]);
    const csv = await exportCsv();
    assert.deepEqual(csv.header.slice(0, 2), ["period", "domestic_abuse_related"]);
    assertCsvMatches(csv, api, ["period", "domestic_abuse_related"]);
    const values = new Set(api.rows.map((r) => r.dimensions.domestic_abuse_related));
    assert.ok([...values].every((v) => ["FLAGGED", "RELATIONSHIP_ONLY", "NOT_DOMESTIC"].includes(v)), [...values].join());
    const rows = await tableRows("metric-table");
    const header = await page.$$eval('[data-testid="metric-table"] thead th', (ths) => ths.map((t) => t.textContent.trim()));
    assert.deepEqual(header, ["Period", "Domestic abuse-related", "Value"]);
    const labels = new Set(rows.slice(0, api.rows.length).map((r) => r[1]));
    assert.ok([...labels].every((l) => ["Flagged", "Relationship only", "Not domestic"].includes(l)), `readable labels: ${[...labels]}`);
    rows.slice(0, api.rows.length).forEach((r, i) => assert.equal(r[r.length - 1], shown(api.rows[i], "count"), `row ${r.slice(0, 2)}`));

    // Two profile breakdowns combine; with one of them, the second picker leaves out the sub-type
    // and the domestic context (the hub refuses those pairs).
    await open("#/metric?metric=recorded_crimes&grain=4&level=1&by1=10&by2=13", "metric");
    const by2 = await options("by2");
    assert.ok(by2.includes("Victim–suspect relationship") && !by2.includes("Domestic abuse-related") && !by2.includes("Sub-type"), `${by2}`);
    const pair = apiQuery("recorded_crimes", ["--by", "suspect-sex", "--by", "relationship"]);
    const pairCsv = await exportCsv();
    assert.deepEqual(pairCsv.header.slice(0, 3), ["period", "suspect_sex", "relationship"]);
    assertCsvMatches(pairCsv, pair, ["period", "suspect_sex", "relationship"]);
    // A pair the hub refuses is not asked for: the view says so and shows the first alone.
    await open("#/metric?metric=recorded_crimes&grain=4&level=1&by1=10&by2=9", "metric");
    assert.match(await page.textContent('[data-testid="breakdown-dropped"]'), /Domestic abuse-related does not combine with Suspect sex/);
    assert.deepEqual((await exportCsv()).header.slice(0, 2), ["period", "suspect_sex"]);
    await screenshot("02b-metric-explorer-new-breakdowns");

    // A metric whose descriptor lists none of them offers none of them.
    await open("#/metric?metric=charge_rate&grain=4&level=1&by1=1&by2=0", "metric");
    const chargeBy = await options("by1");
    assert.ok(!chargeBy.includes("Suspect sex") && !chargeBy.includes("Domestic abuse-related"), `${chargeBy}`);
  });

  test("exact figures, the central team's default, are marked not for release on the page and in the export", async () => {
    await open("#/metric?metric=recorded_crimes&grain=1&level=1&by1=1&by2=2", "metric");
    const api = apiQuery("recorded_crimes", ["--grain", "month", "--by", "area", "--by", "category"]);
    assert.equal(api.protection, "PROTECTION_EXACT_NOT_FOR_RELEASE");
    assert.ok(api.rows.every((r) => r.status === "exact_not_for_release"));
    await assertBanner(true);
    await assertNoStaleMarks();
    const csv = await exportCsv();
    assert.ok(csv.comments[0]?.startsWith(CSV_COMMENT), `the export starts with "${CSV_COMMENT}": ${csv.comments[0]}`);
    assert.match(csv.name, /NOT-FOR-RELEASE\.csv$/);
    assert.deepEqual(csv.header.slice(-5), ["value", "status", "shown_as", "base", "symbol"]);
    assertCsvMatches(csv, api, ["period", "area", "category"]);
    // The hub's own note says the same, and shows with the table.
    assert.match(await page.textContent('#view [data-testid="notes"]'), /NOT FOR RELEASE/);
    await screenshot("03-exact-not-for-release");
  });

  test("low-reliability values are followed by [u], explained", async () => {
    await open("#/metric?metric=charge_rate&grain=4&level=1&by1=1&by2=2", "metric");
    const api = apiQuery("charge_rate", ["--by", "area", "--by", "category"]);
    const low = [...api.rows, ...api.totals].filter((r) => r.symbol === "[u]");
    assert.ok(low.length > 0, "the synthetic data has rates on fewer than 20 charges by area and category");
    const rows = await tableRows("metric-table");
    const flagged = rows.filter((r) => r[r.length - 1].endsWith(" [u]"));
    assert.equal(flagged.length, low.length, "every [u] of the API is shown");
    assert.match(flagged[0][flagged[0].length - 1], /^\d+\.\d% \[u\]$/, "the value, then [u]");
    rows.slice(0, api.rows.length).forEach((r, i) => assert.equal(r[r.length - 1], shown(api.rows[i], "proportion"), `row ${r.slice(0, 3)}`));
    const explanation = await page.getAttribute('[data-testid="metric-table"] td.flagged abbr', "title");
    assert.match(explanation, /^Low reliability/);
    assert.match(await page.textContent('[data-testid="metric-table"] + [data-testid="legend"]'), /\[u\] Low reliability/);
    await assertBanner(true);
    await assertNoStaleMarks();
    const csv = await exportCsv();
    assertCsvMatches(csv, api, ["period", "area", "category"]);
    assert.ok(csv.rows.some((r) => r.at(-1) === "[u]" && r.at(-3).endsWith(" [u]")), "the symbol column says [u]");
  });

  test("perturbed figures on request: withheld cells show [c], never a value or base, and are left out of the chart", async () => {
    await chooseProtection("perturbed");
    try {
      await open("#/metric?metric=charge_rate&grain=4&level=1&by1=1&by2=2", "metric");
      const api = apiQuery("charge_rate", ["--by", "area", "--by", "category", "--protection", "cell-key-perturbation"]);
      assert.equal(api.protection, "PROTECTION_CELL_KEY_PERTURBATION");
      const withheld = [...api.rows, ...api.totals].filter((r) => r.value === null && r.symbol === "[c]");
      assert.ok(withheld.length > 0, "the synthetic data has rates on small bases by area and category");
      assert.ok(withheld.every((r) => r.base === null), "the CLI withholds the base too");
      await assertBanner(false);
      const rows = await tableRows("metric-table");
      const marked = rows.filter((r) => r[r.length - 1] === "[c]");
      assert.equal(marked.length, withheld.length, "every withheld cell shows [c]");
      rows.slice(0, api.rows.length).forEach((r, i) => assert.equal(r[r.length - 1], shown(api.rows[i], "proportion"), `row ${r.slice(0, 3)}`));
      const explanation = await page.getAttribute('[data-testid="metric-table"] td.mark abbr', "title");
      assert.match(explanation, /^Confidential/);
      assert.ok(await page.isVisible('[data-testid="suppressed-note"]'), "the chart says what it leaves out");
      assert.match(await page.textContent('[data-testid="suppressed-note"]'), /withheld cells? \(\[c\]\) not plotted/);
      // The hub's note on perturbation shows with the figures.
      assert.match(await page.textContent('#view [data-testid="notes"]'), /within 5 of the true count/);
      await assertNoStaleMarks();
      const csv = await exportCsv();
      assert.deepEqual(csv.comments, [], "perturbed figures may be released: no not-for-release line");
      assert.doesNotMatch(csv.name, /NOT-FOR-RELEASE/);
      assertCsvMatches(csv, api, ["period", "area", "category"]);
      const valueAt = csv.header.indexOf("value");
      const baseAt = csv.header.indexOf("base");
      const withheldRows = csv.rows.filter((r) => r.at(-1) === "[c]");
      assert.equal(withheldRows.length, withheld.length);
      assert.ok(withheldRows.every((r) => r[valueAt] === "" && r[baseAt] === "0"), "no withheld value or base in the export");
      await screenshot("03b-perturbed-withheld-cells");
    } finally {
      await chooseProtection("");
    }
  });

  test("definition comparison: three scopes × four rules match CompareDefinitions", async () => {
    await open("#/compare?metric=recorded_crimes", "compare");
    const docs = cli(["compare", "--metric", "recorded_crimes", "--from", FROM, "--to", TO, "--format", "json"])
      .split(/\n(?=\{)/)
      .map((d) => JSON.parse(d));
    assert.equal(docs.length, 12);
    await assertBanner(true);
    await assertNoStaleMarks();
    const csv = await exportCsv();
    assert.ok(csv.comments[0]?.startsWith(CSV_COMMENT));
    assert.equal(csv.rows.length, 12);
    const totalAt = csv.header.indexOf("total");
    csv.rows.forEach((row, i) => {
      const total = docs[i].totals[0];
      assert.equal(row[csv.header.indexOf("status")], total.status, `variant ${row[0]} ${row[1]}`);
      assert.equal(row[totalAt] === "" ? null : Number(row[totalAt]), total.value, `variant ${row[0]} ${row[1]}`);
      assert.equal(row[csv.header.indexOf("symbol")], total.symbol, `variant ${row[0]} ${row[1]}`);
    });
    // The variants in the hub's order (`vawg-hub metrics compare`'s table: scope, rule, total).
    const variants = cli(["compare", "--metric", "recorded_crimes", "--from", FROM, "--to", TO])
      .split("\n")
      .slice(2)
      .filter((l) => l.trim())
      .map((l) => l.trim().split(/\s{2,}/).slice(0, 2));
    assert.equal(variants.length, 12);
    assert.deepEqual(csv.rows.map((r) => r.slice(0, 2)), variants, "scope and rule of each variant");
    const rules = [...new Set(csv.rows.map((r) => r[1]))];
    assert.deepEqual(rules, ["ALL_OFFENCES", "PRINCIPAL_CRIME", "PRINCIPAL_PLUS_COURSE_OF_CONDUCT", "ONE_PER_RELATIONSHIP"]);
    assert.equal(csv.rows.filter((r) => r[1] === "ONE_PER_RELATIONSHIP").length, 3, "ONE_PER_RELATIONSHIP under each scope");
    const grid = await tableRows("compare-grid");
    assert.equal(grid.length, 3);
    assert.ok(grid.every((r) => r.length === 5), "a column per counting rule");
    const columns = await page.$$eval('[data-testid="compare-grid"] thead th', (ths) => ths.map((t) => t.textContent.trim()));
    assert.deepEqual(columns, [
      "Victim scope",
      "All offences",
      "Principal crime per incident (since 2023)",
      "Principal + course of conduct (2017/18–2023)",
      "One per relationship (NAO summary)",
    ]);
    const detail = await tableRows("compare-detail");
    assert.equal(detail.length, 12, "a row per variant");
    assert.equal(detail.filter((r) => r[0].endsWith("/ One per relationship (NAO summary)")).length, 3);
    await screenshot("04-definition-comparison");
  });

  test("attrition funnel matches QueryMetric", async () => {
    await open("#/funnel", "funnel");
    const api = apiQuery("attrition_funnel", ["--by", "subtype"]);
    const rows = await tableRows("funnel-table");
    assert.equal(rows.length, api.rows.length);
    rows.forEach((r, i) => assert.equal(r[1], shown(api.rows[i], "count"), `stage ${r[0]}`));
    const csv = await exportCsv();
    assert.equal(csv.rows.length, api.rows.length);
    await screenshot("05-attrition-funnel");
  });

  test("referral-to-charge days: mean, median and p90 by category match QueryMetric", async () => {
    await open("#/charge-days", "charge-days");
    const csv = await exportCsv();
    for (const [column, statistic] of [[2, "mean"], [3, "median"], [4, "p90"]]) {
      const api = apiQuery("referral_to_charge_days", ["--by", "category", "--statistic", statistic]);
      for (const r of api.rows) {
        const row = csv.rows.find((c) => c[0] === r.dimensions.category);
        assert.ok(row, `category ${r.dimensions.category}`);
        assert.equal(row[column], shown(r, "days"), `${statistic} of ${r.dimensions.category}`);
      }
      const all = csv.rows.find((c) => c[0] === "ALL");
      assert.equal(all[column], shown(api.totals[0], "days"), `${statistic} of all VAWG`);
    }
    await screenshot("06-referral-to-charge");
  });

  test("withdrawal by stage matches QueryMetric", async () => {
    await open("#/withdrawal", "withdrawal");
    const api = apiQuery("withdrawal_rate", ["--by", "subtype"]);
    const csv = await exportCsv();
    assert.equal(csv.rows.length, api.rows.length);
    for (const r of api.rows) {
      const row = csv.rows.find((c) => c[0] === r.dimensions.subtype);
      assert.ok(row, `stage ${r.dimensions.subtype}`);
      assert.equal(row[4], r.status);
      assert.equal(row[5], r.symbol);
      if (r.value !== null) assert.equal(Number(row[3]), r.value);
      else assert.equal(row[1], "0", "a withheld rate's base is not exported");
    }
    await screenshot("07-withdrawal-by-stage");
  });

  test("support demand and unmet need match QueryMetric", async () => {
    await open("#/support", "support");
    const csv = await exportCsv();
    const ids = ["support_referrals", "people_supported", "unable_to_support"];
    for (const [i, id] of ids.entries()) {
      const api = apiQuery(id, ["--grain", "quarter"]);
      for (const r of api.rows) {
        const row = csv.rows.find((c) => c[0] === "by_quarter" && c[1] === r.dimensions.period);
        assert.ok(row, `${id} ${r.dimensions.period}`);
        assert.equal(row[2 + i], shown(r, "count"), `${id} ${r.dimensions.period}`);
      }
    }
    const reasons = apiQuery("unable_to_support", ["--by", "subtype"]);
    const shownReasons = await tableRows("unmet-table");
    assert.equal(shownReasons.length, reasons.rows.length);
    reasons.rows.forEach((r, i) => assert.equal(shownReasons[i][1], shown(r, "count")));
    await screenshot("08-support-and-unmet-need");
  });

  test("area comparison matches QueryMetric", async () => {
    await open("#/areas?metric=charge_rate&level=1", "areas");
    const api = apiQuery("charge_rate", ["--by", "area"]);
    const csv = await exportCsv();
    assertCsvMatches(csv, api, ["area"]);
    const rows = await tableRows("areas-table");
    assert.equal(rows.length, api.rows.length + 1);
    assert.equal(rows[rows.length - 1][1], shown(api.totals[0], "proportion"));
    await screenshot("09-area-comparison");
  });

  test("every chart has a label and a data table beside it", async () => {
    for (const [hash, id] of [["#/support", "support"], ["#/areas", "areas"]]) {
      await open(hash, id);
      const charts = await page.$$eval("figure.chart", (fs) =>
        fs.map((f) => ({ label: f.querySelector("canvas")?.getAttribute("aria-label") ?? "", table: !!f.parentElement?.querySelector("table") })),
      );
      assert.ok(charts.length > 0);
      for (const c of charts) {
        assert.ok(c.label.length > 20, "the chart has a summary label");
        assert.ok(c.table, "the chart has a table alternative");
      }
    }
  });

  test("sign out forgets the token", async () => {
    await page.click("#signout");
    assert.equal(await page.isVisible("#app"), false);
    assert.equal(await page.inputValue("#token"), "");
  });
});
