"""Reporter overhead: step time with the status reporter on and off, against a live apiserver, one run.

Starts a real control plane (the binaries `hack/controlplane.sh build` caches), creates a
TrainJob and its reporter identity as the operator does, and trains one process whose step
takes about 5 ms. Inside one fit, even epochs run without the reporter and odd epochs with it
(its writer drained between epochs), so drift on the machine hits both alike. The reporter
writes with the pod's credentials through `KubeStatusSink`, exactly as in a pod.

The reporter's hook runs at every step in all three settings, each its own fit:
- `every-step`: a status built and submitted every step, written back to back (a stress case);
- `1s`: rebuilt and written at most every second;
- `default`: the reporter as a pod gets it (rebuilt and written at most every 10 s, and at
  each epoch's end).
The figure printed last is the ratio of median step times, reporter / none, for `default`.
Target: at most 1.005. The control plane runs on the last CPU, the training on the others,
as a pod's apiserver runs on other machines.

    .venv/bin/python -m benchmarks.reporter_overhead [--epochs 30] [--steps 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from benchmarks.timing import EpochTimer
from tests.cluster import ControlPlane, build_binaries
from tests.e2e.support import REPO, TRAINJOBS, install_crd
from trainjob import Trainer, TrainerConfig, seed_everything
from trainjob.callbacks import Callback, StatusReporter
from trainjob.reporting.kube import ClusterAccess, KubeStatusSink
from trainjob_api.contract import JobIdentity
from trainjob_operator.builders.rbac import role, role_binding, service_account

BATCH = 64
SETTINGS = {"every-step": 0.0, "1s": 1.0, "default": 10.0}


class ReporterOnOddEpochs(Callback):
    """Runs `reporter` in odd epochs only; times even (without) and odd (with) epochs apart."""

    def __init__(self, reporter: StatusReporter) -> None:
        self.reporter = reporter
        self.without, self.with_reporter = EpochTimer(), EpochTimer()
        self._epoch = 0
        self.writes = 0

    def _timer(self) -> EpochTimer:
        return self.with_reporter if self._epoch % 2 else self.without

    def on_fit_start(self, trainer: Trainer) -> None:
        self.reporter.on_fit_start(trainer)

    def on_epoch_start(self, trainer: Trainer) -> None:
        self._timer().on_epoch_start(trainer)

    def on_train_batch_end(self, trainer: Trainer, loss: torch.Tensor, batch_idx: int) -> None:
        if self._epoch % 2:
            self.reporter.on_train_batch_end(trainer, loss, batch_idx)
        self._timer().on_train_batch_end(trainer, loss, batch_idx)

    def on_epoch_complete(self, trainer: Trainer) -> None:
        if self._epoch % 2:
            self.reporter.on_epoch_complete(trainer)
            assert self.reporter.writer is not None
            self.reporter.writer.flush(30.0)
        self._epoch += 1

    def on_fit_end(self, trainer: Trainer) -> None:
        assert self.reporter.writer is not None
        self.writes = self.reporter.writer.writes
        self.reporter.on_fit_end(trainer)

    def writes_per_second(self, steps: int) -> float:
        """Status writes per second of training with the reporter on."""
        return self.writes / (sum(self.with_reporter.times) * steps)


def reporter_access(cp: ControlPlane, namespace: str, scratch: Path) -> ClusterAccess:
    """A TrainJob `bench` and the token of its reporter account, with the operator's Role."""
    cp.admin.create("/api/v1/namespaces", {"metadata": {"name": namespace}})
    install_crd(cp)
    manifest = {
        "apiVersion": "trainjob.dev/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": "bench", "namespace": namespace},
        "spec": {"image": "trainer", "command": ["python", "train.py"], "numNodes": 1, "maxEpochs": 1},
    }
    job = cp.admin.create(TRAINJOBS.format(namespace=namespace), manifest)
    rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/" + namespace
    account = service_account(job)
    cp.admin.create(f"/api/v1/namespaces/{namespace}/serviceaccounts", account)
    cp.admin.create(f"{rbac}/roles", role(job))
    cp.admin.create(f"{rbac}/rolebindings", role_binding(job))
    token = cp.admin.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account['metadata']['name']}/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )["status"]["token"]
    (scratch / "token").write_text(token)
    return ClusterAccess(cp.server, Path(cp.ca.cert), scratch / "token")


def measure(sink: KubeStatusSink, interval_s: float, epochs: int, steps: int, hidden: int) -> dict:
    """One fit with the reporter on odd epochs; median seconds per step without and with it."""
    seed_everything(0)
    generator = torch.Generator().manual_seed(0)
    data = TensorDataset(
        torch.randn(steps * BATCH, 256, generator=generator),
        torch.randint(0, 10, (steps * BATCH,), generator=generator),
    )
    alternating = ReporterOnOddEpochs(StatusReporter(sink, min_interval_s=interval_s))
    trainer = Trainer(
        nn.Sequential(nn.Linear(256, hidden), nn.ReLU(), nn.Linear(hidden, 10)),
        lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.9),
        data,
        loss_fn=nn.CrossEntropyLoss(),
        config=TrainerConfig(max_epochs=epochs, batch_size=BATCH),
        callbacks=[alternating],
        default_callbacks=False,
    )
    trainer.fit()
    without = statistics.median(alternating.without.times[1:])  # the first epoch warms up
    with_reporter = statistics.median(alternating.with_reporter.times)
    return {
        "without": without,
        "with": with_reporter,
        "ratio": with_reporter / without,
        "writes_per_s": alternating.writes_per_second(steps),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=30, help="epochs per setting (half with the reporter)")
    parser.add_argument("--steps", type=int, default=200, help="steps per epoch")
    parser.add_argument(
        "--hidden",
        type=int,
        default=2560,
        help="hidden width (sets the step time: about 5 ms on 2 quiet cores)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    cpus = sorted(os.sched_getaffinity(0))
    training_cpus, control_plane_cpus = set(cpus[:-1]) or set(cpus), {cpus[-1]}
    with tempfile.TemporaryDirectory() as scratch, ControlPlane(build_binaries()) as cp:
        for process in cp.processes.values():
            os.sched_setaffinity(process.pid, control_plane_cpus)
        os.sched_setaffinity(0, training_cpus)
        sink = KubeStatusSink(reporter_access(cp, "bench", Path(scratch)), JobIdentity("bench", "bench"))
        results = {}
        for name, interval in SETTINGS.items():
            results[name] = measure(sink, interval, args.epochs, args.steps, args.hidden)
            row = results[name]
            print(
                f"{name:>10}: {row['without'] * 1e3:.3f} ms/step without, {row['with'] * 1e3:.3f} with, "
                f"ratio {row['ratio']:.4f}, {row['writes_per_s']:.1f} status writes/s",
                flush=True,
            )
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}; repo {REPO.name}")
    print(f"ratio reporter/none with the default interval: {results['default']['ratio']:.4f}")


if __name__ == "__main__":
    main()
