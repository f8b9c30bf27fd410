"""Reporting a run's progress into the TrainJob's status (or a local file), off the training thread."""
