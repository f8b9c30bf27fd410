// Runs before the page's modules (a classic script, first in <head>): when one of them fails to
// load, reload the page, a few times, before saying so. Chromium drops the requests in flight
// whenever the host's network changes (net::ERR_NETWORK_CHANGED), as it does each time a
// container starts beside it, and a failed module leaves the page with no script at all.
(() => {
  const KEY = "trainjob:reloads";
  const DELAYS_MS = [250, 500, 1000, 2000];
  let failed = false;

  function say(text) {
    const badge = document.getElementById("connection");
    if (!badge) return;
    badge.textContent = text;
    badge.title = text;
    badge.dataset.state = "error";
  }

  function failedToLoad() {
    if (failed) return;
    failed = true;
    const reloads = Number(sessionStorage.getItem(KEY) || 0);
    if (reloads >= DELAYS_MS.length) {
      sessionStorage.removeItem(KEY);
      say("the page's scripts did not load: reload the page");
      return;
    }
    sessionStorage.setItem(KEY, String(reloads + 1));
    say("the page's scripts did not load: reloading…");
    setTimeout(() => location.reload(), DELAYS_MS[reloads]);
  }

  // A script element's `error` does not bubble: listen in the capture phase.
  window.addEventListener("error", (event) => {
    if (event.target instanceof HTMLScriptElement) failedToLoad();
  }, true);
  // Module scripts run before DOMContentLoaded: by then they loaded, or failed.
  document.addEventListener("DOMContentLoaded", () => {
    if (!failed) sessionStorage.removeItem(KEY);
  });
})();
