"""The local validator (what `trainjob run` checks) gives every corpus manifest the apiserver's verdict."""

from __future__ import annotations

import pytest

from tests.manifest_corpus import BadManifest, Outcome, load_corpus
from trainjob.runner.manifest import ManifestError, load_manifest
from trainjob_api.validation import validate

CORPUS = load_corpus()


def test_the_corpus_covers_every_outcome_with_at_least_50_manifests():
    assert len(CORPUS) >= 50
    assert {manifest.outcome for manifest in CORPUS} == set(Outcome)
    for manifest in CORPUS:
        assert manifest.messages, f"{manifest.name}: no expected message"
        needs_reason = manifest.outcome in (Outcome.FAILED, Outcome.WAITING)
        assert (manifest.reason is not None) is needs_reason, manifest.name


@pytest.mark.parametrize("manifest", CORPUS, ids=lambda manifest: manifest.name)
def test_the_local_validator_agrees_with_the_apiserver(manifest: BadManifest):
    if manifest.outcome is not Outcome.REJECTED:
        load_manifest(manifest.path)
        return
    with pytest.raises(ManifestError):
        load_manifest(manifest.path)
    if manifest.field is not None:
        paths = [error.path for error in validate(manifest.load())]
        assert any(path.startswith(manifest.field) for path in paths), paths
