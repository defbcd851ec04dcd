// The dashboard: sign in with a token, then views over the hub's aggregate metrics. Addresses
// are `#/<view>?<params>`, so every view can be bookmarked, and moving between views keeps the
// token in memory only (never in storage): closing the tab signs out.

import { connect, describeError, tokenSubject } from "./api";
import { anyNotForRelease, type Context, notForReleaseBanner, type Rendered, VIEWS } from "./views";
import { NOT_FOR_RELEASE_CSV_COMMENT } from "./format";
import { Protection } from "./gen/vawg/v1/metrics_pb";
import { destroyCharts, downloadCsv, el } from "./ui";
import "./styles.css";

interface Session {
  ctx: Omit<Context, "params">;
  agency: string;
}

let session: Session | undefined;
let lastCsv: Rendered | undefined;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function status(text: string, isError = false): void {
  const s = $("status");
  s.textContent = text;
  s.classList.toggle("error", isError);
}

/** The protection chosen in the header: the caller's default, or cell-key perturbation. */
function protectionChosen(): Protection {
  return ($("protection") as HTMLSelectElement).value === "perturbed" ? Protection.CELL_KEY_PERTURBATION : Protection.UNSPECIFIED;
}

function route(): { view: string; params: URLSearchParams } {
  const hash = window.location.hash.replace(/^#\/?/, "");
  const [view, query] = hash.split("?");
  return { view: view || "catalogue", params: new URLSearchParams(query ?? "") };
}

async function signIn(token: string): Promise<void> {
  const hub = connect(token);
  status("Signing in…");
  try {
    const [catalogue, definition] = await Promise.all([
      hub.metrics.listMetrics({}),
      hub.definitions.getDefinition({ version: "" }),
    ]);
    const from = ($("period-from") as HTMLInputElement).value;
    const to = ($("period-to") as HTMLInputElement).value;
    session = {
      agency: tokenSubject(token) ?? "unknown agency",
      ctx: {
        hub,
        catalogue: catalogue.metrics,
        categories: definition.definition?.categories ?? [],
        from,
        to,
        protection: protectionChosen(),
        navigate: () => undefined,
      },
    };
    $("signin").hidden = true;
    $("app").hidden = false;
    $("who").textContent = `Signed in as ${session.agency}`;
    status("");
    await show();
  } catch (e) {
    status(`Sign-in failed. ${describeError(e)}`, true);
  }
}

function signOut(): void {
  session = undefined;
  destroyCharts();
  $("view").replaceChildren();
  $("app").hidden = true;
  $("signin").hidden = false;
  ($("token") as HTMLTextAreaElement).value = "";
  status("Signed out.");
  $("token").focus();
}

async function show(): Promise<void> {
  if (!session) return;
  const { view, params } = route();
  const v = VIEWS.find((x) => x.id === view) ?? VIEWS[0]!;
  for (const a of document.querySelectorAll<HTMLAnchorElement>("#nav a")) {
    if (a.dataset.view === v.id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  destroyCharts();
  lastCsv = undefined;
  const root = $("view");
  delete root.dataset.loaded;
  const heading = el("h2", { tabindex: "-1", id: "view-title" }, v.title);
  const body = el("div", { class: "view-body", "aria-busy": "true" });
  const exportButton = el("button", { type: "button", id: "export", disabled: true }, "Export as CSV");
  root.replaceChildren(
    el("div", { class: "view-head" }, heading, exportButton),
    el("p", { class: "description" }, v.description),
    body,
  );
  heading.focus();
  document.title = `${v.title} — VAWG hub dashboard`;
  status(`Loading ${v.title}…`);
  const ctx: Context = {
    ...session.ctx,
    from: ($("period-from") as HTMLInputElement).value,
    to: ($("period-to") as HTMLInputElement).value,
    protection: protectionChosen(),
    params,
    navigate: (p) => {
      const q = new URLSearchParams(p).toString();
      window.location.hash = `#/${v.id}${q ? `?${q}` : ""}`;
    },
  };
  try {
    const rendered = await v.render(body, ctx);
    lastCsv = rendered;
    // Exact figures (the central team's default) are marked not for release at the top of the
    // view, in the status announcement, and in the export's first line and name.
    const exact = anyNotForRelease(rendered.tables);
    if (exact) root.querySelector(".view-head")?.after(notForReleaseBanner());
    exportButton.disabled = false;
    exportButton.addEventListener("click", () => {
      if (lastCsv)
        downloadCsv(
          `vawg-${v.id}-${ctx.from}-to-${ctx.to}${exact ? "-EXACT-NOT-FOR-RELEASE" : ""}.csv`,
          lastCsv.csv,
          exact ? [NOT_FOR_RELEASE_CSV_COMMENT] : [],
        );
    });
    status(exact ? `${v.title} loaded: exact figures, not for release.` : `${v.title} loaded.`);
  } catch (e) {
    body.append(el("p", { class: "error", role: "alert" }, describeError(e)));
    status(`${v.title} failed to load.`, true);
  } finally {
    body.setAttribute("aria-busy", "false");
    root.dataset.loaded = v.id;
  }
}

function init(): void {
  const nav = $("nav");
  nav.replaceChildren(
    ...VIEWS.map((v) => el("li", {}, el("a", { href: `#/${v.id}`, "data-view": v.id }, v.title))),
  );
  $("signin-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = ($("token") as HTMLTextAreaElement).value.trim();
    if (token) void signIn(token);
    else status("Paste a token first.", true);
  });
  $("signout").addEventListener("click", signOut);
  $("period-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void show();
  });
  $("period-form").addEventListener("change", () => void show());
  window.addEventListener("hashchange", () => void show());
}

init();
