"""The training loop every trainer in :mod:`afno_tutorial.train` shares, and its checkpoints.

AdamW with a linear warm-up and a cosine decay, one optimizer step per ``loss_at(step)``. What makes it safe to
stop and restart:

* **Exact resume from any interruption.** A step changes the weights, the optimizer's moments, the schedule, the
  step count and the history; these five are committed together, with Ctrl-C (SIGINT) held back until the commit
  is whole, so whichever instruction an interruption lands on, the state saved on the way out is the state after
  some whole number of steps. Batches come from generators seeded by ``(seed, step)`` and each step runs with
  the global random generators (dropout, stochastic depth) seeded the same way, so resuming at step ``s`` draws
  exactly what an uninterrupted run draws there: the resumed run ends with the same bits (on the CPU; CUDA
  kernels may differ in the last bits). The caller's global random state is left as it was.
* **Nothing non-finite is ever saved.** A non-finite loss or gradient stops training with a
  :class:`FloatingPointError` before the optimizer step, so the weights stay those of the last good step, and
  that state is what the checkpoint keeps; weights are checked again before every save.
* **A resumed run is the run it claims to be.** The checkpoint records the settings that define the run (steps,
  batch size, seed, the data, ...): resuming with different ones is refused with an error naming the setting. The
  learning rate and weight decay are taken from the call that resumes (lower the learning rate and resume after
  a divergence); the history records where they changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Iterator

import torch
from torch import nn

from .checks import check_float, check_positive_int
from .config import describe_device
from .measure import add_step_time


def cosine_schedule(step: int, steps: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then a cosine decay to 0 at ``steps``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def save_checkpoint(path: str | Path, state: dict) -> None:
    """``torch.save`` to a temporary file then rename: an interrupt never leaves a half-written checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict:
    """The dict saved at ``path``; a file that is not one (truncated, corrupt, another format) is named in the error."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - torch raises many kinds (zip, pickle, EOF); all mean "not readable"
        raise ValueError(f"checkpoint: {path} is not a readable checkpoint ({type(exc).__name__}: {exc}); "
                         "delete it to start over") from exc
    if not isinstance(state, dict):
        raise ValueError(f"checkpoint: {path} holds a {type(state).__name__}, expected a checkpoint dict")
    return state


def fingerprint(*tensors: torch.Tensor) -> str:
    """A short hash of the shapes, dtypes and values of ``tensors`` (to tell whether a run's data changed)."""
    digest = hashlib.blake2b(digest_size=12)
    for t in tensors:
        t = t.detach().cpu().contiguous()
        digest.update(f"{tuple(t.shape)} {t.dtype};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().data if t.numel() else b"")
    return digest.hexdigest()


def check_run_settings(*, steps: int, batch_size: int, lr: float, weight_decay: float, seed: int,
                       checkpoint_every: int, max_seconds: float | None = None) -> None:
    """The settings every trainer shares: counts positive, floats finite and in range, named when not."""
    check_positive_int(steps, "steps")
    check_positive_int(batch_size, "batch_size")
    check_float(lr, "lr", low=0.0, low_open=True)
    check_float(weight_decay, "weight_decay", low=0.0)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    check_positive_int(checkpoint_every, "checkpoint_every")
    if max_seconds is not None:
        check_float(max_seconds, "max_seconds", low=0.0)


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block has run: the block runs whole, then the interrupt is raised.

    Only the main thread receives signals; elsewhere, or where Python does not own the handler, this does nothing.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    pending: list = []
    try:
        previous = signal.signal(signal.SIGINT, lambda signum, frame: pending.append(frame))
    except (ValueError, OSError):  # pragma: no cover - an interpreter that does not allow handlers
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if pending:
            if callable(previous):
                previous(signal.SIGINT, pending[0])  # the default handler raises KeyboardInterrupt here
            elif previous == signal.SIG_DFL:
                raise KeyboardInterrupt


@contextlib.contextmanager
def _step_random_state(seed: int, step: int, dev: torch.device) -> Iterator[None]:
    """Run the block with the global generators seeded by ``(seed, step)``; restore the caller's state after."""
    devices = [dev.index if dev.index is not None else torch.cuda.current_device()] if dev.type == "cuda" else []
    value = (seed * 1_000_003 + step + 0x9E3779B97F4A7C15) % 2**63  # not the batch generator's seed
    with torch.random.fork_rng(devices=devices):
        torch.random.default_generator.manual_seed(value)
        if devices:
            with torch.cuda.device(devices[0]):
                torch.cuda.manual_seed(value)
        yield


def _all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    flags = [torch.isfinite(t).all() for t in tensors if t.is_floating_point() or t.is_complex()]
    return bool(torch.stack(flags).all()) if flags else True


def train_loop(
    model: nn.Module,
    params: list,
    loss_at: Callable[[int], torch.Tensor],
    *,
    steps: int,
    lr: float,
    weight_decay: float,
    seed: int,
    settings: dict,
    checkpoint: str | Path | None,
    checkpoint_every: int,
    progress: bool,
    desc: str,
    kind: str,
    dev: torch.device,
    max_seconds: float | None,
    autocast: Callable[[torch.device], contextlib.AbstractContextManager],
) -> dict:
    """AdamW + warm-up/cosine schedule over ``loss_at(step)``, resumable from ``checkpoint``; returns the history.

    ``params``: parameters or parameter groups (a group's ``lr`` is its own learning rate); ``settings``: what
    defines the run beyond ``steps`` (compared on resume, a mismatch refused); ``kind``: the trainer's name.
    """
    from tqdm.auto import tqdm

    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warmup = max(1, min(100, steps // 20))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cosine_schedule(s, steps, warmup))
    history: dict = {"step": [], "loss": [], "lr": [], "seconds_per_step": float("nan"), "timed_steps": 0,
                     "steps": steps, "device": describe_device(dev), "completed": False}
    settings = {"steps": steps, **settings}
    start, resumed = 0, checkpoint is not None and Path(checkpoint).exists()
    if resumed:
        start, history = _resume(checkpoint, model, optimizer, scheduler, kind, settings, warmup, steps)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    last_saved = {"step": start if resumed else None}

    def save(step: int) -> None:
        if checkpoint is None:
            return
        if not _all_finite(model.state_dict().values()):
            kept = "nothing yet" if last_saved["step"] is None else f"step {last_saved['step']}"
            raise FloatingPointError(f"weights are not finite at step {step}: training stopped, not saved "
                                     f"({checkpoint} keeps {kept}); lower lr (got {lr:g})")
        save_checkpoint(checkpoint, {"kind": kind, "step": step, "settings": settings, "model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                                     "history": history})
        last_saved["step"] = step

    def stop(what: str, step: int) -> FloatingPointError:
        kept = f"{checkpoint} keeps step {step}, the last finite state" if checkpoint is not None else "no checkpoint"
        return FloatingPointError(f"{what} at step {step}: training stopped before the optimizer step ({kept}); "
                                  f"lower lr (got {lr:g}) and run again to resume")

    model.train()
    step = start
    timed, began = 0, time.perf_counter()
    loop_start = began  # for max_seconds; `began` restarts at every checkpoint (timing)
    bar = tqdm(total=steps, initial=start, desc=desc, disable=not progress, leave=False)
    saveable = True
    try:
        while step < steps:
            if max_seconds is not None and time.perf_counter() - loop_start > max_seconds:
                break
            with _step_random_state(seed, step, dev):
                with autocast(dev):
                    loss = loss_at(step)
                value = float(loss.detach())
                if not math.isfinite(value):
                    raise stop(f"loss is {value}", step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
            if not _all_finite(p.grad for p in parameters if p.grad is not None):
                raise stop("a gradient is not finite", step)
            with uninterrupted():  # the step is committed whole or not at all
                optimizer.step()
                scheduler.step()
                history["step"].append(step)
                history["loss"].append(value)
                history["lr"].append(optimizer.param_groups[0]["lr"])
                step += 1
            timed += 1
            bar.update(1)
            bar.set_postfix(loss=f"{value:.4f}")
            if step % checkpoint_every == 0 and step < steps:
                add_step_time(history, timed, time.perf_counter() - began)
                timed, began = 0, time.perf_counter()
                try:
                    save(step)
                except FloatingPointError:
                    saveable = False
                    raise
    finally:
        # Also on KeyboardInterrupt and errors: the steps done so far are kept and the next call resumes after them.
        bar.close()
        add_step_time(history, timed, time.perf_counter() - began)
        history["completed"] = step >= steps
        if saveable:
            save(step)
    model.eval()
    return history


_DATA = ("images", "masks", "backbone")  # settings recorded as a fingerprint of tensors


def _resume(checkpoint: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler, kind: str,
            settings: dict, warmup: int, steps: int) -> tuple[int, dict]:
    """Load ``checkpoint`` into model, optimizer and schedule; returns ``(step, history)``."""
    state = load_checkpoint(checkpoint)
    if state.get("kind") != kind:
        raise ValueError(f"checkpoint: {checkpoint} holds a {state.get('kind')!r} run, expected {kind!r}")
    saved = {"steps": state["history"]["steps"], **state.get("settings", {})}
    for name, value in settings.items():
        if name in saved and saved[name] != value:
            made = f"other {name}" if name in _DATA else f"{name}={saved[name]!r}"
            got = f"different {name}" if name in _DATA else repr(value)
            raise ValueError(f"{name}: the checkpoint {checkpoint} was made with {made}, got {got}; pass the same "
                             f"{name} to resume, or another checkpoint path (or delete it) to start over")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint: {checkpoint} does not match this model ({exc})") from exc
    wanted = [(group["initial_lr"], group["weight_decay"]) for group in optimizer.param_groups]
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    history = state["history"]
    # The learning rate and weight decay are the ones passed now (same values: nothing changes, bit for bit).
    if [(g["initial_lr"], g["weight_decay"]) for g in optimizer.param_groups] != wanted:
        for group, (lr, weight_decay) in zip(optimizer.param_groups, wanted):
            group["initial_lr"], group["weight_decay"] = lr, weight_decay
            group["lr"] = lr * cosine_schedule(scheduler.last_epoch, steps, warmup)
        scheduler.base_lrs = [lr for lr, _ in wanted]
        history.setdefault("changes", []).append(
            {"step": state["step"], "lr": [lr for lr, _ in wanted], "weight_decay": [wd for _, wd in wanted]}
        )
    return state["step"], history
