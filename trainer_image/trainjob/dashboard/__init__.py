"""`trainjob dashboard`: a local web page of every TrainJob, live, with the user's own credentials.

One watch on TrainJobs feeds every open page through server-sent events (`hub`, `sse`); a job's
page reads its history, Events and worker pods (`detail`), streams a rank's log (`logstream`) and
asks for a graceful stop (`server`, guarded by `security`). The page itself is static files
under `static/`: plain HTML, CSS and JavaScript that render every string as text.
"""
