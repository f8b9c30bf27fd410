"""trainjob_operator: the kopf operator that turns TrainJobs into workers."""
