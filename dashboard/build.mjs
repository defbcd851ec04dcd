// Builds the dashboard into dist/ (index.html, app.js, app.css), which the hub embeds.
// `node build.mjs --check` builds in memory and fails if dist/ differs: CI runs it, so the
// committed bundle cannot go stale.
import { build } from "esbuild";
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const check = process.argv.includes("--check");

const result = await build({
  entryPoints: { app: join(here, "src/main.ts") },
  bundle: true,
  format: "esm",
  target: ["chrome120", "firefox120", "safari17"],
  minify: true,
  legalComments: "eof",
  charset: "utf8",
  outdir: dist,
  write: false,
  logLevel: "warning",
});

const outputs = new Map(result.outputFiles.map((f) => [f.path.slice(dist.length + 1), Buffer.from(f.contents)]));
outputs.set("index.html", readFileSync(join(here, "index.html")));
const expected = ["app.css", "app.js", "index.html"];
const names = [...outputs.keys()].sort();
if (names.join() !== expected.join()) {
  console.error(`dist would hold ${names.join(", ")}; the hub embeds exactly ${expected.join(", ")}`);
  process.exit(1);
}

if (check) {
  const stale = expected.filter((n) => !existsSync(join(dist, n)) || !readFileSync(join(dist, n)).equals(outputs.get(n)));
  if (stale.length) {
    console.error(`dashboard/dist is stale (${stale.join(", ")}): run \`npm run build\` in dashboard/ and commit dist/.`);
    process.exit(1);
  }
  console.log("dashboard/dist is current");
} else {
  mkdirSync(dist, { recursive: true });
  for (const [n, bytes] of outputs) writeFileSync(join(dist, n), bytes);
  console.log(`built ${expected.map((n) => `${n} (${outputs.get(n).length} bytes)`).join(", ")}`);
}
