"""Multi-worker training for real: two local processes train one model together through the public
``colored.train.train`` and must end with the same weights, the chief alone writing the run folder."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = (
    240  # hard limit for both workers together; a healthy run takes ~60-90 s on 2 busy cores
)
EXIT_GRACE_S = 30  # how long workers that reported may take to exit

WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    index, data_dir, run_dir, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    {setup}
    from colored import Config
    from colored.train import train
    # limit=8, batch 4: 2 steps an epoch, 2 photos per worker per step; the comparison figure then
    # predicts ONE photo on two workers (an uneven batch every worker must still join)
    config = Config(architecture="simplified", image_size=64, batch_size=4, backbone="none", epochs=2, limit=8,
                    augment=False, dataset_dir=data_dir, run_dir=run_dir, cache_dir=out + "/cache",
                    distribute="{distribute}")
    result = train(config, verbose=2)
    weights = [np.asarray(w) for w in result.model.get_weights()]
    np.savez(f"{{out}}/weights_{{index}}.npz", *weights)
    print(json.dumps({{"index": index, "run_dir": str(result.run_dir), "loss": result.history["loss"],
                      "epochs_trained": result.epochs_trained}}), flush=True)
""")


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tail(path: Path, chars: int = 2500) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-chars:]


def reported(out: Path, i: int) -> bool:
    path = out / f"stdout_{i}"
    return path.exists() and '"index"' in path.read_text(errors="replace")


def wait_for(procs: list[subprocess.Popen], out: Path, started: float) -> list[str]:
    """Poll until every worker exits, TIMEOUT_S passes, or every worker has reported and EXIT_GRACE_S
    more passed. A worker that finished training but hangs in TensorFlow's teardown at exit (seen
    now and then with MultiWorkerMirroredStrategy) is killed with a warning, not a failure."""
    all_reported_at = None
    while any(p.poll() is None for p in procs):
        now = time.monotonic()
        if all_reported_at is None and all(reported(out, i) for i in range(len(procs))):
            all_reported_at = now
        if now - started > TIMEOUT_S:
            return [
                f"worker {i} "
                + ("did not exit" if reported(out, i) else "hung")
                + f" (killed after {TIMEOUT_S} s)"
                for i, p in enumerate(procs)
                if p.poll() is None
            ]
        failed = [i for i, p in enumerate(procs) if p.poll()]
        if failed:  # the others would wait in a collective op until TIMEOUT_S: stop them now
            return [f"worker {i} exited with {procs[i].returncode}" for i in failed] + [
                f"worker {i} was still running (killed)"
                for i, p in enumerate(procs)
                if p.poll() is None
            ]
        if all_reported_at is not None and now - all_reported_at > EXIT_GRACE_S:
            stuck = [i for i, p in enumerate(procs) if p.poll() is None]
            warnings.warn(
                f"workers {stuck} finished training but did not exit within {EXIT_GRACE_S} s: killed",
                stacklevel=2,
            )
            return [
                f"worker {i} exited with {p.returncode}"
                for i, p in enumerate(procs)
                if p.poll() is not None and p.returncode
            ]
        time.sleep(0.5)
    return [f"worker {i} exited with {p.returncode}" for i, p in enumerate(procs) if p.returncode]


def run_workers(script: str, envs: list[dict], args: list[str], out: Path) -> list[dict]:
    """Start one process per env, wait for all (TIMEOUT_S in all), kill whatever is left; fail with
    what broke and each worker's stderr tail. Returns each worker's last stdout line, parsed."""
    out.mkdir(parents=True, exist_ok=True)
    procs, started = [], time.monotonic()
    try:
        for i, env in enumerate(envs):
            with open(out / f"stdout_{i}", "w") as stdout, open(out / f"stderr_{i}", "w") as stderr:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, "-c", script, str(i), *args, str(out)],
                        env=env,
                        stdout=stdout,
                        stderr=stderr,
                        cwd=REPO,
                    )
                )
        problems = wait_for(procs, out, started)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if problems:
        logs = "\n".join(
            f"--- worker {i} stdout:\n{tail(out / f'stdout_{i}', 800)}\n--- worker {i} stderr:\n"
            f"{tail(out / f'stderr_{i}')}"
            for i in range(len(procs))
        )
        pytest.fail("; ".join(problems) + "\n" + logs)
    reports = []
    for i in range(len(procs)):
        lines = (out / f"stdout_{i}").read_text().strip().splitlines()
        assert lines, f"worker {i} printed nothing:\n{tail(out / f'stderr_{i}')}"
        reports.append(json.loads(lines[-1]))
    return reports


def check_trained_together(reports: list[dict], out: Path, run_dir: Path) -> None:
    assert [r["index"] for r in reports] == [0, 1], f"not both workers reported: {reports}"
    for r in reports:
        assert r["epochs_trained"] == 2 and len(r["loss"]) == 2 and np.isfinite(r["loss"]).all(), (
            f"worker {r['index']} did not train 2 epochs: {r}"
        )
    np.testing.assert_allclose(
        reports[0]["loss"],
        reports[1]["loss"],
        rtol=1e-5,
        err_msg="the workers logged different losses: they did not train one model",
    )
    chief, other = (np.load(out / f"weights_{i}.npz") for i in (0, 1))
    assert chief.files == other.files and chief.files, "the workers' models differ in structure"
    for key in chief.files:
        np.testing.assert_allclose(
            chief[key],
            other[key],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"weight {key} differs between the workers after training",
        )
    # the chief alone writes the run folder; the other worker keeps its own files in workers/1
    assert reports[0]["run_dir"] == str(run_dir), reports[0]
    assert reports[1]["run_dir"] == str(run_dir / "workers" / "1"), reports[1]
    saved = json.loads((run_dir / "config.json").read_text())
    assert saved["run_dir"] == str(run_dir), (
        f"a worker overwrote the chief's config.json: {saved['run_dir']}"
    )
    history = json.loads((run_dir / "history.json").read_text())
    assert history["epoch"] == [0, 1], (
        f"the chief's history.json is not one clean run: {history['epoch']}"
    )
    assert (run_dir / "model.keras").is_file() and (run_dir / "figures" / "epoch_002.png").is_file()


@pytest.mark.slow
def test_tensorflow_multi_worker_trains_one_model_on_two_processes(photo_folder, tmp_path):
    pytest.importorskip("tensorflow")
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    envs = [
        dict(
            os.environ,
            KERAS_BACKEND="tensorflow",
            PYTHONPATH=str(REPO),
            CUDA_VISIBLE_DEVICES="",
            TF_CPP_MIN_LOG_LEVEL="3",
            MPLBACKEND="Agg",
            TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        for i in range(2)
    ]
    script = WORKER.format(setup="", distribute="multi_worker")
    run_dir = tmp_path / "run"
    reports = run_workers(script, envs, [str(photo_folder), str(run_dir)], tmp_path / "out")
    check_trained_together(reports, tmp_path / "out", run_dir)


@pytest.mark.skip(
    reason=(
        "JAX multi-process itself works on CPU (jax 0.10 defaults jax_cpu_collectives_implementation to gloo: "
        "keras.distribution.initialize + process_allgather across 2 local processes checked), but colored "
        "cannot train that way yet: its data_parallel fit feeds a keras.utils.PyDataset, and Keras 3.15 refuses "
        "any input but tf.data.Dataset in a multi-process distribution ('When using a multi-worker distribution "
        "with auto-sharding enabled, the data must be provided as a tf.data.Dataset'). Supporting it needs "
        "DataParallel(auto_shard_dataset=False) plus a ColorizationDataset that yields each process's slice of "
        "the global batch, and a comparison figure that predicts on process-local data."
    )
)
def test_jax_multi_process_data_parallel_trains_one_model_on_two_processes(photo_folder, tmp_path):
    pytest.importorskip("jax")
    (port,) = free_ports(1)
    envs = [
        dict(
            os.environ,
            KERAS_BACKEND="jax",
            PYTHONPATH=str(REPO),
            CUDA_VISIBLE_DEVICES="",
            MPLBACKEND="Agg",
            JAX_PLATFORMS="cpu",
        )
        for _ in range(2)
    ]
    setup = (
        "import keras; keras.distribution.initialize("
        f"job_addresses='127.0.0.1:{port}', num_processes=2, process_id=index)"
    )
    script = WORKER.format(setup=setup, distribute="data_parallel")
    run_dir = tmp_path / "run"
    reports = run_workers(script, envs, [str(photo_folder), str(run_dir)], tmp_path / "out")
    check_trained_together(reports, tmp_path / "out", run_dir)
