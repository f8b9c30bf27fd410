"""Talking to a real cluster from the user's machine: kubeconfig, TrainJobs, worker pods and their logs.

Everything here imports the `kubernetes` package lazily, so `trainjob run` and the workers
never pay for it.
"""
