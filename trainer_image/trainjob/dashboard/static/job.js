// A job's page: summary, curves, conditions, Events, failure, early stopping, checkpoint, workers, logs, stop.
import { el, clear, put, setText, duration, age, num, phaseClass, phaseLabel, epochText, csrfToken } from "./dom.js";
import { lineChart } from "./charts.js";
import { jobs, onChange } from "./stream.js";

const REFRESH_MS = 1000;

export function showJob(view, namespace, name) {
  const key = `${namespace}/${name}`;
  const title = el("h1", { id: "job-title" }, name);
  const phase = el("span", { id: "job-phase", class: "phase" });
  const stop = el("button", { id: "stop", type: "button", class: "danger" }, "Stop");
  const message = el("div", { id: "stop-message", role: "alert", hidden: true });
  const summary = el("dl", { id: "summary", class: "summary" });
  const bar = el("div", { class: "bar-fill" });
  const progress = el("div", { class: "bar wide", role: "progressbar", id: "job-progress" }, bar);
  const sections = {
    failure: el("section", { id: "failure", class: "card failure", hidden: true }),
    curves: el("section", { id: "curves", class: "card" }),
    conditions: el("section", { id: "conditions", class: "card" }),
    metrics: el("section", { id: "metrics", class: "card" }),
    early: el("section", { id: "early-stopping", class: "card" }),
    checkpoint: el("section", { id: "checkpoint", class: "card" }),
    workers: el("section", { id: "workers", class: "card" }),
    events: el("section", { id: "events", class: "card" }),
    logs: el("section", { id: "logs", class: "card" }),
  };
  clear(view).append(
    el("div", { class: "job-head" }, el("a", { href: "#/", class: "back" }, "← all TrainJobs"),
      title, el("span", { class: "muted" }, namespace), phase, stop),
    message, progress, summary, sections.failure,
    el("div", { class: "grid" }, sections.curves, el("div", { class: "side" }, sections.metrics, sections.early, sections.checkpoint, sections.conditions)),
    sections.workers, sections.logs, sections.events);

  let detail = null, timer = 0, fetching = false, again = false, gone = false, logSource = null, logRank = null;
  let loadFailed = false; // the message shown is why the last load failed

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
      const body = await response.json();
      if (gone) return;
      if (!response.ok) { showMessage(body.error || `HTTP ${response.status}`, "error", true); return; }
      if (loadFailed) { loadFailed = false; message.hidden = true; }
      detail = body;
      render();
    } catch (error) {
      // No answer (a dropped connection, the server away): try again, as the event stream does.
      if (!gone) { showMessage(`Could not load the job: ${error}; retrying…`, "error", true); again = true; }
    } finally {
      fetching = false;
      if (again && !gone) { again = false; schedule(); }
    }
  }
  function schedule() {
    if (!timer) timer = setTimeout(() => { timer = 0; refresh(); }, REFRESH_MS);
  }

  function showMessage(text, kind, failedLoad = false) {
    loadFailed = failedLoad;
    message.hidden = false;
    message.className = `message ${kind}`;
    message.textContent = text;
  }

  stop.addEventListener("click", async () => {
    if (!confirm(`Stop ${name}? Every rank stops at the same step and rank 0 saves a checkpoint.`)) return;
    stop.disabled = true;
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/stop`, {
        method: "POST", headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() }, body: "{}",
        credentials: "same-origin",
      });
      const body = await response.json().catch(() => ({}));
      if (response.ok) showMessage(body.message, "ok");
      else { showMessage(body.error || `The stop request failed (HTTP ${response.status}).`, "error"); stop.disabled = false; }
    } catch (error) {
      showMessage(`The stop request failed: ${error}`, "error");
      stop.disabled = false;
    }
  });

  function renderRow(row) {
    if (!row) return;
    setText(phase, phaseLabel(row));
    phase.className = `phase ${phaseClass(row.phase)}`;
    const percent = row.percent === null ? 0 : Math.max(0, Math.min(100, row.percent));
    bar.style.width = `${percent.toFixed(1)}%`;
    progress.setAttribute("aria-valuenow", percent.toFixed(1));
    stop.disabled = row.finished || row.stopRequested;
    const items = [
      ["Progress", row.percent === null ? "-" : `${row.percent.toFixed(1)}%`],
      ["Epoch", epochText(row)],
      ["Loss", num(row.loss)],
      ["ETA", row.etaSeconds === null || row.finished ? "-" : duration(row.etaSeconds)],
      ["Restarts", row.restarts],
      ["Age", age(row.created)],
    ];
    put(summary, ...items.flatMap(([label, value]) => [el("dt", {}, label), el("dd", {}, value)]));
  }

  function render() {
    const status = detail.status || {};
    renderFailure(status.failure);
    renderCurves();
    renderConditions(status.conditions || []);
    renderMetrics(detail.latestMetrics);
    renderEarly(status.earlyStopping, detail.spec.earlyStopping, status.metrics || {});
    renderCheckpoint(status.checkpoint);
    renderWorkers();
    renderEvents();
  }

  function renderFailure(failure) {
    const box = sections.failure;
    box.hidden = !failure;
    if (!failure) return;
    const parts = [`worker ${failure.worker ?? "-"}`];
    if (failure.pod) parts.push(`pod ${failure.pod}`);
    if (failure.exitCode !== undefined && failure.exitCode !== null) parts.push(`exit code ${failure.exitCode}`);
    if (failure.reason) parts.push(failure.reason);
    put(box, el("h2", {}, "Failure"), el("p", { class: "failure-where" }, parts.join(", ")),
      failure.message ? el("pre", { class: "failure-message" }, failure.message) : null);
  }

  function renderCurves() {
    const box = sections.curves;
    const charts = detail.charts;
    const heading = el("h2", {}, "Curves");
    if (!charts) {
      put(box, heading, el("p", { class: "muted" }, detail.errors.history || "No history yet."));
      return;
    }
    const figures = Object.entries(charts.metrics).map(([metric, line]) => {
      const best = line.best;
      const label = best ? `${best.kind} ${num(best.y)} at ${charts.unit} ${best.x}` : "";
      return el("figure", { class: "curve", dataset: { metric } },
        el("figcaption", {}, el("strong", { class: "metric-name" }, metric), " ", el("span", { class: "best-label muted" }, label)),
        lineChart({ title: metric, xLabel: charts.unit, series: [{ label: metric, points: line.points }], marks: charts.marks, best }));
    });
    put(box, heading, el("div", { class: "curves" }, figures));
  }

  function renderConditions(conditions) {
    const sorted = [...conditions].sort((a, b) => String(a.lastTransitionTime).localeCompare(String(b.lastTransitionTime)));
    put(sections.conditions, el("h2", {}, "Conditions"), el("ol", { class: "timeline" },
      sorted.map((c) => el("li", { class: c.status === "True" ? "true" : "false" },
        el("time", { datetime: c.lastTransitionTime || "" }, c.lastTransitionTime ? `${age(c.lastTransitionTime)} ago` : "-"),
        el("strong", {}, `${c.type}=${c.status}`), c.reason ? ` ${c.reason}` : "",
        c.message ? el("div", { class: "muted" }, c.message) : null))));
  }

  function renderMetrics(values) {
    const names = Object.keys(values).sort();
    put(sections.metrics, el("h2", {}, "Latest metrics"), names.length
      ? el("table", { class: "small" }, el("tbody", {}, names.map((n) => el("tr", {}, el("td", { class: "metric-name" }, n), el("td", {}, num(values[n]))))))
      : el("p", { class: "muted" }, "none reported yet"));
  }

  function renderEarly(early, config, metrics) {
    const lines = [];
    if (!config && !early) lines.push("not configured");
    if (config) lines.push(`monitors ${config.monitor || "-"} (${config.mode || "min"}), patience ${config.patience ?? "-"}`);
    if (early && early.triggered) lines.push(`stopped at epoch ${early.epoch ?? "-"}: ${early.message || early.reason || ""}`);
    else if (early) lines.push(`not triggered: ${early.wait ?? 0}/${early.patience ?? config?.patience ?? "-"} epochs without improvement`);
    if (metrics.best !== undefined) lines.push(`best ${metrics.monitor || ""} ${num(metrics.best)}${metrics.bestEpoch !== undefined ? " at epoch " + metrics.bestEpoch : ""}`);
    put(sections.early, el("h2", {}, "Early stopping"), ...lines.map((l) => el("p", {}, l)));
  }

  function renderCheckpoint(checkpoint) {
    const lines = checkpoint && checkpoint.path
      ? [el("code", { class: "checkpoint-path" }, checkpoint.path), checkpoint.epoch !== undefined ? ` (epoch ${checkpoint.epoch})` : "",
         checkpoint.resume ? el("p", { class: "muted" }, "At this attempt's start: " + (typeof checkpoint.resume === "string" ? checkpoint.resume : JSON.stringify(checkpoint.resume))) : null]
      : [el("span", { class: "muted" }, "none yet")];
    put(sections.checkpoint, el("h2", {}, "Latest checkpoint"), el("p", {}, lines));
  }

  function renderWorkers() {
    const spec = detail.spec || {};
    const nproc = spec.numProcPerNode || 1, nnodes = spec.numNodes || 1;
    const rows = (detail.workers || []).map((w) => el("tr", { dataset: { pod: w.pod } },
      el("td", {}, String(w.node_rank)), el("td", {}, w.pod), el("td", {}, String(w.attempt)),
      el("td", {}, el("span", { class: `phase ${phaseClass(w.phase)}` }, w.phase)),
      el("td", {}, w.exit_code === null || w.exit_code === undefined ? "-" : String(w.exit_code)), el("td", {}, w.reason || "")));
    const ranks = [];
    for (let rank = 0; rank < nnodes * nproc; rank++) {
      ranks.push(el("button", { type: "button", class: rank === logRank ? "rank active" : "rank", dataset: { rank }, onclick: () => follow(rank) }, `rank ${rank}`));
    }
    put(sections.workers, el("h2", {}, "Workers"),
      detail.errors.workers ? el("p", { class: "muted" }, detail.errors.workers) : null,
      el("table", { class: "small" }, el("thead", {}, el("tr", {}, ["node rank", "pod", "attempt", "phase", "exit code", "reason"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)),
      el("div", { class: "ranks" }, "Logs: ", ranks));
  }

  function renderEvents() {
    const events = detail.events || [];
    put(sections.events, el("h2", {}, "Events"),
      detail.errors.events ? el("p", { class: "muted" }, detail.errors.events) : null,
      events.length ? el("table", { class: "small" }, el("thead", {}, el("tr", {}, ["age", "type", "reason", "message", "count"].map((h) => el("th", {}, h)))),
        el("tbody", {}, events.map((e) => el("tr", { class: e.type === "Warning" ? "warning" : "" },
          el("td", {}, age(e.time)), el("td", {}, e.type), el("td", {}, e.reason), el("td", {}, e.message), el("td", {}, String(e.count))))))
        : el("p", { class: "muted" }, "none"));
  }

  const logLines = el("pre", { id: "log", class: "log" });
  const logTitle = el("h2", {}, "Logs");
  const logHint = el("p", { class: "muted" }, "Pick a rank above to follow its log.");
  put(sections.logs, logTitle, logHint, logLines);
  const MAX_LINES = 2000;

  function follow(rank) {
    if (logSource) logSource.close();
    logRank = rank;
    for (const button of sections.workers.querySelectorAll("button.rank")) button.classList.toggle("active", Number(button.dataset.rank) === rank);
    logLines.replaceChildren();
    logHint.hidden = true;
    setText(logTitle, `Logs: rank ${rank}`);
    const source = new EventSource(`/api/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}/log?rank=${rank}`);
    logSource = source;
    const add = (text, kind) => {
      logLines.append(el("span", { class: kind || "line" }, text), "\n");
      while (logLines.childNodes.length > MAX_LINES * 2) { logLines.firstChild.remove(); logLines.firstChild.remove(); }
      logLines.scrollTop = logLines.scrollHeight;
    };
    source.addEventListener("source", (e) => add(`— ${JSON.parse(e.data).pod} —`, "meta"));
    source.addEventListener("line", (e) => add(JSON.parse(e.data).text));
    source.addEventListener("problem", (e) => add(JSON.parse(e.data).message, "meta error"));
    source.addEventListener("end", () => { add("— the log ended —", "meta"); source.close(); });
  }

  renderRow(jobs.get(key));
  refresh();
  const off = onChange((kind, data) => {
    if (kind === "update" && data.key === key) { renderRow(data); schedule(); }
    else if (kind === "snapshot") { renderRow(jobs.get(key)); schedule(); }
    else if (kind === "delete" && data === key) showMessage(`${key} was deleted.`, "error");
  });
  return () => { gone = true; off(); clearTimeout(timer); if (logSource) logSource.close(); };
}
