"""Integration fixtures: the unit tests' in-process trainers, reused against real services."""

from tests.unit.trainjob.conftest import make_trainer

__all__ = ["make_trainer"]
