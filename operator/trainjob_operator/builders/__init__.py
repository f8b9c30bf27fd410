"""Pure builders: a TrainJob (with its defaults applied, as read from the apiserver) to the child objects.

No I/O here; every function returns plain dicts ready for the Kubernetes API.
"""
