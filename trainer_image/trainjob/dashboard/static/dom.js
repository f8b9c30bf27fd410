// DOM helpers. Every string from the cluster goes into the page as a text node, never as markup.
const SVG_NS = "http://www.w3.org/2000/svg";

// An element with attributes (set as attributes or properties, never innerHTML) and children
// (strings become text nodes).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

// An SVG element with attributes and children.
export function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, String(value));
  }
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = String(value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Remove every child.
export function clear(node) {
  node.replaceChildren();
  return node;
}

// Replace a node's children (strings become text nodes; null, undefined and false are left out).
export function put(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

// Set a node's text only when it changed (cheap updates of live rows).
export function setText(node, text) {
  const value = text === undefined || text === null ? "" : String(text);
  if (node.textContent !== value) node.textContent = value;
}

// A duration as kubectl prints ages: 45s, 3m20s, 25m, 5h12m, 3d4h.
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "-";
  const s = Math.max(0, Math.floor(seconds));
  const m = Math.floor(s / 60), h = Math.floor(s / 3600), d = Math.floor(s / 86400);
  if (s < 120) return `${s}s`;
  if (m < 10) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  if (m < 180) return `${m}m`;
  if (h < 8) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  if (h < 48) return `${h}h`;
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

// The age of a timestamp, as a duration.
export function age(timestamp, now = Date.now()) {
  if (!timestamp) return "-";
  const t = Date.parse(timestamp);
  return isNaN(t) ? "-" : duration((now - t) / 1000);
}

// A number in 4 significant digits (or "-").
export function num(value) {
  if (value === null || value === undefined || typeof value !== "number" || !isFinite(value)) return "-";
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e5)) return value.toExponential(2);
  return String(Number(value.toPrecision(4)));
}

// The server's CSRF token, from the page's meta tag.
export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute("content") : "";
}

// The phase's CSS class suffix (a fixed set; anything else is "other").
const PHASES = ["Pending", "Created", "Running", "Restarting", "Succeeded", "Failed", "Suspended"];
export function phaseClass(phase) {
  return PHASES.includes(phase) ? `phase-${phase.toLowerCase()}` : "phase-other";
}
export { PHASES };

// A row's phase as the page shows it: "(stopping)" while a requested stop is under way.
export function phaseLabel(row) {
  return row.phase + (row.stopRequested && !row.finished ? " (stopping)" : "");
}

// A row's epoch, "3/10" (or "3" without a total, "-" before the first).
export function epochText(row) {
  if (row.epoch === null || row.epoch === undefined) return "-";
  return `${row.epoch}${row.totalEpochs ? "/" + row.totalEpochs : ""}`;
}
