// The list: every TrainJob, one keyed row each, updated in place once per animation frame.
import { el, clear, setText, duration, age, num, phaseClass, phaseLabel, epochText, PHASES } from "./dom.js";
import { sparkline, updateSparkline } from "./charts.js";
import { jobs, onChange, state } from "./stream.js";

const COLUMNS = ["", "Namespace", "Name", "Phase", "Progress", "Epoch", "Loss", "ETA", "Restarts", "Age"];

// Render the list into `view`; returns a function that tears it down.
export function showList(view, query) {
  const selected = new Set();
  const rows = new Map(); // key -> {tr, cells, row}
  const pending = new Map(); // key -> row or null (deleted), applied in the next frame
  let frame = 0;

  const namespaceFilter = el("select", { id: "filter-namespace", "aria-label": "namespace" }, el("option", { value: "" }, "all namespaces"));
  const phaseFilter = el("select", { id: "filter-phase", "aria-label": "phase" },
    el("option", { value: "" }, "all phases"), PHASES.map((p) => el("option", { value: p }, p)));
  const nameFilter = el("input", { id: "filter-name", type: "search", placeholder: "filter by name", "aria-label": "name" });
  namespaceFilter.value = query.get("namespace") || "";
  phaseFilter.value = query.get("phase") || "";
  const compare = el("button", { id: "compare", type: "button", disabled: true }, "Compare selected");
  const count = el("span", { id: "count", class: "muted" });
  const tbody = el("tbody", { id: "jobs" });
  const empty = el("p", { id: "empty", class: "muted", hidden: true });
  const table = el("table", { class: "jobs", "aria-busy": "true" },
    el("thead", {}, el("tr", {}, COLUMNS.map((c) => el("th", {}, c)))), tbody);
  clear(view).append(
    el("section", { class: "toolbar" }, namespaceFilter, phaseFilter, nameFilter, compare, count),
    table, empty);

  const namespaces = new Set();
  function addNamespace(namespace) {
    if (namespaces.has(namespace)) return;
    namespaces.add(namespace);
    showNamespaces();
  }

  // The namespace filter's options: every namespace seen, keeping the one chosen.
  function showNamespaces() {
    const options = [...namespaces].sort().map((n) => el("option", { value: n }, n));
    const chosen = namespaceFilter.value || query.get("namespace") || "";
    namespaceFilter.replaceChildren(el("option", { value: "" }, "all namespaces"), ...options);
    namespaceFilter.value = chosen;
  }

  function visible(row) {
    return (!namespaceFilter.value || row.namespace === namespaceFilter.value)
      && (!phaseFilter.value || row.phase === phaseFilter.value)
      && (!nameFilter.value || row.name.includes(nameFilter.value.trim()));
  }

  function makeRow(row) {
    const check = el("input", { type: "checkbox", "aria-label": `select ${row.key}` });
    check.addEventListener("change", () => {
      if (check.checked) selected.add(row.key); else selected.delete(row.key);
      compare.disabled = selected.size < 1;
    });
    const link = el("a", { href: `#/job/${encodeURIComponent(row.namespace)}/${encodeURIComponent(row.name)}`, class: "job-link" });
    const bar = el("div", { class: "bar-fill" });
    const barText = el("span", { class: "bar-text" });
    const cells = {
      namespace: el("td", { class: "namespace" }),
      name: el("td", { class: "name" }, link),
      link,
      phase: el("span", { class: "phase" }),
      bar, barText,
      epoch: el("td", { class: "epoch num" }),
      lossText: el("span", { class: "loss-value" }),
      spark: sparkline(row.losses),
      eta: el("td", { class: "eta num" }),
      restarts: el("td", { class: "restarts num" }),
      age: el("td", { class: "age num" }),
    };
    const tr = el("tr", { dataset: { key: row.key } },
      el("td", {}, check), cells.namespace, cells.name, el("td", {}, cells.phase),
      el("td", { class: "progress" }, el("div", { class: "bar", role: "progressbar", "aria-valuemin": 0, "aria-valuemax": 100 }, bar), barText),
      cells.epoch, el("td", { class: "loss" }, cells.lossText, cells.spark), cells.eta, cells.restarts, cells.age);
    const entry = { tr, cells, row };
    fill(entry, row);
    return entry;
  }

  function fill(entry, row) {
    const c = entry.cells;
    entry.row = row;
    setText(c.namespace, row.namespace);
    setText(c.link, row.name);
    setText(c.phase, phaseLabel(row));
    c.phase.className = `phase ${phaseClass(row.phase)}`;
    const percent = row.percent === null || row.percent === undefined ? null : Math.max(0, Math.min(100, row.percent));
    const width = percent === null ? "0%" : `${percent.toFixed(1)}%`;
    if (c.bar.style.width !== width) c.bar.style.width = width;
    c.bar.parentNode.setAttribute("aria-valuenow", percent === null ? "0" : percent.toFixed(1));
    setText(c.barText, percent === null ? "-" : `${percent.toFixed(0)}%`);
    setText(c.epoch, epochText(row));
    setText(c.lossText, num(row.loss));
    updateSparkline(c.spark, row.losses);
    setText(c.eta, row.etaSeconds === null || row.finished ? "-" : duration(row.etaSeconds));
    setText(c.restarts, row.restarts);
    setText(c.age, age(row.created));
    entry.tr.hidden = !visible(row);
  }

  // Where a new key goes: rows stay sorted by key.
  function insert(entry) {
    let before = null;
    for (const [key, other] of rows) if (key > entry.row.key && (!before || key < before.row.key)) before = other;
    tbody.insertBefore(entry.tr, before ? before.tr : null);
  }

  function apply() {
    frame = 0;
    for (const [key, row] of pending) {
      const entry = rows.get(key);
      if (row === null) {
        if (entry) { entry.tr.remove(); rows.delete(key); selected.delete(key); }
      } else if (entry) {
        fill(entry, row);
      } else {
        const made = makeRow(row);
        insert(made);
        rows.set(key, made);
        addNamespace(row.namespace);
      }
    }
    pending.clear();
    summarize();
  }

  function summarize() {
    let shown = 0;
    for (const { tr } of rows.values()) if (!tr.hidden) shown++;
    // Until the server's first list came back, no row means "not known yet", not "none".
    setText(count, state.synced ? `${shown} of ${rows.size} TrainJobs` : "");
    table.setAttribute("aria-busy", String(!state.synced));
    setText(empty, state.synced ? "No TrainJobs here yet." : "Loading the TrainJobs…");
    empty.hidden = rows.size > 0;
    view.dataset.rendered = String(rows.size);
  }

  function snapshot(all) {
    // A fresh full list: built off-document in one fragment, then swapped in.
    for (const key of rows.keys()) if (!jobs.has(key)) selected.delete(key);
    rows.clear();
    pending.clear();
    const fragment = document.createDocumentFragment();
    const sorted = [...all].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const row of sorted) {
      const entry = makeRow(row);
      if (selected.has(row.key)) entry.tr.querySelector("input").checked = true;
      rows.set(row.key, entry);
      fragment.append(entry.tr);
      namespaces.add(row.namespace);
    }
    showNamespaces();
    tbody.replaceChildren(fragment);
    summarize();
    // For the benchmarks and tests: when the full list was last drawn (the next frame shows it).
    performance.mark("trainjob:list-rendered");
  }

  function refilter() {
    for (const entry of rows.values()) entry.tr.hidden = !visible(entry.row);
    summarize();
    const params = new URLSearchParams();
    if (namespaceFilter.value) params.set("namespace", namespaceFilter.value);
    if (phaseFilter.value) params.set("phase", phaseFilter.value);
    history.replaceState(null, "", `#/${params.toString() ? "?" + params : ""}`);
  }
  namespaceFilter.addEventListener("change", refilter);
  phaseFilter.addEventListener("change", refilter);
  nameFilter.addEventListener("input", refilter);
  compare.addEventListener("click", () => {
    location.hash = `#/compare?jobs=${encodeURIComponent([...selected].sort().join(","))}`;
  });

  if (jobs.size) snapshot([...jobs.values()]);
  else summarize();
  const ages = setInterval(() => { for (const entry of rows.values()) setText(entry.cells.age, age(entry.row.created)); }, 5000);
  const off = onChange((kind, data) => {
    if (kind === "snapshot") snapshot(data);
    else if (kind === "update" || kind === "delete") {
      pending.set(kind === "update" ? data.key : data, kind === "update" ? data : null);
      if (!frame) frame = requestAnimationFrame(apply);
    }
  });
  return () => { off(); clearInterval(ages); if (frame) cancelAnimationFrame(frame); };
}
