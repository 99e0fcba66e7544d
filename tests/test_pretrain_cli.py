"""``python -m afno_tutorial.pretrain``: --force starts from scratch, stale state is refused, arguments are checked
first."""

from __future__ import annotations

import os
import re
import signal

import pytest
from torch.optim.optimizer import register_optimizer_step_post_hook

from afno_tutorial.data import make_pretraining_images
from afno_tutorial.fewshot import pretrain
from afno_tutorial.fewshot.pretrain import load_pretrained, main, pretrain_backbone

TINY = ["--mixer", "afno", "--steps", "3", "--size", "32", "--dim", "16", "--depth", "1"]


@pytest.fixture(autouse=True)
def python_sigint_handler():
    """Ctrl-C as a user's Python has it (raise KeyboardInterrupt), whatever an earlier test left installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _args(tmp_path, images: int, *extra: str) -> list[str]:
    return [*TINY, "--images", str(images), "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"),
            *extra]


def _fresh_losses(tmp_path, images: int) -> list[float]:
    """The pretraining curve of a run from scratch on ``images`` images."""
    data = make_pretraining_images(images, 32, seed=0, split=pretrain.RECIPE["split"])
    meta = pretrain_backbone("afno", out=tmp_path / "reference", images=data, progress=False, steps=3,
                             n_images=images, img_size=32, dim=16, depth=1)
    return meta["history"]["loss"]


def test_force_retrains_from_scratch_on_the_new_data(tmp_path):
    assert main(_args(tmp_path, 8)) == 0
    assert main(_args(tmp_path, 12, "--force")) == 0
    _, meta = load_pretrained("afno", tmp_path / "out")
    assert meta["recipe"]["n_images"] == 12
    assert meta["history"]["loss"] == _fresh_losses(tmp_path, 12)  # not the 8-image run's


def test_a_state_made_with_other_data_is_refused_without_force(tmp_path, capsys):
    assert main(_args(tmp_path, 8)) == 0
    (tmp_path / "out" / "afno.pt").unlink()
    assert main(_args(tmp_path, 12)) == 2
    err = capsys.readouterr().err
    assert "images: the checkpoint" in err and "was made with other images" in err and "--force" in err
    assert not (tmp_path / "out" / "afno.pt").exists()


def test_an_interrupted_forced_run_resumes_without_force(tmp_path):
    assert main(_args(tmp_path, 8)) == 0  # an old backbone exists
    calls = {"n": 0}

    def interrupt(*args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGINT)

    handle = register_optimizer_step_post_hook(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            main(_args(tmp_path, 12, "--force"))
    finally:
        handle.remove()
    assert main(_args(tmp_path, 12)) == 0  # resumes the unfinished run although <out>/afno.pt exists
    _, meta = load_pretrained("afno", tmp_path / "out")
    assert meta["history"]["step"] == [0, 1, 2]
    assert meta["history"]["loss"] == _fresh_losses(tmp_path, 12)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any data is made or any training starts."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(pretrain, "make_pretraining_images", forbidden)
    monkeypatch.setattr(pretrain, "pretrain_backbone", forbidden)


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--out", "/proc/afno-tutorial-nope"], "--out: expected a folder that can be written"),
        (["--state-dir", "/proc/afno-tutorial-nope"], "--state-dir: expected a folder that can be written"),
        (["--steps", "0"], "argument --steps: expected a positive int, got '0'"),
        (["--images", "-5"], "argument --images: expected a positive int, got '-5'"),
        (["--dim", "many"], "argument --dim: expected a positive int, got 'many'"),
        (["--size", "30"], "--size: expected a multiple of the patch size 4, got 30"),
        (["--mask-ratio", "1"], r"argument --mask-ratio: expected a fraction in \[0, 1\), got '1'"),
        (["--max-minutes", "nan"], "argument --max-minutes: expected a finite number of minutes >= 0, got 'nan'"),
    ],
)
def test_arguments_and_folders_are_checked_before_any_work(tmp_path, capsys, no_work, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        main(_args(tmp_path, 8, *extra))
    assert exit_info.value.code == 2
    assert re.search(message, capsys.readouterr().err)


def test_an_output_path_that_is_a_file_is_refused(tmp_path, capsys, no_work):
    (tmp_path / "out").write_text("a file, not a folder")
    with pytest.raises(SystemExit):
        main(_args(tmp_path, 8))
    assert "--out: expected a folder that can be written" in capsys.readouterr().err
