"""The training actor: one per data shard, one xgboost worker of the collective.

An actor loads its shard once (`load`), then runs one `train` call per
attempt. Each call joins the attempt's tracker inside
`xgboost.collective.CommunicatorContext` and, in that same thread (the
communicator is thread-local in xgboost 3), builds its DMatrix objects and
runs `xgboost.train`. Rank 0 sends checkpoints (and, under Tune, every
round's metrics) to the driver through a `strato.util.queue.Queue`, so they
survive the actor; the driver applies them (see coordinator.py).

`predict_shard` is a plain remote function: prediction needs no collective.
"""
from __future__ import annotations

import sys
import time

import strato
from strato.xgboost.matrix import load_shard

#: How long a DMLC task id's rank part is: ids sort as strings, so ranks are zero-padded.
_RANK_WIDTH = 6


def import_xgboost_without_sklearn():
    """Import xgboost in a training actor's own process without scikit-learn (0.3 s instead of 1.3 s).

    xgboost imports scikit-learn (and through it scipy.stats) only to give its sklearn-style
    estimators their base classes; `xgboost.train`, which is all an actor runs, never uses them.
    Hiding the package during the import saves about a second of CPU per actor, on the cores
    the driver is cutting shards on. The hiding ends with the import: user code in the actor
    may import scikit-learn as usual afterwards (xgboost's own estimator classes are what
    cannot be used in this process). Where xgboost is already imported, nothing changes.
    """
    if "xgboost" in sys.modules or "sklearn" in sys.modules:
        import xgboost
        return xgboost
    sys.modules["sklearn"] = None          # makes `import sklearn` raise ImportError
    try:
        import xgboost
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]
    return xgboost


class _DriverChannel:
    """Rank 0's xgboost callback: ships per-round evaluations (and the model when due) to the driver's queue.

    The model travels every `checkpoint_frequency` rounds (the resume point after a failure), and at
    the rounds the driver's Tune callbacks checkpoint: multiples of `model_frequencies`, `final_round`.
    Without driver callbacks (`report_every_round` False) only the checkpoint rounds are sent.
    """

    def __init__(self, queue, checkpoint_frequency: int, report_every_round: bool, model_frequencies: tuple,
                 final_round: int | None):
        import xgboost as xgb

        def model_due(rounds_done: int) -> bool:
            return (rounds_done == final_round
                    or any(f and rounds_done % f == 0 for f in (checkpoint_frequency, *model_frequencies)))

        class Channel(xgb.callback.TrainingCallback):
            def after_iteration(cb, model, epoch, evals_log):
                rounds_done = model.num_boosted_rounds()
                due = model_due(rounds_done)
                if report_every_round or due:
                    log = {name: {m: list(v) for m, v in metrics.items()} for name, metrics in evals_log.items()}
                    queue.put(("round", rounds_done, log, bytes(model.save_raw()) if due else None))
                return False

        self.callback = Channel()


class TrainingActor:
    """One shard's xgboost worker (created by the coordinator, SPREAD over the nodes)."""

    def __init__(self, rank: int, num_actors: int):
        import_xgboost_without_sklearn()    # spent while the driver prepares the shards

        self.rank = rank
        self.num_actors = num_actors
        self.train_shard = None
        self.eval_shards: dict = {}

    def ready(self) -> int:
        return self.rank

    def load(self, train_spec, eval_specs: list) -> int:
        """Read this rank's shard of the training data and of each eval set; returns its row count.

        eval_specs: [(name, spec or None)] where None means "the training data itself".
        """
        self.train_shard = load_shard(train_spec)
        self.eval_shards = {name: (None if spec is None else load_shard(spec)) for name, spec in eval_specs}
        return len(self.train_shard)

    def train(self, tracker_args: dict, params: dict, num_boost_round: int, eval_names: list, start_model,
              queue, checkpoint_frequency: int, report_every_round: bool, model_frequencies: tuple,
              final_round: int | None, matrix_args: dict, eval_matrix_args: dict, kwargs: dict) -> dict:
        import xgboost as xgb
        from xgboost import collective

        started = time.perf_counter()
        args = dict(tracker_args, dmlc_task_id=f"[strato.xgboost]:{self.rank:0{_RANK_WIDTH}d}")
        evals_result: dict = {}
        with collective.CommunicatorContext(**args):
            rank = collective.get_rank()
            dtrain = self.train_shard.dmatrix(matrix_args)
            evals = []
            for name in eval_names:
                shard = self.eval_shards[name]
                if shard is None:
                    evals.append((dtrain, name))
                else:
                    evals.append((shard.dmatrix(eval_matrix_args[name]), name))
            callbacks = list(kwargs.pop("callbacks", None) or [])
            if rank == 0 and (checkpoint_frequency > 0 or report_every_round):
                callbacks.append(_DriverChannel(queue, checkpoint_frequency, report_every_round, model_frequencies,
                                                final_round).callback)
            model = bytearray(start_model) if start_model is not None else None
            booster = xgb.train(params, dtrain, num_boost_round, evals=evals, evals_result=evals_result,
                                xgb_model=xgb.Booster(model_file=model) if model is not None else None,
                                callbacks=callbacks or None, verbose_eval=kwargs.pop("verbose_eval", False),
                                **kwargs)
        return {"rank": rank, "booster": bytes(booster.save_raw()) if rank == 0 else None,
                "evals_result": evals_result, "n": len(self.train_shard),
                "train_time_s": time.perf_counter() - started}


@strato.remote
def predict_shard(spec, model: bytes, nthread: int, matrix_args: dict, kwargs: dict):
    """Load one shard and predict it with the booster; returns (predictions, rows per piece)."""
    import xgboost as xgb

    shard = load_shard(spec)
    booster = xgb.Booster(model_file=bytearray(model))
    booster.set_param({"nthread": nthread})
    preds = booster.predict(xgb.DMatrix(shard.X, base_margin=shard.base_margin, **matrix_args), **kwargs)
    return preds, shard.piece_rows
