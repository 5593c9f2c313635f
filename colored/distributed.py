"""Training across several processes or machines: who is the chief, where each worker writes, and
the Keras workarounds that multi-worker training needs.

TensorFlow: ``Config.distribute="multi_worker"`` (``tf.distribute.MultiWorkerMirroredStrategy``)
reads the cluster from the ``TF_CONFIG`` variable. JAX: ``keras.distribution.initialize(...)`` (or
its ``KERAS_DISTRIBUTION_*`` variables) before training makes ``distribute="data_parallel"`` span the
devices of every process. Every process runs the same ``train(config)``; the chief (TF worker 0,
JAX process 0) writes the run folder, every other worker writes into ``<run_dir>/workers/<index>``,
so workers that share a run folder never write the same file.
"""

from __future__ import annotations

import json
import os
import types
from pathlib import Path

import keras
import numpy as np

from colored.config import Config


def tf_task() -> tuple[str | None, int, dict]:
    """``(task type, task index, cluster)`` from ``TF_CONFIG`` (``(None, 0, {})`` when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None, 0, {}
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {raw[:200]}") from None
    task = tf_config.get("task") or {}
    return task.get("type"), int(task.get("index", 0)), tf_config.get("cluster") or {}


def worker_index(config: Config) -> int:
    """This process's rank among the workers of a multi-process run; 0 on the chief (and when the
    run is not multi-process). TF: a ``chief`` task, else worker 0. JAX: process 0."""
    if config.distribute == "multi_worker":
        task_type, index, cluster = tf_task()
        if task_type in (None, "chief"):
            return 0
        # with a separate "chief" task, workers are counted after it
        return index + 1 if "chief" in cluster else index
    if config.distribute == "data_parallel" and keras.backend.backend() == "jax":
        return int(jax_process_count() > 1 and _jax().process_index())
    return 0


def is_chief(config: Config) -> bool:
    return worker_index(config) == 0


def worker_config(config: Config) -> Config:
    """The config this worker trains with: the chief's is unchanged; any other worker's ``run_dir``
    is ``<run_dir>/workers/<index>``, so that it keeps its own checkpoints, backup (to resume) and
    history, and never overwrites the chief's files in a shared run folder."""
    index = worker_index(config)
    if index == 0:
        return config
    return config.replace(run_dir=str(Path(config.run_dir) / "workers" / str(index)))


def _jax():
    import jax

    return jax


def jax_process_count() -> int:
    if keras.backend.backend() != "jax":
        return 1
    return int(_jax().process_count())


def multi_worker_workarounds(model: keras.Model) -> keras.Model:
    """Make ``fit`` and ``predict`` work on a model built under ``MultiWorkerMirroredStrategy``;
    a no-op for every other model. Keras 3's TF trainer has two bugs there (keras-team/keras#20329):

    * before the first step it learns the batch's shapes by ``strategy.reduce``-ing the whole
      distributed ``(x, y)`` batch, which that strategy cannot do for a nested structure ("Attempt
      to convert a value (PerReplica…) … to a Tensor"). The shapes only need this worker's first
      replica's batch, which takes no collective op: this model gets that ``_maybe_symbolic_build``.
    * it averages every step's scalar logs (loss, metrics) over the workers with
      ``strategy.reduce("MEAN", v, axis=0)``, which fails on a scalar ("Invalid reduction dimension 0
      for input with 0 dimensions"). The patched ``reduce_per_replica`` uses ``axis=None`` for
      scalars: the same cross-worker mean, so every worker logs the same loss (and
      ReduceLROnPlateau decides the same everywhere).
    """
    if keras.backend.backend() != "tensorflow":
        return model
    import tensorflow as tf

    strategy = getattr(model, "_distribute_strategy", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return model
    _patch_reduce_per_replica()

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(local, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    return model


def _patch_reduce_per_replica() -> None:
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "colored_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):

            def mean(value):
                rank = strategy.experimental_local_results(value)[0].shape.rank
                return strategy.reduce("MEAN", value, axis=0 if rank else None)

            return keras.tree.map_structure(mean, values)
        return original(values, strategy, reduction)

    reduce_per_replica.colored_patch = True
    trainer.reduce_per_replica = reduce_per_replica


def workers_agree(model: keras.Model, flag: bool) -> bool:
    """True on every worker when ``flag`` is true on any (e.g. "out of time"): a decision to stop
    training must be the same everywhere, or the workers that go on wait forever for the others."""
    strategy = getattr(model, "_distribute_strategy", None)
    if (
        keras.backend.backend() == "tensorflow"
        and strategy is not None
        and strategy.num_replicas_in_sync > 1
    ):
        import tensorflow as tf

        votes = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
        return float(strategy.reduce("MAX", votes, axis=None)) > 0
    if jax_process_count() > 1:
        from jax.experimental import multihost_utils

        return bool(np.max(multihost_utils.process_allgather(np.array([flag]))))
    return flag
