"""The local runner: a TrainJob manifest run as worker processes on this machine, no cluster needed."""
