// The page's router: #/ (the list), #/job/NAMESPACE/NAME, #/compare?jobs=NS/A,NS/B.
import { connect } from "./stream.js";
import { showList } from "./list.js";
import { showJob } from "./job.js";
import { showCompare } from "./compare.js";

const view = document.getElementById("view");
let teardown = () => {};

function route() {
  teardown();
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, queryText] = hash.split("?");
  const query = new URLSearchParams(queryText || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "job" && parts.length === 3) teardown = showJob(view, parts[1], parts[2]);
  else if (parts[0] === "compare") teardown = showCompare(view, (query.get("jobs") || "").split(",").filter(Boolean));
  else teardown = showList(view, query);
  view.dataset.view = parts[0] || "list";
}

connect();
window.addEventListener("hashchange", route);
route();
