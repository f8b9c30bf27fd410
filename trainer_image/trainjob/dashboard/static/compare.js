// Several jobs' curves drawn together: one chart per metric, one line per job.
import { el, clear, put } from "./dom.js";
import { lineChart, COLORS } from "./charts.js";

export function showCompare(view, keys) {
  const legend = el("ul", { class: "legend", id: "compare-legend" });
  const charts = el("div", { class: "curves", id: "compare-curves" });
  const problems = el("div", { id: "compare-problems" });
  clear(view).append(el("div", { class: "job-head" }, el("a", { href: "#/", class: "back" }, "← all TrainJobs"), el("h1", {}, "Compare")),
    legend, problems, el("section", { class: "card" }, charts));
  let gone = false;
  Promise.all(keys.map(async (key) => {
    const [namespace, name] = key.split("/");
    try {
      const response = await fetch(`/api/jobs/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
      const body = await response.json().catch(() => ({}));
      return { key, ok: response.ok, body };
    } catch (error) { // no answer: that job's line is missing, and the page says why
      return { key, ok: false, body: { error: `could not load it: ${error}` } };
    }
  })).then((results) => {
    if (gone) return;
    const runs = [];
    results.forEach((result, index) => {
      const color = COLORS[index % COLORS.length];
      legend.append(el("li", {}, el("span", { class: `swatch swatch-${index % COLORS.length}` }), result.key));
      if (!result.ok || !result.body.charts) {
        problems.append(el("p", { class: "muted" }, `${result.key}: ${result.body.error || result.body.errors?.history || "no history"}`));
      } else runs.push({ key: result.key, lines: result.body.charts.metrics, unit: result.body.charts.unit, color });
    });
    const metrics = [...new Set(runs.flatMap((r) => Object.keys(r.lines)))].sort();
    put(charts, ...metrics.map((metric) => el("figure", { class: "curve", dataset: { metric } },
      el("figcaption", {}, el("strong", {}, metric)),
      lineChart({ title: metric, xLabel: runs.length ? runs[0].unit : "",
        series: runs.filter((r) => metric in r.lines).map((r) => ({ label: r.key, points: r.lines[metric].points, color: r.color })) }))));
    if (!metrics.length) charts.append(el("p", { class: "muted" }, "None of these jobs has a history yet."));
  });
  return () => { gone = true; };
}
