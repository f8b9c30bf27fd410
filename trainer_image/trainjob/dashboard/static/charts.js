// Hand-written SVG charts: a sparkline for the list, and line charts with the run's marks.
import { svg, num } from "./dom.js";

export const COLORS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d", "#4d7c0f"];

// A small polyline of the values (oldest first), scaled to the box.
export function sparkline(values, width = 90, height = 22) {
  const root = svg("svg", { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, "aria-hidden": "true" });
  updateSparkline(root, values);
  return root;
}

// Redraw a sparkline in place.
export function updateSparkline(root, values) {
  const width = Number(root.getAttribute("width")), height = Number(root.getAttribute("height"));
  const finite = (values || []).filter((v) => typeof v === "number" && isFinite(v));
  const key = finite.join(",");
  if (root.dataset.key === key) return;
  root.dataset.key = key;
  root.replaceChildren();
  if (finite.length < 2) return;
  const low = Math.min(...finite), high = Math.max(...finite), span = high - low || 1;
  const points = finite.map((v, i) => {
    const x = (i / (finite.length - 1)) * (width - 2) + 1;
    const y = height - 2 - ((v - low) / span) * (height - 4);
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  });
  root.append(svg("polyline", { points: points.join(" "), fill: "none", stroke: "#2563eb", "stroke-width": 1.5 }));
}

// "Nice" tick values covering [low, high].
// With `integer`, whole steps only (epochs and steps have no halves).
function ticks(low, high, count = 5, integer = false) {
  if (low === high) return [low];
  const step0 = (high - low) / count;
  const power = Math.pow(10, Math.floor(Math.log10(step0)));
  const nice = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= step0) || step0;
  const step = integer ? Math.max(1, Math.round(nice)) : nice;
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

// A line chart. series: [{label, points: [[x, y], ...], color}]; marks: [{x, label, kind}] drawn as
// vertical lines (kind "restart": dashed, "early-stop": dotted); best: {x, y} drawn as a ring.
export function lineChart({ title, xLabel, series, marks = [], best = null, width = 460, height = 240 }) {
  const pad = { left: 56, right: 14, top: 14, bottom: 36 };
  const all = series.flatMap((s) => s.points).filter((p) => isFinite(p[0]) && isFinite(p[1]));
  // Scales with its box (CSS sets the width); the viewBox keeps its proportions.
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img" });
  root.append(svg("title", {}, title));
  if (all.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "muted" }, "no points yet"));
    return root;
  }
  const xs = all.map((p) => p[0]).concat(marks.map((m) => m.x));
  const ys = all.map((p) => p[1]);
  let [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  if (y0 === y1) { y0 -= Math.abs(y0) * 0.1 || 1; y1 += Math.abs(y1) * 0.1 || 1; }
  const yPad = (y1 - y0) * 0.05; y0 -= yPad; y1 += yPad;
  const sx = (x) => pad.left + ((x - x0) / (x1 - x0)) * (width - pad.left - pad.right);
  const sy = (y) => height - pad.bottom - ((y - y0) / (y1 - y0)) * (height - pad.top - pad.bottom);
  const axes = svg("g", { class: "axes" });
  for (const t of ticks(y0, y1, 4)) {
    axes.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: sy(t), y2: sy(t), class: "grid" }));
    axes.append(svg("text", { x: pad.left - 6, y: sy(t) + 4, "text-anchor": "end" }, num(t)));
  }
  for (const t of ticks(x0, x1, 6, true)) {
    axes.append(svg("text", { x: sx(t), y: height - pad.bottom + 16, "text-anchor": "middle" }, num(t)));
  }
  axes.append(svg("text", { x: width - pad.right, y: height - 4, "text-anchor": "end", class: "muted" }, xLabel));
  axes.append(svg("line", { x1: pad.left, x2: pad.left, y1: pad.top, y2: height - pad.bottom, class: "axis" }));
  axes.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: height - pad.bottom, y2: height - pad.bottom, class: "axis" }));
  root.append(axes);
  for (const mark of marks) {
    const x = sx(mark.x);
    root.append(svg("line", { x1: x, x2: x, y1: pad.top, y2: height - pad.bottom, class: `mark mark-${mark.kind}` }));
    const nearEnd = x > width - pad.right - 70;
    root.append(svg("text", { x: nearEnd ? x - 3 : x + 3, y: pad.top + 10, "text-anchor": nearEnd ? "end" : "start",
      class: `mark-label mark-${mark.kind}` }, mark.label));
  }
  series.forEach((s, index) => {
    const color = s.color || COLORS[index % COLORS.length];
    const points = s.points.filter((p) => isFinite(p[0]) && isFinite(p[1]));
    const path = points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { d: path, fill: "none", stroke: color, "stroke-width": 2, class: "series" }, svg("title", {}, s.label)));
    if (points.length === 1) root.append(svg("circle", { cx: sx(points[0][0]), cy: sy(points[0][1]), r: 3, fill: color }));
  });
  if (best && isFinite(best.x) && isFinite(best.y)) {
    root.append(svg("circle", { cx: sx(best.x), cy: sy(best.y), r: 5, class: "best" }, svg("title", {}, `best ${num(best.y)}`)));
  }
  return root;
}
