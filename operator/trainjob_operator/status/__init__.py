"""Pure status logic: what the Job and pods say, worker failures, and the TrainJob's conditions."""
