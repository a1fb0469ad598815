"""What the UI, the CLI and the tests call alike: prepare the data selection, build a method's
config, run it with a store, and summarise a record as the small JSON the CLI prints."""
from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground import registry
from comparisons.ground.data import TweetData, drop_leaked, load_data, subset
from comparisons.ground.device import distributed_env, run_scope
from comparisons.ground.errors import UserError
from comparisons.ground.runs import RunRecord, RunStore
from comparisons.running import gate
from comparisons.running.gate import check_visitor_models  # noqa: F401  (re-exported: the one check of a visitor's models)


def config_class(method: str):
    """The method's config dataclass (imports no torch, transformers or faiss)."""
    return registry.get(method).config_class()


def make_config(method: str, values: dict):
    return config_class(method).from_dict(values)


@dataclass
class Selection:
    """The data selection shared by every method of one comparison."""
    source: str | None = None
    text_column: str | None = None
    label_column: str | None = None
    train_size: str | int | None = None  # None: the tutorial's 1,000, or all rows where fewer
    eval_size: str | int | None = None
    seed: int = 42
    test_size: float = 0.2
    drop_leaked: bool = False
    default_train: int = 1000  # used when train_size is None (capped at the split's rows)
    default_eval: int = 1000
    drop: dict | None = None  # {"suspects"|"conflicts": train rows of the subset} from the quality report

    def load_full(self, max_file_mb: float | None = None) -> TweetData:
        """Both splits in full (leaked train rows dropped if asked)."""
        kwargs = {"max_file_mb": max_file_mb} if max_file_mb else {}
        full = load_data(self.source, text_column=self.text_column or None, label_column=self.label_column or None,
                         test_size=self.test_size, seed=self.seed, **kwargs)
        if self.drop_leaked:
            full, _ = drop_leaked(full)
        return full

    def load(self, max_file_mb: float | None = None) -> TweetData:
        """The seeded, stratified subsets every method of one comparison uses."""
        full = self.load_full(max_file_mb)
        data = subset(full, _cap(self.train_size, len(full.train), self.default_train),
                      _cap(self.eval_size, len(full.test), self.default_eval), self.seed)
        if self.drop:
            from comparisons.ground.data import drop_train_rows

            bad = [r for rows in self.drop.values() for r in rows if not 0 <= int(r) < len(data.train)]
            if bad:
                raise UserError(f"dropped rows {bad[:5]} are not rows of this train split (0-{len(data.train) - 1}); "
                                "clear 'Dropped train rows' or run the quality report again.")
            data = drop_train_rows(data, self.drop)
        return data


def _cap(size, available: int, default: int):
    """An explicit size larger than the split is an error (data.subset says so); the default is
    capped at the split, so that it also works on a small dataset such as the bundled sample."""
    return min(default, available) if size in (None, "") else size


def run_method(method: str, config, data: TweetData, *, store: RunStore | None, on_event=None, stop=None,
               check_fit: bool = True) -> RunRecord | None:
    """Estimate the run's peak memory and time, refuse it with advice when it cannot fit the device, run
    it, and keep the estimate beside what was measured (record.diagnostics["estimate"])."""
    from comparisons.ground.disk import check_room, expected_bytes
    from comparisons.ground.estimate_run import estimate_for, saved_model_bytes

    visitor = store is not None and store.owner is not None
    if visitor:  # the visitor's gate (comparisons.running.gate): their fields, their models, their share
        gate.check_visitor_config(config, store)
        gate.check_run_count(store)
    if store is not None:  # a model that cannot fit under the disk caps is refused before any work
        model_bytes = saved_model_bytes(method, config)
        check_room(store, store.owner or "", expected_bytes(model_bytes) if model_bytes else None)
    estimate = estimate_for(method, config, data)
    if visitor and estimate is not None:
        gate.check_job_seconds(estimate.seconds, what=f"this {method} run")
    if estimate is not None and check_fit and not estimate.fits:
        raise UserError(f"this run would need about {estimate.memory_bytes / 2**30:.1f} GB, more than the "
                        f"{estimate.device_bytes / 2**30:.1f} GB this device has. {advice(method, config)}")
    if on_event is not None and estimate is not None:
        on_event({"event": "estimate", **estimate.to_dict()})
    rank, _, world = distributed_env()
    if world > 1 and not data_parallel(method, config):
        if rank != 0:  # under torchrun a method without data parallelism runs once, on rank 0, never once a rank
            return None
        if on_event is not None:
            on_event({"event": "notice", "text": f"{method} does not split across torchrun's {world} processes: rank 0 "
                                                 "runs it alone"})
    entry = registry.get(method).entry_point()
    with run_scope():  # TF32 restored, memory released: the next run starts clean
        record = entry(config, data, on_event=on_event, stop=stop, store=store)
    if estimate is not None and distributed_env()[0] == 0:  # under torchrun rank 0 alone writes the record
        measured = record.diagnostics.get("memory", {})
        record.diagnostics["estimate"] = {**estimate.to_dict(), "measured_peak_mb": record.peak_memory_mb,
                                          "measured_seconds": record.timings.get("total_seconds"),
                                          "measured_on": "gpu" if "peak_cuda_mb" in measured else "cpu rss"}
        if store is not None:
            store.save(record)
    return record


def data_parallel(method: str, config) -> bool:
    """Whether the method trains with the Trainer's own data parallelism under torchrun (fine-tuning and adaptation);
    the others (scoring, retrieval, scikit-learn, SetFit) run on rank 0 alone."""
    return registry.get(method).data_parallel(config)


def advice(method: str, config) -> str:
    return registry.get(method).advice(config)


def summary_json(record: RunRecord) -> dict:
    """The CLI's one JSON object for a run."""
    m, t = record.metrics, record.timings
    out = {
        "run_id": record.run_id, "method": record.method, "label": record.label, "status": record.status,
        "accuracy": m.get("accuracy"), "macro_f1": m.get("macro_f1"),
        "n_train": record.data.get("n_train"), "n_eval": record.data.get("n_eval"),
        "data_fingerprint": record.data.get("fingerprint"), "seconds": t.get("total_seconds"),
        "peak_memory_mb": record.peak_memory_mb, "device": record.device, "notices": record.notices,
    }
    if record.error:
        out["error"] = record.error
    out.update(record.diagnostics.get("summary", {}))
    method = registry.find(record.method)
    if method is not None:
        out.update(method.summary(record))
    return out
