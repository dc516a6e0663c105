"""Benchmark of training: one epoch of the bundle's trainer over pure forward/backward on cached tensors.

Generates a small synthetic cohort in a temporary folder (or takes ``--datalist``), builds the
training workflow of ``configs/train_classifier.yaml`` and ``configs/train_segmentation.yaml`` with
``monai.bundle.ConfigWorkflow`` (validation pushed past the last epoch, progress bar off), runs a
warm-up epoch and times the next one(s) with ignite events: from the first ``EPOCH_STARTED`` handler
to the last ``EPOCH_COMPLETED`` handler, so data loading, augmentation, the per-iteration handlers
(losses logged, metrics) and the per-epoch ones (checkpoint, checksums, TensorBoard) all count.
Before training it takes every batch of one pass over the training DataLoader onto the device as
plain tensors; after every epoch (outside the timed window) it times forward + loss + backward +
optimizer step over them with the workflow's own network, loss and optimizer (same iterations and
batch size; autocast and a gradient scaler where the trainer uses AMP). The timed epochs thus lie
between pure passes, which evens out a machine whose load changes during the run.

It prints ``epoch / pure`` first (the issue's goal: <= 1.2), then where the epoch's time went and
the images per second of both (an image is one batch item: a tumor crop for the classifier, a
patch for segmentation; cases/s counts each case once). Results merge into ``bench/results.json``
under ``"train"`` -> task -> device type (``cpu`` / ``cuda``), so a CPU run and a GPU run are both kept.
This is a measurement, not a test: nothing here asserts a time.

Run: ``ulimit -s 32768; .venv/bin/python bench/bench_train.py`` (``--help`` for options).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import monai
import torch
from ignite.engine import Engine, Events
from monai.bundle import ConfigWorkflow
from monai.data import MetaTensor
from results_file import RESULTS, cpu_model, load_results, machine, merge_results

from hccp53.cli.arguments import non_negative_int, positive_int
from hccp53.synth.cohort import generate_cohort

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {
    "classifier": ROOT / "configs" / "train_classifier.yaml",
    "segmentation": ROOT / "configs" / "train_segmentation.yaml",
}
#: Pushes the ValidationHandler past the timed epochs: only training is timed.
NO_VALIDATION = 1_000_000
GOAL = 1.2


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1]
        + "\n\nThe default run takes about 5-10 minutes on 2 idle cores (segmentation takes most of it).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--task",
        choices=("classifier", "segmentation", "both"),
        default="both",
        help="which training config to time (default: both; a missing config is skipped)",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="device to train on (default: auto, cuda when available)",
    )
    parser.add_argument(
        "--datalist", type=Path, default=None, help="train on this MONAI datalist instead of a generated cohort"
    )
    parser.add_argument(
        "--cases", type=positive_int, default=40, help="cases of the generated small-profile cohort (default: 40)"
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="generator seed (default: 0)")
    parser.add_argument(
        "--num-workers",
        type=non_negative_int,
        default=None,
        help="DataLoader and caching workers (default: the config's num_workers)",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=None, help="training batch (default: the config's batch_size)"
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=2,
        help="timed epochs after the warm-up epoch (a pure pass follows every epoch; default: 2)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        help=f"JSON file to merge the figures into, key 'train' (default: {RESULTS})",
    )
    return parser.parse_args(argv)


def merge_train_results(path: Path, tasks: dict[str, dict[str, Any]], device: str) -> None:
    """Write each task's record under ``train`` -> task -> ``device`` of ``path``, keeping every other key."""
    previous = load_results(path, "bench_train").get("train")
    train = previous if isinstance(previous, dict) else {}
    for task, record in tasks.items():
        entry = train[task] if isinstance(train.get(task), dict) else {}
        entry[device] = record
        train[task] = entry
    merge_results(path, "bench_train", "train", train)


def _attach_first(engine: Engine, event: Events, handler: Callable[[Engine], None]) -> None:
    """Attach ``handler`` so that it runs before the handlers already on ``event`` (ignite runs them in order)."""
    engine.add_event_handler(event, handler)
    handlers = engine._event_handlers[event]
    handlers.insert(0, handlers.pop())


class EpochClock:
    """Per-epoch timestamps of a trainer: whole epoch, data loading, the iteration step, epoch-end handlers.

    The epoch runs from the first ``EPOCH_STARTED`` handler to the last ``EPOCH_COMPLETED`` one;
    data loading from the last ``GET_BATCH_STARTED`` handler to the first ``GET_BATCH_COMPLETED`` one
    (it includes starting DataLoader workers); the step (``SupervisedTrainer._iteration``: batch to
    device, forward, loss, backward, optimizer step) from the last ``ITERATION_STARTED`` handler to the
    first ``ITERATION_COMPLETED`` one. Attach it after the workflow's handlers.
    """

    def __init__(self, sync: Callable[[], None]) -> None:
        self.sync = sync
        self.epochs: list[dict[str, Any]] = []
        self._marks: dict[str, float] = {}

    def attach(self, engine: Engine) -> None:
        _attach_first(engine, Events.EPOCH_STARTED, self._epoch_started)
        engine.add_event_handler(Events.GET_BATCH_STARTED, self._mark("batch"))
        _attach_first(engine, Events.GET_BATCH_COMPLETED, self._batch_completed)
        engine.add_event_handler(Events.ITERATION_STARTED, self._mark("step"))
        _attach_first(engine, Events.ITERATION_COMPLETED, self._step_completed)
        _attach_first(engine, Events.EPOCH_COMPLETED, self._mark("end_handlers"))
        engine.add_event_handler(Events.EPOCH_COMPLETED, self._epoch_completed)

    def _now(self) -> float:
        self.sync()
        return time.perf_counter()

    def _mark(self, name: str) -> Callable[[Engine], None]:
        def mark(engine: Engine) -> None:
            self._marks[name] = self._now()

        return mark

    def _accumulate(self, key: str, mark: str) -> float:
        elapsed = self._now() - self._marks[mark]
        self.epochs[-1][key] += elapsed
        return elapsed

    def _epoch_started(self, engine: Engine) -> None:
        self.epochs.append(
            {
                "epoch": engine.state.epoch,
                "seconds": 0.0,
                "data": 0.0,
                "step": 0.0,
                "end_handlers": 0.0,
                "steps": [],
                "images": 0,
            }
        )
        self._marks["epoch"] = self._now()

    def _batch_completed(self, engine: Engine) -> None:
        self._accumulate("data", "batch")
        batch = engine.state.batch  # still the collated batch: the trainer decollates it in its step
        if isinstance(batch, dict) and isinstance(batch.get("image"), torch.Tensor):
            self.epochs[-1]["images"] += int(batch["image"].shape[0])

    def _step_completed(self, engine: Engine) -> None:
        self.epochs[-1]["steps"].append(self._accumulate("step", "step"))

    def _epoch_completed(self, engine: Engine) -> None:
        now = self._now()
        record = self.epochs[-1]
        record["end_handlers"] = now - self._marks["end_handlers"]
        record["seconds"] = now - self._marks["epoch"]


def _plain(value: Any) -> Any:
    return value.as_tensor() if isinstance(value, MetaTensor) else value


def collect_batches(trainer: Any, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Every batch of one pass over the trainer's DataLoader, prepared as the trainer does, as plain tensors."""
    batches = []
    for batchdata in trainer.data_loader:
        inputs, targets = trainer.prepare_batch(batchdata, device, trainer.non_blocking, **trainer.to_kwargs)[:2]
        batches.append((_plain(inputs), _plain(targets)))
    return batches


def pure_steps(trainer: Any, batches: list[tuple[torch.Tensor, torch.Tensor]], sync: Callable[[], None]) -> list[float]:
    """Seconds of each forward + loss + backward + optimizer step over ``batches`` with the trainer's objects."""
    network, loss_function, optimizer = trainer.network, trainer.loss_function, trainer.optimizer
    amp = bool(trainer.amp and trainer.scaler is not None)
    scaler = torch.amp.GradScaler("cuda") if amp else None
    network.train()
    seconds = []
    for inputs, targets in batches:
        sync()
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=trainer.optim_set_to_none)
        if scaler is not None:
            with torch.autocast("cuda", **trainer.amp_kwargs):
                loss = loss_function(network(inputs), targets).mean()
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss = loss_function(network(inputs), targets).mean()
            loss.backward()
            optimizer.step()
        sync()
        seconds.append(time.perf_counter() - started)
    return seconds


def _config_value(workflow: ConfigWorkflow, key: str, default: Any = None) -> Any:
    return workflow.parser.get_parsed_content(key) if key in workflow.parser else default


def run_task(
    task: str, datalist: Path, output_dir: Path, device: torch.device, args: argparse.Namespace
) -> dict[str, Any]:
    """Build ``task``'s training workflow; time ``args.epochs`` epochs after a warm-up, and pure passes between."""
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    override: dict[str, Any] = {
        "datalist": str(datalist.resolve()),
        "output_dir": str(output_dir),
        "max_epochs": 1 + args.epochs,
        "progress": False,
        "val_interval": NO_VALIDATION,
        "device": f"$torch.device('{device}')",
    }
    if device.type != "cuda":
        override["amp"] = False  # the configs' default (AMP when CUDA is available) would autocast a CPU run
    if args.batch_size is not None:
        override["batch_size"] = args.batch_size
    if args.num_workers is not None:
        override["num_workers"] = args.num_workers
    started = time.perf_counter()
    # logging_file=False: the bundle's logging.conf would send every iteration's loss to stdout, amid the report.
    workflow = ConfigWorkflow(config_file=str(CONFIGS[task]), workflow_type="train", logging_file=False, **override)
    workflow.initialize()
    trainer = workflow.trainer  # builds the datasets: caching happens here
    setup_s = time.perf_counter() - started
    if len(trainer.data_loader) == 0:
        raise SystemExit(
            f"bench_train: the {len(trainer.data_loader.dataset)} {task} training cases fill no whole batch of "
            f"{_config_value(workflow, 'batch_size')} (the DataLoader drops the last one); use more cases "
            "(--cases) or a smaller --batch-size."
        )
    batches = collect_batches(trainer, device)
    clock = EpochClock(sync)
    clock.attach(trainer)
    # A pure pass after every epoch, outside the clock's window: the timed epochs lie between pure passes,
    # so a machine that slows down or speeds up during the run shifts both sides alike.
    pure_each: list[list[float]] = []
    trainer.add_event_handler(
        Events.EPOCH_COMPLETED, lambda engine: pure_each.append(pure_steps(engine, batches, sync))
    )
    workflow.run()
    timed = [e for e in clock.epochs if e["epoch"] > 1]
    if len(timed) != args.epochs or len(pure_each) != 1 + args.epochs:
        raise SystemExit(f"bench_train: {task} ran {len(clock.epochs)} epoch(s), expected {1 + args.epochs}.")

    epoch = sum(e["seconds"] for e in timed)
    pure = sum(map(sum, pure_each)) * args.epochs / len(pure_each)  # as many passes' worth as timed epochs
    images_pure = sum(int(inputs.shape[0]) for inputs, _ in batches) * args.epochs
    parts = {key: sum(e[key] for e in timed) for key in ("data", "step", "end_handlers")}
    parts["iteration_handlers"] = epoch - sum(parts.values())
    images = sum(e["images"] for e in timed)
    per_case = int(_config_value(workflow, "samples_per_case", 1))
    shape = list(batches[0][0].shape) if batches else []
    cases = len(trainer.data_loader.dataset)
    workflow.finalize()
    return {
        "config": str(CONFIGS[task].relative_to(ROOT)),
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
        "threads": torch.get_num_threads(),
        "amp": bool(trainer.amp),
        "num_workers": int(_config_value(workflow, "num_workers", 0)),
        "train_cases": cases,
        "batch_size": int(_config_value(workflow, "batch_size")),
        "batch_shape": shape,
        "crop_size": shape[2:],
        "iterations_per_epoch": len(timed[0]["steps"]),
        "timed_epochs": args.epochs,
        "setup_seconds": round(setup_s, 3),
        "epoch_seconds": round(epoch / args.epochs, 4),
        "pure_seconds": round(pure / args.epochs, 4),
        "epoch_over_pure": round(epoch / pure, 3) if pure > 0 else None,
        "epoch_share": {k: round(v / epoch, 4) for k, v in parts.items()},
        "epoch_part_seconds": {k: round(v / args.epochs, 4) for k, v in parts.items()},
        "step_over_pure": round(parts["step"] / pure, 3) if pure > 0 else None,
        "epoch_seconds_each": [round(e["seconds"], 4) for e in timed],
        "step_seconds_each": [[round(x, 4) for x in e["steps"]] for e in timed],
        "pure_seconds_each": [[round(x, 4) for x in each] for each in pure_each],
        "images_per_second": round(images / epoch, 3),
        "pure_images_per_second": round(images_pure / pure, 3) if pure > 0 else None,
        "cases_per_second": round(images / per_case / epoch, 3),
    }


def report(record: dict[str, Any]) -> None:
    m = record["machine"]
    print(f"hccp53 training benchmark, {record['date']}")
    print(
        f"machine: {m['cpu']}, {m['cpu_count']} cores, {m['memory_gib']} GiB, {m['platform']}, "
        f"Python {m['python']}, torch {m['torch']}, MONAI {m['monai']}"
    )
    print(f"data: {record['data']}")
    tasks = record["tasks"]
    if not tasks:
        return
    print()
    print("ratios measured in this run")
    width = max(len(task) for task in tasks) + len(" epoch / pure forward+backward")
    for task, t in tasks.items():
        print(f"  {task + ' epoch / pure forward+backward':<{width}}  {t['epoch_over_pure']:.2f}x (goal <= {GOAL})")
    for task, t in tasks.items():
        print()
        print(
            f"{task} ({t['config']}) on {t['device']} ({t['device_name']}), {t['threads']} thread(s), "
            f"AMP {'on' if t['amp'] else 'off'}, {t['num_workers']} DataLoader worker(s)"
        )
        print(
            f"  {t['train_cases']} training cases, batch {t['batch_size']} -> input {t['batch_shape']} "
            f"(crop {'x'.join(map(str, t['crop_size']))}), {t['iterations_per_epoch']} iteration(s) per epoch, "
            f"{t['timed_epochs']} timed epoch(s) after a warm-up; setup and caching {t['setup_seconds']:.1f} s"
        )
        print(
            f"  epoch {t['epoch_seconds']:.2f} s, pure forward+backward {t['pure_seconds']:.2f} s "
            f"(trainer step / pure {t['step_over_pure']:.2f}x)"
        )
        parts = t["epoch_part_seconds"]
        shares = t["epoch_share"]
        names = {
            "data": "data loading",
            "step": "trainer step",
            "iteration_handlers": "iteration handlers",
            "end_handlers": "epoch-end handlers",
        }
        print("  epoch: " + ", ".join(f"{names[k]} {parts[k]:.2f} s ({100 * shares[k]:.0f}%)" for k in names))
        print(
            f"  images/s: training {t['images_per_second']:.2f}, pure {t['pure_images_per_second']:.2f}; "
            f"training cases/s {t['cases_per_second']:.2f}"
        )


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_train: --device cuda asked for, but torch sees no CUDA device.")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_results(args.results, "bench_train")  # an unusable results file stops the run before the measurements
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Benchmark cohorts are tiny: the split warnings ("too few to stratify") are expected here.
    logging.getLogger("hccp53.synth.cohort").setLevel(logging.ERROR)
    # The bench passes logging_file=False on purpose; MONAI warns about that each time.
    logging.getLogger("monai.bundle.workflows").addFilter(
        lambda record: not record.getMessage().startswith("Logging file is set to False")
    )
    logging.getLogger("monai.data.nvimgcodec_pydicom_plugin").setLevel(logging.ERROR)  # no GPU decoder: expected
    device = resolve_device(args.device)
    wanted = ("classifier", "segmentation") if args.task == "both" else (args.task,)
    tasks: dict[str, dict[str, Any]] = {}
    root = Path(tempfile.mkdtemp(prefix="hccp53-bench-train-"))
    try:
        if args.datalist is not None:
            datalist, data = args.datalist, str(args.datalist)
        else:
            print(f"bench_train: generating {args.cases} small case(s) ...", file=sys.stderr, flush=True)
            generate_cohort(
                root / "cohort",
                args.cases,
                seed=args.seed,
                profile="small",
                workers=max(1, min(2, os.cpu_count() or 1)),
                preview=False,
                progress=False,
            )
            datalist = root / "cohort" / "datalist.json"
            data = f"{args.cases} generated small-profile cases, seed {args.seed}"
        for task in wanted:
            if not CONFIGS[task].is_file():
                print(f"bench_train: {CONFIGS[task].relative_to(ROOT)} does not exist; {task} skipped.")
                continue
            print(f"bench_train: timing {task} training on {device} ...", file=sys.stderr, flush=True)
            tasks[task] = run_task(task, datalist, root / f"out-{task}", device, args)
    finally:
        shutil.rmtree(root, ignore_errors=True)

    record = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(
            torch=torch.__version__, monai=monai.__version__,
            cuda=torch.version.cuda if torch.cuda.is_available() else None,
        ),
        "data": data,
        "tasks": tasks,
    }
    report(record)
    if tasks:
        common = {"date": record["date"], "machine": record["machine"], "data": data}
        merge_train_results(args.results, {task: {**common, **t} for task, t in tasks.items()}, device.type)
        print(f"\nwritten to {args.results} (key 'train' -> task -> '{device.type}')")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
