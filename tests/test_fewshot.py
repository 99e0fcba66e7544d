"""The few-shot benchmark, the pretraining CLI and their files, on tiny settings."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from afno_tutorial import VisionBackbone, fewshot
from afno_tutorial.data import sample
from afno_tutorial.fewshot import report
from afno_tutorial.fewshot.cli import main as fewshot_main
from afno_tutorial.fewshot.decoder import MaskedAutoencoder
from afno_tutorial.fewshot.heads import FewShotSegmenter, PixelHead, features_at_pixels, fit_finetune, fit_frozen
from afno_tutorial.fewshot.pretrain import load_pretrained, pretrain_backbone
from afno_tutorial.fewshot.pretrain import main as pretrain_main
from afno_tutorial.fewshot.targets import filter_bank, texture_energy
from afno_tutorial.masking import random_patch_mask
from afno_tutorial.train import chance_miou, miou

TINY = dict(dim=16, depth=1, img_size=32, steps=3, n_images=8, batch_size=4, decoder_dim=8)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    for mixer in ("afno", "gfn"):
        meta = pretrain_backbone(mixer, out=out, progress=False, **TINY)
        assert meta["parameters"] > 0 and len(meta["history"]["loss"]) == 3
        assert math.isfinite(meta["held_out_loss"])
    return out


def test_pretrained_backbone_files(checkpoints):
    backbone, meta = load_pretrained("afno", checkpoints)
    assert meta["config"]["dim"] == 16 and meta["recipe"]["steps"] == 3
    assert meta["recipe"]["split"] == "context_base" and meta["recipe"]["pools"] == (1, 3, 5)
    assert next(backbone.parameters()).dtype == torch.float32
    assert backbone(torch.rand(1, 3, 32, 32)).shape == (1, 8, 8, 16)
    assert "torch" in meta["versions"]
    with pytest.raises(ValueError, match="afno_tutorial.pretrain --mixer fno"):
        load_pretrained("fno", checkpoints)


def test_pretrain_cli_resumes(tmp_path):
    args = ["--mixer", "afno", "--steps", "4", "--images", "8", "--size", "32", "--dim", "16", "--depth", "1",
            "--out", str(tmp_path / "out"), "--state-dir", str(tmp_path / "state"), "--max-minutes", "0.0"]
    pretrain_main(args)  # no time at all: nothing written
    assert not (tmp_path / "out" / "afno.pt").exists()
    pretrain_main(args[:-2])
    _, meta = load_pretrained("afno", tmp_path / "out")
    assert meta["history"]["step"] == [0, 1, 2, 3]


# ----------------------------------------------------------------------------------------------- pretraining targets


def test_filter_bank_is_one_sided_and_zero_at_dc():
    bank = filter_bank((32, 32))
    assert bank.shape == (16, 32, 32) and float(bank[:, 0, 0].abs().max()) == 0.0
    flipped = torch.roll(torch.flip(bank, dims=(-2, -1)), shifts=(1, 1), dims=(-2, -1))  # bank at -f
    both = bank * flipped
    both[:, 16, :] = both[:, :, 16] = 0  # the Nyquist row and column are their own negatives
    assert float(both.max()) < 1e-3 * float(bank.max()) ** 2  # f and -f never both pass


def test_texture_energy_neighbourhood_averages():
    images = torch.rand(2, 3, 32, 32)
    alone = texture_energy(images, 4)
    pooled = texture_energy(images, 4, pools=(1, 3))
    assert torch.equal(pooled[..., :16], alone)
    centre = alone[:, 2:5, 3:6].mean((1, 2))  # the 3x3 patches around patch (3, 4)
    assert torch.allclose(pooled[:, 3, 4, 16:], centre, atol=1e-5)
    corner = alone[:, :2, :2].mean((1, 2))  # at a corner only the patches inside the image count
    assert torch.allclose(pooled[:, 0, 0, 16:], corner, atol=1e-5)


def test_texture_energy_peaks_at_the_grating_scale_and_orientation():
    y, x = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    for period, orientation, expected_scale in ((4.0, 0, 0), (8.0, 2, 1), (16.0, 0, 2)):
        angle = orientation * math.pi / 4
        image = 0.5 + 0.2 * torch.cos(2 * math.pi * (x * math.cos(angle) + y * math.sin(angle)) / period)
        energy = texture_energy(image.expand(1, 3, 64, 64), 4)  # (1, 16, 16, 16)
        best = int(energy[0, 4:12, 4:12].mean((0, 1)).argmax())
        assert divmod(best, 4) == (expected_scale, orientation)


def test_masked_loss_matches_a_plain_computation():
    torch.manual_seed(0)
    model = MaskedAutoencoder(VisionBackbone(dim=16, depth=1, img_size=32), decoder_dim=8)
    images = torch.rand(2, 3, 32, 32)
    mask = random_patch_mask(2, (8, 8), 0.75, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pixels, energy = model.predict(images, mask)
    hidden = mask.repeat_interleave(4, 1).repeat_interleave(4, 2)[:, None].expand_as(images)
    pixel_term = ((pixels - images)[hidden] ** 2).mean() / images.var()
    target = texture_energy(images, 4, pools=(1, 3, 5))
    assert target.shape == (2, 8, 8, 48)
    target = (target - target.mean((0, 1, 2))) / target.std((0, 1, 2))
    err = ((energy - target) ** 2).mean(-1)
    texture_term = err[mask].mean() + err[~mask].mean()  # visible patches weigh 1 by default
    with torch.no_grad():
        loss = float(model.masked_loss(images, mask))
    assert loss == pytest.approx(float(pixel_term + texture_term), rel=1e-5)
    with pytest.raises(ValueError, match="texture_weight"):
        MaskedAutoencoder(VisionBackbone(dim=16, depth=1, img_size=32), pixel_weight=0, texture_weight=0)


def test_folded_input_normalisation_equals_normalising_the_input():
    from afno_tutorial.fewshot.decoder import fold_input_normalisation, normalise_input

    torch.manual_seed(0)
    backbone = VisionBackbone(dim=16, depth=1, img_size=32).eval()
    images = torch.rand(2, 3, 32, 32)
    expected = backbone(normalise_input(images))
    assert torch.allclose(fold_input_normalisation(backbone)(images), expected, atol=1e-5)


# ------------------------------------------------------------------------------------------- features and the head


def test_last_block_tokens_are_the_backbone_output():
    backbone = VisionBackbone(dim=16, depth=2, img_size=32).eval()
    images = torch.rand(2, 3, 32, 32)
    assert torch.allclose(fewshot.block_tokens(backbone, images, (2,)), backbone(images), atol=1e-6)
    both = fewshot.extract_features(backbone, images, (0, 2))
    assert both.shape == (2, 8, 8, 32)
    with pytest.raises(ValueError, match="blocks"):
        FewShotSegmenter(backbone, 4, blocks=(3,))


def test_pixel_head_on_the_grid_equals_the_head_at_pixels():
    torch.manual_seed(0)
    head = PixelHead(12, 3, hidden=8)
    head.set_standardisation(torch.randn(50, 12) * 3 + 1)
    features = torch.randn(2, 4, 5, 12)
    full = head(features, (16, 20))  # first layer on the grid, hidden channels upsampled
    upsampled = F.interpolate(features.permute(0, 3, 1, 2), size=(16, 20), mode="bilinear", align_corners=False)
    reference = head.classify(upsampled.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)  # features upsampled first
    assert torch.allclose(full, reference, atol=1e-5)
    masks = torch.randint(3, (2, 16, 20))
    x, y = features_at_pixels(features, masks, 10, torch.Generator().manual_seed(0))
    assert x.shape == (20, 12) and y.shape == (20,)
    rows = upsampled.permute(0, 2, 3, 1).reshape(2, -1, 12)
    assert all(any(torch.allclose(v, r, atol=1e-6) for r in rows[i // 10]) for i, v in enumerate(x))


def test_frozen_fit_leaves_the_backbone_alone_and_finetune_changes_it():
    torch.manual_seed(0)
    support = fewshot.support_set(2, seed=0, size=32)
    model = FewShotSegmenter(VisionBackbone(dim=16, depth=1, img_size=32), 4)
    before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    losses = fit_frozen(model, support.images, support.masks, steps=5, per_image=64)
    assert len(losses) == 5 and all(math.isfinite(v) for v in losses)
    assert all(torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    fit_finetune(model, support.images, support.masks, steps=2)
    assert any(not torch.equal(before[k], v) for k, v in model.backbone.state_dict().items())
    with pytest.raises(ValueError, match="masks"):
        fit_frozen(model, support.images, support.masks + 4, steps=1)


# ------------------------------------------------------------------------------------------------------ protocol


def test_support_sets_are_nested_and_disjoint_from_test_and_data_seed_redraws():
    test = fewshot.make_task(size=32, eval_images=4)
    one = fewshot.support_set(1, seed=0, size=32)
    five = fewshot.support_set(5, seed=0, size=32)
    other = fewshot.support_set(1, seed=1, size=32)
    assert torch.equal(five.images[:1], one.images)
    assert not torch.equal(other.images, one.images)
    assert not any(torch.equal(one.images[0], t) for t in test.images)
    fresh = fewshot.make_task(size=32, eval_images=4, data_seed=1)
    assert fresh.class_names == test.class_names
    assert not any(torch.equal(a, b) for a in fresh.images for b in test.images)
    assert not torch.equal(fewshot.support_set(1, 0, 32, data_seed=1).images, one.images)


def test_run_fewshot_rows_summary_and_files(checkpoints, tmp_path):
    results = fewshot.run_fewshot(["afno"], shots=[1, 2], seeds=[0, 1], inits=["pretrained", "random"],
                                  modes=["frozen", "finetune"], size=32, eval_images=6, head_steps=3,
                                  finetune_steps=2, checkpoints=checkpoints, progress=False, device="cpu",
                                  min_eval_images=1, data_seed=3)
    assert len(results["rows"]) == 2 * 2 * 2 * 2 and len(results["summary"]) == 2 * 2 * 2
    for row in results["rows"]:
        assert 0.0 <= row["miou"] <= 1.0 and len(row["per_class_iou"]) == 4 and row["step_ms"] > 0
    first = results["summary"][0]
    seeds = [r["miou"] for r in results["rows"] if (r["init"], r["mode"], r["shots"]) == ("pretrained", "frozen", 1)]
    assert first["miou_mean"] == pytest.approx(sum(seeds) / 2)
    assert first["miou_std"] == pytest.approx(abs(seeds[0] - seeds[1]) / 2**0.5)
    assert 0 < results["chance_miou"] < 1 and results["settings"]["data_seed"] == 3
    assert "| afno | pretrained | frozen | 1 |" in fewshot.format_table(results)
    gains = fewshot.pretraining_gain(results)
    assert {g["shots"] for g in gains} == {1, 2}
    paths = fewshot.save_results(results, tmp_path)
    assert all(p.exists() for p in paths)
    saved = fewshot.load_results(tmp_path)
    assert saved["settings"]["eval_images"] == 6 and "versions" in saved


def test_random_init_differs_from_pretrained(checkpoints):
    pre, _ = fewshot.get_backbone("afno", "pretrained", checkpoints=checkpoints)
    rnd, _ = fewshot.get_backbone("afno", "random", checkpoints=checkpoints)
    assert not torch.equal(pre.pos_embed, rnd.pos_embed)
    with pytest.raises(ValueError, match="init"):
        fewshot.get_backbone("afno", "imagenet", checkpoints=checkpoints)


@pytest.mark.parametrize("change, message", [
    (dict(seeds=[]), "seeds"), (dict(shots=[0]), "shots"), (dict(shots=[5, 5]), "shots"),
    (dict(eval_images=99), "eval_images: expected at least 100"), (dict(data_seed=-1), "data_seed"),
    (dict(modes=["linear"]), "modes"), (dict(inits=[]), "inits"), (dict(mixers=["fno"]), "checkpoints"),
    (dict(head_steps=0), "head_steps"),
])
def test_impossible_settings_are_refused(checkpoints, change, message):
    settings = dict(mixers=["afno"], shots=[1], seeds=[0], inits=["pretrained"], modes=["frozen"], eval_images=100,
                    checkpoints=checkpoints)
    fewshot.check_settings(**settings)
    with pytest.raises(ValueError, match=message):
        fewshot.check_settings(**{**settings, **change})


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "--seeds: expected at least 1"), (["--eval-images", "20"], "--eval-images: expected at least"),
    (["--shots", "0", "5"], "shots"), (["--data-seed", "-2"], "--data-seed"),
    (["--first-seed", "-1"], "--first-seed: expected a non-negative"),
])
def test_cli_refuses_before_any_work(checkpoints, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        fewshot_main(["--mixer", "afno", "--checkpoints", str(checkpoints), "--out", str(tmp_path / "o"), *args])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_writes_results(checkpoints, tmp_path, capsys):
    fewshot_main(["--mixer", "afno", "--shots", "1", "--seeds", "2", "--init", "pretrained", "random",
                  "--head-steps", "2", "--data-seed", "1", "--device", "cpu", "--checkpoints", str(checkpoints),
                  "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "mIoU" in printed and "Pretrained minus random" in printed
    assert (tmp_path / "results.csv").exists() and (tmp_path / "fewshot_miou.png").exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["command"].startswith("python -m afno_tutorial.fewshot --mixer afno")
    assert saved["settings"]["data_seed"] == 1 and saved["settings"]["eval_images"] == 100


def test_cli_merges_runs_split_by_mixer_into_the_result_of_one_run(checkpoints, tmp_path, capsys):
    common = ["--shots", "1", "--seeds", "2", "--init", "pretrained", "random", "--head-steps", "2", "--device",
              "cpu", "--checkpoints", str(checkpoints)]
    for mixers, out in ((["afno", "gfn"], "both"), (["afno"], "a"), (["gfn"], "g")):
        fewshot_main(["--mixer", *mixers, *common, "--out", str(tmp_path / out)])
    fewshot_main(["--mixer", "gfn", *common, "--seeds", "1", "--first-seed", "2", "--out", str(tmp_path / "g2")])
    fewshot_main(["--merge", str(tmp_path / "a"), str(tmp_path / "g"), "--out", str(tmp_path / "merged")])
    assert "Pretrained minus random" in capsys.readouterr().out
    both, merged = (report.load_results(tmp_path / name) for name in ("both", "merged"))
    assert merged["settings"] == both["settings"] and merged["chance_miou"] == both["chance_miou"]
    assert [r["miou"] for r in merged["rows"]] == [r["miou"] for r in both["rows"]]
    untimed = [[{k: v for k, v in r.items() if k not in ("fit_seconds", "step_ms")} for r in res["summary"]]
               for res in (merged, both)]
    assert untimed[0] == untimed[1]
    assert merged["command"].count("--mixer") == 2 and "--merge" in merged["merged_by"]
    assert (tmp_path / "merged" / "fewshot_miou.png").exists()
    with pytest.raises(ValueError, match="more than one part"):
        report.merge_results([merged, report.load_results(tmp_path / "a")])
    other = report.load_results(tmp_path / "g")
    other["settings"]["head_steps"] = 3
    with pytest.raises(ValueError, match="setting head_steps"):
        report.merge_results([report.load_results(tmp_path / "a"), other])
    more = report.merge_results([report.load_results(tmp_path / name) for name in ("g", "g2")])
    assert more["settings"]["seeds"] == [0, 1, 2] and report.lookup(more, "gfn", shots=1)["seeds"] == 3
    with pytest.raises(SystemExit) as exc:
        fewshot_main(["--merge", str(tmp_path / "a")])
    assert exc.value.code == 2 and "--out" in capsys.readouterr().err


# -------------------------------------------------------------------------------------------------------- report


def _summary(mixer, init, mode, k, mean, std, step_ms=1.0):
    return {"mixer": mixer, "init": init, "mode": mode, "shots": k, "miou_mean": mean, "miou_std": std,
            "step_ms": step_ms, "parameters": 1}


def test_pretraining_gain_and_conclusions_come_from_the_numbers():
    frozen = {"chance_miou": 0.1, "device": "CPU", "summary": [
        _summary("afno", "pretrained", "frozen", 10, 0.40, 0.03), _summary("afno", "random", "frozen", 10, 0.20, 0.04),
        _summary("gfn", "pretrained", "frozen", 10, 0.30, 0.02), _summary("gfn", "random", "frozen", 10, 0.28, 0.02)]}
    gains = {g["mixer"]: g for g in report.pretraining_gain(frozen)}
    assert gains["afno"]["gain"] == pytest.approx(0.20) and gains["afno"]["spread"] == pytest.approx(0.05)
    assert gains["afno"]["z"] == pytest.approx(4.0)
    assert gains["gfn"]["z"] == pytest.approx(0.02 / math.hypot(0.02, 0.02))
    finetune = {"device": "CPU", "summary": [_summary("afno", "pretrained", "finetune", 10, 0.45, 0.01, 80.0),
                                             _summary("gfn", "pretrained", "finetune", 10, 0.35, 0.01, 70.0)]}
    text = " ".join(report.conclusions(frozen, finetune))
    assert "AFNO wins with 40.0 ± 3.0 % mIoU, 4.0x chance (10.0 %)" in text
    assert "gap of 10.0 points" in text and "AFNO +20.0 ± 5.0" in text and "1 of 2 mixers (AFNO)" in text
    assert "AFNO +5.0, GFN +5.0" in text and "AFNO 80 ms" in text
    frozen["summary"].append(_summary("attention", "pretrained", "frozen", 10, 0.35, 0.01))
    text = " ".join(report.conclusions(frozen))
    assert "AFNO 40.0 % (4.0x chance) against self-attention 35.0 % (3.5x), a gap of +5.0 points, more than" in text
    finetune["summary"] += [_summary("afno", "random", "finetune", 10, 0.30, 0.01),
                            _summary("gfn", "random", "finetune", 10, 0.35, 0.01)]
    fresh = {"settings": {"data_seed": 1}, "summary": [
        _summary("afno", "pretrained", "frozen", 10, 0.45, 0.03), _summary("afno", "random", "frozen", 10, 0.21, 0.04),
        _summary("gfn", "pretrained", "frozen", 10, 0.20, 0.02), _summary("gfn", "random", "frozen", 10, 0.28, 0.02)]}
    text = " ".join(report.conclusions(frozen, finetune, fresh=fresh))
    assert "Once the backbone is fine-tuned, pretraining buys" in text and "AFNO +15.0 ± 1.4, GFN +0.0 ± 1.4" in text
    # gfn pretrained moves 10 points against two spreads of 5.7: 3 of 4 means hold; the gain holds for AFNO only
    assert "(1: other test images and support sets), 3 of 4 K = 10 means" in text
    assert "more than two spreads for 1 of 2 mixers (AFNO)." in text.split("fresh data seed")[1]


def test_replication_compares_two_data_seeds_within_their_spread():
    def results(seed, afno_pre, afno_rand):
        return {"settings": {"data_seed": seed}, "summary": [
            _summary("afno", "pretrained", "frozen", 10, afno_pre, 0.02),
            _summary("afno", "random", "frozen", 10, afno_rand, 0.02)]}

    lines = report.replication(results(0, 0.40, 0.20), results(1, 0.43, 0.30))
    assert "AFNO, pretrained: 40.0 ± 2.0 % (data seed 0) vs 43.0 ± 2.0 % (data seed 1): +3.0 points, within" in lines[0]
    assert "outside two spreads" in lines[1]  # 10 points against two spreads of 5.7
    assert "+20.0 ± 2.8" in lines[2] and "+13.0 ± 2.8" in lines[2]
    only_random = report.select(results(0, 0.4, 0.2), init="random")
    assert [r["init"] for r in only_random["summary"]] == ["random"]


# ------------------------------------------------------------------------------------------------ high resolution


def test_attention_memory():
    assert fewshot.attention_matrix_bytes(65536, heads=8) == 65536**2 * 8 * 4


def test_segment_large_and_forward_timer(checkpoints):
    backbone, _ = load_pretrained("afno", checkpoints)
    model = FewShotSegmenter(backbone, 4)
    image = torch.rand(3, 64, 96)
    pred = fewshot.segment_large(model, image, device="cpu")
    assert pred.shape == (64, 96) and pred.dtype == torch.long
    assert torch.equal(pred, fewshot.predict(model, image[None])[0])
    grad_modes: list[bool] = []
    hook = backbone.register_forward_hook(lambda *_: grad_modes.append(torch.is_grad_enabled()))
    try:
        assert fewshot.time_forward(backbone, 32, device="cpu", repeats=2) > 0
    finally:
        hook.remove()
    # warmed up before the timed runs, and no autograd graph recorded in any of them
    assert len(grad_modes) >= 3 and not any(grad_modes)


def test_segment_large_set_pools_the_confusion_over_images(checkpoints):
    backbone, _ = load_pretrained("afno", checkpoints)
    model = FewShotSegmenter(backbone, 4)
    demo = fewshot.segment_large_set(model, count=3, size=64, seed=5, device="cpu", progress=False)
    items = [sample(i, 64, seed=5, split="context_novel") for i in range(3)]
    masks = torch.stack([item["mask"] for item in items])
    preds = torch.stack([fewshot.segment_large(model, item["image"], "cpu") for item in items])
    assert torch.equal(demo["masks"].long(), masks) and torch.equal(demo["predictions"].long(), preds)
    assert demo["miou"] == pytest.approx(miou(preds, masks, 4))  # pooled, not the mean of the per-image values
    assert demo["per_image"] == pytest.approx([miou(p, m, 4) for p, m in zip(preds, masks)])
    assert demo["chance"] == pytest.approx(chance_miou(masks, 4))
    assert sorted(demo["per_image"])[1] == demo["per_image"][demo["median"]]


def test_attention_at_scale_estimates_on_cpu(checkpoints):
    afno, _ = load_pretrained("afno", checkpoints)
    attention, _ = load_pretrained("gfn", checkpoints)  # any backbone stands in for the quadratic one here
    scale = fewshot.attention_at_scale(afno, attention, large=64, timing_sizes=[16, 32], device="cpu")
    assert scale["tokens"] == (64 // afno.patch_size) ** 2
    assert scale["measured"]["afno"][0] == [16, 64, 256] and len(scale["measured"]["attention"][1]) == 2
    assert scale["measured"]["afno"][1][-1] == scale["afno_seconds"] > 0
    assert scale["estimate"]["attention"][0] == scale["tokens"] and "estimated" in scale["note"]
    measured = fewshot.attention_at_scale(afno, attention, 32, [16, 32], device="cpu", measure_attention=True)
    assert measured["estimate"] == {} and "measured" in measured["note"]
