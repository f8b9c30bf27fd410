// What a history document draws: its axis, metrics, series and the run's marks (restarts, early stop, best).
export function axisOf(doc) {
  return doc && doc.epochs && Object.keys(doc.epochs).length ? "epochs" : "steps";
}

export function metricsOf(doc) {
  if (!doc) return [];
  return Object.keys(doc[axisOf(doc)] || {}).sort();
}

export function pointsOf(doc, metric) {
  const series = (doc[axisOf(doc)] || {})[metric];
  return (series && Array.isArray(series.points) ? series.points : []).filter((p) => Array.isArray(p) && p.length >= 2);
}

// Vertical marks: where each restart took over (dashed) and where early stopping stopped (dotted).
export function marksOf(doc) {
  const key = axisOf(doc) === "epochs" ? "epoch" : "step";
  const marks = (doc.attempts || []).filter((a) => a.attempt > 0 && typeof a[key] === "number")
    .map((a) => ({ x: a[key], label: `restart ${a.attempt}`, kind: "restart" }));
  const early = doc.earlyStop || null;
  if (early && typeof early.epoch === "number") marks.push({ x: early.epoch, label: "early stop", kind: "early-stop" });
  return marks;
}

// The best value of `metric`: the history's own (for its monitored metric), else the lowest (or highest
// for accuracy-like names) point.
export function bestOf(doc, metric) {
  const best = doc.best || {};
  if (best.metric === metric && typeof best.value === "number" && typeof best.epoch === "number") {
    return { x: best.epoch, y: best.value, monitored: true };
  }
  const points = pointsOf(doc, metric).filter((p) => isFinite(p[1]));
  if (!points.length) return null;
  const higher = /acc|f1|precision|recall|auc|score/i.test(metric);
  const pick = points.reduce((a, b) => ((higher ? b[1] > a[1] : b[1] < a[1]) ? b : a));
  return { x: pick[0], y: pick[1], monitored: false, higher };
}
