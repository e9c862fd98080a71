"""Azure ML's parallel driver, run locally: a stdlib-only script that amlops stages into a
parallel job's code root (as `_amlops_parallel_driver.py`) and runs as the job's command,
inside the job's own environment (Docker image or venv), like any command job.

The contract it follows (azure-ai-ml `entities/_job/parallel/parallel_task.py` and
`_schema/component/parallel_component.py`; Azure ML docs "Use parallel jobs in pipelines"
and "Troubleshooting the ParallelRunStep", whose entry scripts v2 keeps unchanged):
- the entry script defines `init()` and `run(mini_batch)` (and optionally `shutdown()`);
  each worker process imports it, calls `init()` once, then `run()` once per mini-batch
  with a list of file paths; `sys.argv` is the entry script plus `program_arguments`;
- workers = max_concurrency_per_instance x instance_count processes (one machine here);
- `run()` returns a list or a pandas DataFrame: each returned element is one successful
  item; items it does not return, and every item of a mini-batch whose `run()` raised or
  timed out, are failed items;
- a failed or timed-out (retry_settings.timeout seconds) mini-batch is tried again, up to
  retry_settings.max_retries tries in all (a timed-out worker is killed and replaced);
- error_threshold: failed items tolerated (-1: all), mini_batch_error_threshold: failed
  mini-batches tolerated (-1: all); the job aborts when a count goes above its threshold;
- append_row: every returned element is appended to one file as a line (a DataFrame's
  rows space-separated, no header, no index); the order across mini-batches is not kept;
- logs/ (as Azure's troubleshooting guide lays them out): job_progress_overview.txt,
  job_result.txt, job_error.txt, user/stdout/0/processNNN.stdout.txt,
  user/stderr/0/processNNN.stderr.txt, user/error/0/processNNN.txt (tracebacks).

Progress goes to stdout: mini-batches done/total and failures. Exit 0 when the job is
within its thresholds, 1 when it aborts or init() fails, 2 on bad arguments, 130 when
stopped (every worker is stopped with it)."""

import argparse
import importlib.util
import multiprocessing
import os
import re
import signal
import sys
import time
import traceback
from collections import deque
from multiprocessing.connection import wait
from typing import Any, Deque, Dict, List, Optional, Tuple

SIZE = re.compile(r"^(\d+)([kKmMgG][bB])?$")
UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}
NODE = "0"  # logs/user/*/<node>/: one instance here
PROGRESS_EVERY_S = 1.0
IN_FLIGHT = 2  # mini-batches sent to a worker ahead of its results


def parse_size(text: str) -> Tuple[int, int]:
    """mini_batch_size -> (file count, 0) or (0, bytes) ("10kb", "1mb", "1gb");
    ValueError when it does not match the SDK's rule ^\\d+([kKmMgG][bB])*$."""
    match = SIZE.match(text.strip())
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"mini_batch_size {text!r}: give a file count (e.g. 10) or a size (10kb)")
    if match.group(2):
        return 0, int(match.group(1)) * UNITS[match.group(2).lower()]
    return int(match.group(1)), 0


def list_items(path: str) -> List[str]:
    """The files of a uri_folder input (all levels, sorted), or the uri_file itself."""
    if os.path.isfile(path):
        return [path]
    found = []
    for folder, dirs, files in os.walk(path, followlinks=True):
        dirs.sort()
        found.extend(os.path.join(folder, name) for name in sorted(files))
    return found


def split(items: List[str], count: int, size: int) -> List[List[str]]:
    """Mini-batches of `count` files, or of files adding up to at most `size` bytes (at
    least one file each)."""
    if count:
        return [items[i : i + count] for i in range(0, len(items), count)]
    batches: List[List[str]] = []
    current: List[str] = []
    total = 0
    for item in items:
        length = os.path.getsize(item)
        if current and total + length > size:
            batches.append(current)
            current, total = [], 0
        current.append(item)
        total += length
    if current:
        batches.append(current)
    return batches


def _as_lines(result: Any) -> Tuple[int, str]:
    """(successful items, text to append) of what run() returned."""
    if result is None:
        return 0, ""
    if hasattr(result, "to_csv") and hasattr(result, "columns"):  # a pandas DataFrame
        text = result.to_csv(sep=" ", header=False, index=False)
        return len(result), text
    rows = list(result)
    return len(rows), "".join(f"{row}\n" for row in rows)


def _redirect(logs: str, index: int) -> None:
    for stream, fd in (("stdout", 1), ("stderr", 2)):
        folder = os.path.join(logs, "user", stream, NODE)
        os.makedirs(folder, exist_ok=True)
        target = os.open(
            os.path.join(folder, f"process{index:03d}.{stream}.txt"),
            os.O_WRONLY | os.O_CREAT | os.O_APPEND,
            0o644,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(target, fd)
        os.close(target)


def _error_log(logs: str, index: int, text: str) -> None:
    folder = os.path.join(logs, "user", "error", NODE)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"process{index:03d}.txt"), "a", encoding="utf-8") as out:
        out.write(text.rstrip() + "\n")


def _load_entry(entry: str) -> Any:
    folder = os.path.dirname(os.path.abspath(entry))
    for path in (folder, os.getcwd()):
        if path not in sys.path:
            sys.path.insert(0, path)
    name = os.path.splitext(os.path.basename(entry))[0]
    spec = importlib.util.spec_from_file_location(name, entry)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {entry}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    for function in ("init", "run"):
        if not callable(getattr(module, function, None)):
            raise AttributeError(
                f"entry_script {entry} defines no {function}(): define init() and"
                " run(mini_batch) at its top level"
            )
    return module


def worker(conn: Any, index: int, entry: str, argv: List[str], logs: str) -> None:
    """One worker process: init() once, then run() per mini-batch it is sent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver stops its workers itself
    _redirect(logs, index)
    sys.argv = [entry] + argv
    try:
        module = _load_entry(entry)
        module.init()
    except BaseException as err:  # noqa: B902 - reported to the driver, which stops
        _error_log(logs, index, traceback.format_exc())
        conn.send(("init_failed", f"{type(err).__name__}: {err}"))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            break
        number, items = message
        try:
            count, text = _as_lines(module.run(items))
            conn.send(("done", (number, count, text)))
        except BaseException as err:  # noqa: B902 - a failed mini-batch, counted
            _error_log(logs, index, f"mini-batch {number}:\n{traceback.format_exc()}")
            conn.send(("failed", (number, f"{type(err).__name__}: {err}")))
    shutdown = getattr(module, "shutdown", None)
    if callable(shutdown):
        shutdown()


class Worker:
    """A worker process, its pipe and the mini-batch it is running."""

    def __init__(self, context: Any, index: int, settings: argparse.Namespace) -> None:
        self.index = index
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=worker,
            args=(child, index, settings.entry_script, settings.program_arguments, settings.logs),
            daemon=True,
        )
        self.process.start()
        child.close()
        self.ready = False
        self.queue: Deque[int] = deque()  # mini-batches sent, the running one first
        self.deadline = 0.0

    def stop(self, kill: bool = False) -> None:
        if self.process.is_alive():
            if kill:
                self.process.kill()
            else:
                try:
                    self.conn.send(None)
                except OSError:
                    self.process.kill()
            self.process.join(5)
            if self.process.is_alive():
                self.process.kill()
                self.process.join()
        self.conn.close()


class Driver:
    """Hands mini-batches to workers, retries, counts failures and appends the rows."""

    def __init__(self, settings: argparse.Namespace, batches: List[List[str]]) -> None:
        self.settings = settings
        self.batches = batches
        self.todo: Deque[Tuple[int, int]] = deque((n, 1) for n in range(len(batches)))
        self.tries: Dict[int, int] = {}
        self.done = 0
        self.failed_batches = 0
        self.failed_items = 0
        self.succeeded_items = 0
        self.abort = ""
        self.last_progress = 0.0
        self.output = None
        if settings.output_action == "append_row" and settings.append_row_to:
            target = settings.append_row_to
            if settings.append_row_is_file:  # a uri_file output: that file
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
            else:  # a uri_folder output: append_row_file_name in it
                os.makedirs(target, exist_ok=True)
                target = os.path.join(target, settings.append_row_file_name)
            self.output = open(target, "a", encoding="utf-8")
            self.output_path = target
        try:
            context = multiprocessing.get_context("fork")
        except ValueError:
            context = multiprocessing.get_context("spawn")
        self.context = context
        self.workers = [Worker(context, i, settings) for i in range(settings.workers)]

    # -- results ------------------------------------------------------------------------
    def progress(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_progress < PROGRESS_EVERY_S:
            return
        self.last_progress = now
        line = (
            f"parallel: {self.done}/{len(self.batches)} mini-batches done,"
            f" {self.failed_batches} failed ({self.failed_items} failed items)"
        )
        print(line, flush=True)
        with open(os.path.join(self.settings.logs, "job_progress_overview.txt"), "a") as out:
            out.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def succeeded(self, number: int, count: int, text: str) -> None:
        size = len(self.batches[number])
        count = min(count, size)
        if text and self.output is not None:
            self.output.write(text)
            self.output.flush()
        self.succeeded_items += count
        self.done += 1
        if count < size:
            self.count_failed_items(size - count, f"mini-batch {number}: run() returned {count}")
        self.progress(force=self.done == len(self.batches))

    def attempt_failed(self, number: int, attempt: int, why: str) -> None:
        items = self.batches[number]
        tries = self.settings.max_retries
        shown = ", ".join(os.path.basename(i) for i in items[:3]) + (
            " ..." if len(items) > 3 else ""
        )
        print(f"parallel: mini-batch {number} ({shown}) failed, try {attempt}/{tries}: {why}")
        if attempt < tries:
            self.todo.append((number, attempt + 1))
            return
        self.done += 1
        self.failed_batches += 1
        threshold = self.settings.mini_batch_error_threshold
        if threshold >= 0 and self.failed_batches > threshold and not self.abort:
            self.abort = (
                f"{self.failed_batches} failed mini-batches > mini_batch_error_threshold"
                f" {threshold}"
            )
        self.count_failed_items(len(items), why)
        self.progress(force=True)

    def count_failed_items(self, count: int, why: str) -> None:
        self.failed_items += count
        threshold = self.settings.error_threshold
        if threshold >= 0 and self.failed_items > threshold and not self.abort:
            self.abort = f"{self.failed_items} failed items > error_threshold {threshold}"
        with open(os.path.join(self.settings.logs, "job_error.txt"), "a") as out:
            out.write(f"{count} failed items: {why}\n")

    # -- the loop -----------------------------------------------------------------------
    def replace(self, slot: Worker) -> None:
        slot.stop(kill=True)
        self.workers[slot.index] = Worker(self.context, slot.index, self.settings)

    def run(self) -> int:
        timeout = self.settings.timeout
        while (self.todo or any(w.queue for w in self.workers)) and not self.abort:
            for slot in self.workers:
                # Two mini-batches in flight per worker: it starts the next one as soon as it
                # sends a result (a pool's queue does the same); the deadline is the head's.
                while slot.ready and len(slot.queue) < IN_FLIGHT and self.todo:
                    number, attempt = self.todo.popleft()
                    self.tries[number] = attempt
                    if not slot.queue:
                        slot.deadline = time.monotonic() + timeout
                    slot.queue.append(number)
                    slot.conn.send((number, self.batches[number]))
            busy = [w.deadline for w in self.workers if w.queue]
            wait_s = max(0.0, min(busy) - time.monotonic()) if busy else None
            ready = wait([w.conn for w in self.workers], timeout=wait_s)
            for slot in list(self.workers):
                if slot.conn in ready:
                    self.receive(slot)
            now = time.monotonic()
            for slot in list(self.workers):
                if slot.queue and now >= slot.deadline:
                    self.lost(slot, f"timed out after {timeout}s")
        return self.finish()

    def lost(self, slot: Worker, why: str) -> None:
        """The worker's running mini-batch failed with the worker (timed out or exited):
        replace the worker, count that try, give back the mini-batches queued behind it."""
        number, *queued = slot.queue
        slot.queue.clear()
        self.replace(slot)
        for behind in reversed(queued):
            self.todo.appendleft((behind, self.tries[behind]))
        self.attempt_failed(number, self.tries[number], why)

    def finished(self, slot: Worker, number: int) -> None:
        if slot.queue and slot.queue[0] == number:
            slot.queue.popleft()
        if slot.queue:
            slot.deadline = time.monotonic() + self.settings.timeout

    def receive(self, slot: Worker) -> None:
        try:
            kind, payload = slot.conn.recv()
        except (EOFError, OSError):
            if slot.queue:
                self.lost(slot, f"worker exited ({slot.process.exitcode})")
            else:
                self.replace(slot)
            return
        if kind == "ready":
            slot.ready = True
        elif kind == "init_failed":
            self.abort = f"init() failed in worker {slot.index}: {payload}"
        elif kind == "done":
            self.finished(slot, payload[0])
            self.succeeded(*payload)
        elif kind == "failed":
            number, why = payload
            self.finished(slot, number)
            self.attempt_failed(number, self.tries[number], why)

    def finish(self) -> int:
        for slot in self.workers:
            slot.stop(kill=bool(self.abort))
        if self.output is not None:
            self.output.close()
        summary = (
            f"{len(self.batches)} mini-batches, {self.failed_batches} failed;"
            f" {self.succeeded_items} items succeeded, {self.failed_items} failed"
        )
        verdict = f"FAILED: {self.abort}" if self.abort else "completed"
        with open(os.path.join(self.settings.logs, "job_result.txt"), "w") as out:
            out.write(f"{verdict}\n{summary}\n")
        if self.output is not None:
            print(f"parallel: rows appended to {self.output_path}")
        print(f"parallel: {summary}")
        if self.abort:
            print(f"parallel job {verdict} (see logs/user/error/)", flush=True)
            return 1
        return 0

    def stop(self) -> None:
        for slot in self.workers:
            slot.stop(kill=True)


def arguments(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="_amlops_parallel_driver.py")
    parser.add_argument("--entry_script", required=True)
    parser.add_argument("--input_data", required=True)
    parser.add_argument("--mini_batch_size", default="10")
    parser.add_argument("--error_threshold", type=int, default=-1)
    parser.add_argument("--mini_batch_error_threshold", type=int, default=-1)
    parser.add_argument("--max_retries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--logging_level", default="INFO")
    parser.add_argument("--output_action", default="append_row")
    parser.add_argument("--append_row_to", default="")
    parser.add_argument("--append_row_is_file", action="store_true")
    parser.add_argument("--append_row_file_name", default="parallel_run_step.txt")
    parser.add_argument("--logs", default="logs")
    parser.add_argument("--model_dir", default="", help="AZUREML_MODEL_DIR (batch deployments)")
    parser.add_argument("program_arguments", nargs=argparse.REMAINDER)
    settings = parser.parse_args(argv)
    if settings.program_arguments[:1] == ["--"]:
        settings.program_arguments = settings.program_arguments[1:]
    return settings


def main(argv: Optional[List[str]] = None) -> int:
    settings = arguments(sys.argv[1:] if argv is None else argv)
    try:
        count, size = parse_size(settings.mini_batch_size)
    except ValueError as err:
        print(f"parallel: {err}", file=sys.stderr)
        return 2
    if not os.path.isfile(settings.entry_script):
        print(f"parallel: entry_script {settings.entry_script}: no such file", file=sys.stderr)
        return 2
    if not os.path.exists(settings.input_data):
        print(f"parallel: input_data {settings.input_data}: no such file or folder")
        return 2
    if os.path.isfile(os.path.join(settings.input_data, "MLTable")):
        print(
            "parallel: input_data is an MLTable folder: run() would get pandas DataFrames read"
            " by the mltable package, which this local driver does not do",
            file=sys.stderr,
        )
        return 2
    os.makedirs(settings.logs, exist_ok=True)
    if settings.model_dir:
        os.environ["AZUREML_MODEL_DIR"] = os.path.abspath(settings.model_dir)
    batches = split(list_items(settings.input_data), count, size)
    print(
        f"parallel: {len(batches)} mini-batches of {settings.mini_batch_size}"
        f" from {settings.input_data}; {settings.workers} worker processes",
        flush=True,
    )
    driver = Driver(settings, batches)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return driver.run()
    except KeyboardInterrupt:
        driver.stop()
        print("parallel: stopped; every worker stopped", flush=True)
        return 130


if __name__ == "__main__":
    sys.exit(main())
