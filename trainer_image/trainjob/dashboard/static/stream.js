// The one event stream of the page: every TrainJob's row, kept current from the server's shared watch.
const listeners = new Set();
export const jobs = new Map(); // key "namespace/name" -> row
export const state = { connected: false, error: null, synced: false };

// Call `listener(kind, data)` on "snapshot" (data: rows), "update" (a row), "delete" (a key), "state".
export function onChange(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function emit(kind, data) {
  for (const listener of listeners) listener(kind, data);
}

function setState(changes) {
  Object.assign(state, changes);
  const badge = document.getElementById("connection");
  if (badge) {
    const label = state.error ? `watch failing: ${state.error}` : state.connected ? "live" : "reconnecting…";
    badge.textContent = label;
    badge.title = label;
    badge.dataset.state = state.error ? "error" : state.connected ? "live" : "connecting";
  }
  emit("state", state);
}

// Open the stream (the browser reconnects by itself; each reconnect starts with a fresh snapshot).
export function connect() {
  const source = new EventSource("/api/stream");
  source.addEventListener("open", () => setState({ connected: true }));
  source.addEventListener("error", () => setState({ connected: false }));
  source.addEventListener("snapshot", (event) => {
    performance.mark("trainjob:snapshot");
    const data = JSON.parse(event.data);
    jobs.clear();
    for (const row of data.rows) jobs.set(row.key, row);
    setState({ synced: data.synced, error: data.error });
    emit("snapshot", data.rows);
  });
  source.addEventListener("update", (event) => {
    const row = JSON.parse(event.data);
    jobs.set(row.key, row);
    emit("update", row);
  });
  source.addEventListener("delete", (event) => {
    const { key } = JSON.parse(event.data);
    jobs.delete(key);
    emit("delete", key);
  });
  source.addEventListener("watch-error", (event) => setState({ error: JSON.parse(event.data).message }));
  return source;
}
