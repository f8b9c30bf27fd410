import json

import pytest

from trainjob_api.contract import (
    RESERVED_VARIABLES,
    ContractError,
    JobIdentity,
    WorkerEnvironment,
    node_environment,
    process_environment,
    worker_command,
)

SPEC = {
    "numNodes": 3,
    "numProcPerNode": 2,
    "backend": "gloo",
    "maxEpochs": 7,
    "checkpoint": {"path": "/ckpt"},
}


def test_node_environment_carries_the_whole_contract():
    env = node_environment(JobIdentity("job", "ns", "uid-1"), SPEC, "job-0.job-workers.ns.svc", 29501)
    assert env["WORLD_SIZE"] == "6"
    assert env["NNODES"] == env["PET_NNODES"] == "3"
    assert env["NPROC_PER_NODE"] == env["PET_NPROC_PER_NODE"] == "2"
    assert env["MASTER_ADDR"] == env["PET_MASTER_ADDR"] == "job-0.job-workers.ns.svc"
    assert env["MASTER_PORT"] == env["PET_MASTER_PORT"] == "29501"
    assert (env["TRAINJOB_NAME"], env["TRAINJOB_NAMESPACE"], env["TRAINJOB_UID"]) == ("job", "ns", "uid-1")
    assert json.loads(env["TRAINJOB_CONFIG"]) == {"maxEpochs": 7, "checkpoint": {"path": "/ckpt"}}
    assert set(env) <= set(RESERVED_VARIABLES)


def test_process_environment_numbers_ranks_node_major():
    assert process_environment(2, 1, 4) == {
        "NODE_RANK": "2",
        "PET_NODE_RANK": "2",
        "RANK": "9",
        "LOCAL_RANK": "1",
    }


def test_worker_command_adds_the_node_launcher_only_when_needed():
    assert worker_command({"command": ["python", "t.py"], "args": ["-x"], "numProcPerNode": 1}) == (
        ["python", "t.py"],
        ["-x"],
    )
    command, _ = worker_command({"command": ["python", "t.py"], "numProcPerNode": 2})
    assert command[:4] == ["python", "-m", "trainjob.launch", "--"] and command[4:] == ["python", "t.py"]
    assert (
        worker_command({"command": ["/usr/bin/torchrun", "t.py"], "numProcPerNode": 2})[0][0]
        == "/usr/bin/torchrun"
    )


def test_worker_environment_reads_a_pod_with_one_process_per_node():
    node = node_environment(JobIdentity("j"), {"numNodes": 2, "numProcPerNode": 1}, "m")
    env = WorkerEnvironment.from_environ({**node, "NODE_RANK": "1"})
    assert (env.rank, env.world_size, env.node_rank, env.local_rank) == (1, 2, 1, 0)
    assert env.job == JobIdentity("j", "default", "")
    assert env.distributed and not env.is_chief


def test_worker_environment_reads_torchrun_children():
    env = WorkerEnvironment.from_environ(
        {
            "RANK": "3",
            "LOCAL_RANK": "1",
            "WORLD_SIZE": "4",
            "LOCAL_WORLD_SIZE": "2",
            "GROUP_RANK": "1",
            "MASTER_ADDR": "h",
            "MASTER_PORT": "1234",
        }
    )
    assert (env.rank, env.local_rank, env.node_rank, env.nproc_per_node, env.master_port) == (
        3,
        1,
        1,
        2,
        1234,
    )
    assert env.job is None and env.config == {}


def test_a_plain_process_is_a_world_of_one():
    env = WorkerEnvironment.from_environ({})
    assert (env.rank, env.world_size, env.distributed, env.is_chief) == (0, 1, False, True)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WORLD_SIZE": "4", "NPROC_PER_NODE": "2"}, "per-process launcher"),
        ({"WORLD_SIZE": "2", "RANK": "5"}, "outside 0..1"),
        ({"WORLD_SIZE": "two"}, "not an integer"),
        ({"TRAINJOB_CONFIG": "{"}, "not valid JSON"),
    ],
)
def test_a_broken_contract_says_what_is_wrong(environ, message):
    with pytest.raises(ContractError, match=message):
        WorkerEnvironment.from_environ(environ)
