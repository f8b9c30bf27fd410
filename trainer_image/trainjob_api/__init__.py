"""The TrainJob API: names, the OpenAPI schema with its CEL rules, the CRD, defaulting and validation.

Everything here is pure (no I/O, no kopf): the local runner imports it to validate a manifest
without an apiserver.
"""
