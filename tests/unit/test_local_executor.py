"""The local executor's decisions that need no processes: autoscaling on queued + running
requests per replica, and how an exit is described."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from types import SimpleNamespace

from axops.executors import local
from axops.executors.local import Replica, Supervisor


def deployment(**kw):
    return SimpleNamespace(
        **{"id": "d1", "replicas_min": 1, "replicas_max": 4, "replicas_desired": 1, "autoscale_target": 4.0, **kw}
    )


def replicas(*loads):
    return [
        Replica(index=i, generation=0, port=0, log_path=Path("/dev/null"), state="ready", queued=q, running=r)
        for i, (q, r) in enumerate(loads)
    ]


def test_scales_up_at_once_and_down_after_a_calm_spell(monkeypatch):
    s = Supervisor(db=None, secret="s", control_url="http://x", work_dir=Path("/tmp"))
    d = deployment()
    assert s._desired(d, replicas((0, 2))) == 1
    assert s._desired(d, replicas((6, 4))) == 3  # 10 requests at 4 per replica
    assert s._desired(d, replicas((40, 16))) == 4  # never above max
    d.replicas_desired = 3
    clock = [1000.0]
    monkeypatch.setattr(local.time, "monotonic", lambda: clock[0])
    assert s._desired(d, replicas((0, 1), (0, 0), (0, 0))) == 3  # calm starts: keep the replicas for now
    clock[0] += local.SCALE_DOWN_AFTER_S - 1
    assert s._desired(d, replicas((0, 1), (0, 0), (0, 0))) == 3
    clock[0] += 2
    assert s._desired(d, replicas((0, 1), (0, 0), (0, 0))) == 1
    assert (
        s._desired(deployment(replicas_min=2, replicas_max=2, replicas_desired=2), []) == 2
    )  # nothing ready yet: as asked


def test_exits_are_described_for_people():
    assert local._describe_exit(-9, deque(["loading"])) == "killed by SIGKILL"
    assert (
        local._describe_exit(1, deque(["Traceback", "RuntimeError: CUDA out of memory"]))
        == "exited with code 1: RuntimeError: CUDA out of memory"
    )
    unservable = deque(["axops-runtime: cannot serve this version: model.safetensors: checksum mismatch"])
    assert local._describe_exit(3, unservable) == "cannot serve this version: model.safetensors: checksum mismatch"


def test_sweep_trial_points():
    from axops.training.schemas import JobCreate, SweepCreate
    from axops.training.sweeps import trial_points

    job = JobCreate(
        base_model="m", dataset_version_ids=["00000000-0000-0000-0000-000000000001"], column_mapping={"text": "t"}
    )
    grid = SweepCreate(
        name="g",
        job=job,
        space={"hyperparameters.learning_rate": {"values": [0.1, 0.01]}, "lora.r": {"values": [4, 8, 16]}},
        max_trials=5,
    )
    points = trial_points(grid)
    assert len(points) == 5 and points[0] == {"hyperparameters.learning_rate": 0.1, "lora.r": 4}
    rnd = SweepCreate(
        name="r",
        job=job,
        strategy="random",
        max_trials=20,
        seed=3,
        space={
            "hyperparameters.learning_rate": {"min": 1e-5, "max": 1e-2, "log": True},
            "lora.r": {"min": 2, "max": 64, "integer": True},
        },
    )
    drawn = trial_points(rnd)
    assert len(drawn) == 20 and drawn == trial_points(rnd)  # seeded: the same draws again
    assert all(
        1e-5 <= p["hyperparameters.learning_rate"] <= 1e-2 and isinstance(p["lora.r"], int) and 2 <= p["lora.r"] <= 64
        for p in drawn
    )
