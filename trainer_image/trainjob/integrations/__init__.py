"""Framework integrations: Lightning and Hugging Face Transformers report into the TrainJob's status.

Each is loaded by its framework only (an entry point, an environment variable) and imports its
framework only: `import trainjob` stays light.
"""
