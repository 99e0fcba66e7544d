"""What the few-shot runs show: summaries over seeds, tables, the pretraining gain, conclusions, result files.

Every sentence :func:`conclusions` writes is computed from the results it is given (no number is typed in).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import torch

from ..mixers import mixer_label


def summarise(rows: list[dict]) -> list[dict]:
    """Mean and standard deviation (over seeds, ``ddof=1``; 0 for one seed) per (mixer, init, mode, K).

    Besides ``miou_mean``/``miou_std``: ``per_class_iou_mean``, ``parameters``, ``fit_seconds`` (mean time to
    train one run) and ``step_ms`` (mean milliseconds per training step).
    """
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["mixer"], row["init"], row["mode"], row["shots"]), []).append(row)
    summary = []
    for (mixer, init, mode, k), group in groups.items():
        values = torch.tensor([r["miou"] for r in group], dtype=torch.float64)
        per_class = torch.tensor([r["per_class_iou"] for r in group], dtype=torch.float64).nanmean(0)
        summary.append({
            "mixer": mixer, "init": init, "mode": mode, "shots": k, "seeds": len(group),
            "miou_mean": float(values.mean()), "miou_std": float(values.std()) if len(group) > 1 else 0.0,
            "per_class_iou_mean": per_class.tolist(),
            "parameters": group[0].get("parameters", 0),
            "fit_seconds": sum(r.get("fit_seconds", 0.0) for r in group) / len(group),
            "step_ms": sum(r.get("step_ms", 0.0) for r in group) / len(group),
        })
    return summary


def lookup(results: dict, mixer: str, init: str = "pretrained", mode: str = "frozen", shots: int = 10) -> dict | None:
    """The summary row of (mixer, init, mode, K), or ``None``."""
    for r in results["summary"]:
        if (r["mixer"], r["init"], r["mode"], r["shots"]) == (mixer, init, mode, shots):
            return r
    return None


def select(results: dict, **match) -> dict:
    """A shallow copy of ``results`` whose ``summary`` keeps the rows matching ``match`` (e.g. ``init="random"``,
    ``shots=10``)."""
    return {**results, "summary": [r for r in results["summary"] if all(r.get(k) == v for k, v in match.items())]}


def format_table(results: dict, mode: str | None = None) -> str:
    """The summary as a Markdown table: mIoU (%) mean ± std over seeds, one row per (mixer, init, mode, K)."""
    lines = ["| mixer | init | training | K | mIoU (%) | x chance | params | ms / training step |",
             "|---|---|---|---|---|---|---|---|"]
    chance = results["chance_miou"]
    for r in results["summary"]:
        if mode is not None and r["mode"] != mode:
            continue
        lines.append(
            f"| {r['mixer']} | {r['init']} | {r['mode']} | {r['shots']} | {100 * r['miou_mean']:.1f} ± "
            f"{100 * r['miou_std']:.1f} | {r['miou_mean'] / chance:.2f} | {r['parameters']:,} | {r['step_ms']:.1f} |"
        )
    s = results["settings"]
    lines.append(f"\nChance level (the best image-blind guess): {100 * chance:.1f} % mIoU; {s['eval_images']} test "
                 f"images (data seed {s['data_seed']}); {len(s['seeds'])} seeds; device: {results['device']}.")
    return "\n".join(lines)


def pretraining_gain(results: dict, mode: str = "frozen") -> list[dict]:
    """Pretrained minus random init per (mixer, K): ``gain`` (difference of the means), ``spread`` (``sqrt(std_p^2 +
    std_r^2)``, the standard deviation of the difference of two runs) and ``z = gain / spread``.

    Pretraining "helps by more than two standard deviations" when ``z > 2``.
    """
    out = []
    for r in results["summary"]:
        if r["init"] != "pretrained" or r["mode"] != mode:
            continue
        rand = lookup(results, r["mixer"], "random", mode, r["shots"])
        if rand is None:
            continue
        gain = r["miou_mean"] - rand["miou_mean"]
        spread = math.hypot(r["miou_std"], rand["miou_std"])
        out.append({"mixer": r["mixer"], "shots": r["shots"], "mode": mode, "pretrained": r["miou_mean"],
                    "random": rand["miou_mean"], "gain": gain, "spread": spread,
                    "z": gain / spread if spread > 0 else float("inf") * (1 if gain > 0 else -1)})
    return out


def format_gain(results: dict, mode: str = "frozen") -> str:
    lines = ["| mixer | K | pretrained (%) | random init (%) | gain (points) | spread | gain / spread |",
             "|---|---|---|---|---|---|---|"]
    for g in pretraining_gain(results, mode):
        lines.append(f"| {g['mixer']} | {g['shots']} | {100 * g['pretrained']:.1f} | {100 * g['random']:.1f} | "
                     f"{100 * g['gain']:+.1f} | {100 * g['spread']:.1f} | {g['z']:+.1f} |")
    return "\n".join(lines)


def compare(results: dict, a: str = "afno", b: str = "attention", init: str = "pretrained",
            mode: str = "frozen") -> str:
    """One line per K: mixers ``a`` and ``b``, their gap, and whether it exceeds the two spreads added."""
    lines = []
    for k in sorted({r["shots"] for r in results["summary"]}):
        ra, rb = lookup(results, a, init, mode, k), lookup(results, b, init, mode, k)
        if ra is None or rb is None:
            continue
        gap, spread = 100 * (ra["miou_mean"] - rb["miou_mean"]), 100 * (ra["miou_std"] + rb["miou_std"])
        name_a, name_b = mixer_label(a), mixer_label(b)
        verdict = (f"{name_a if gap > 0 else name_b} is clearly ahead" if abs(gap) > spread
                   else "no clear difference (within the spread over seeds)")
        lines.append(f"K = {k}: {name_a} {100 * ra['miou_mean']:.1f} % vs {name_b} {100 * rb['miou_mean']:.1f} % "
                     f"mIoU (gap {gap:+.1f} points, spreads added {spread:.1f}): {verdict}.")
    return "\n".join(lines)


def _gain_sentence(gains: dict[str, dict], what: str) -> str:
    helped = [m for m, g in gains.items() if g["z"] > 2]
    parts = ", ".join(f"{mixer_label(m)} {100 * g['gain']:+.1f} ± {100 * g['spread']:.1f}" for m, g in gains.items())
    return (f"{what} (pretrained minus random init, points of mIoU, ± the spread of the difference): {parts}; more "
            f"than two spreads for {len(helped)} of {len(gains)} mixers"
            + (f" ({', '.join(mixer_label(m) for m in helped)})." if helped else "."))


def conclusions(frozen: dict, finetune: dict | None = None, shots: int = 10, fresh: dict | None = None) -> list[str]:
    """The lesson in sentences, each carrying the number it rests on, computed from ``frozen`` (and ``finetune``)
    results: which mixer wins and by how much, what pretraining buys, what fine-tuning buys and at what cost; with
    ``fresh`` (the frozen protocol on another data seed) whether the K-shot numbers hold there."""
    chance = frozen["chance_miou"]
    rows = [r for r in frozen["summary"] if (r["init"], r["mode"], r["shots"]) == ("pretrained", "frozen", shots)]
    if not rows:
        return [f"No frozen-feature results at K = {shots}."]
    rows.sort(key=lambda r: -r["miou_mean"])
    best, second = rows[0], rows[1] if len(rows) > 1 else None
    out = [f"Frozen features, K = {shots}: {mixer_label(best['mixer'])} wins with {100 * best['miou_mean']:.1f} ± "
           f"{100 * best['miou_std']:.1f} % mIoU, {best['miou_mean'] / chance:.1f}x chance ({100 * chance:.1f} %)."]
    if second is not None:
        gap, spread = best["miou_mean"] - second["miou_mean"], best["miou_std"] + second["miou_std"]
        clear = "more than" if gap > spread else "within"
        out.append(f"The runner-up is {mixer_label(second['mixer'])} at {100 * second['miou_mean']:.1f} ± "
                   f"{100 * second['miou_std']:.1f} %: a gap of {100 * gap:.1f} points, {clear} the two spreads "
                   f"added ({100 * spread:.1f}).")
    afno, attn = lookup(frozen, "afno", shots=shots), lookup(frozen, "attention", shots=shots)
    if afno is not None and attn is not None:
        gap, spread = afno["miou_mean"] - attn["miou_mean"], afno["miou_std"] + attn["miou_std"]
        out.append(f"The paper's comparison: {mixer_label('afno')} {100 * afno['miou_mean']:.1f} % "
                   f"({afno['miou_mean'] / chance:.1f}x chance) against {mixer_label('attention')} "
                   f"{100 * attn['miou_mean']:.1f} % "
                   f"({attn['miou_mean'] / chance:.1f}x), a gap of {100 * gap:+.1f} points, "
                   f"{'more than' if abs(gap) > spread else 'within'} the two spreads added ({100 * spread:.1f}).")
    gains = {g["mixer"]: g for g in pretraining_gain(frozen) if g["shots"] == shots}
    if gains:
        out.append(_gain_sentence(gains, "Pretraining buys"))
    if finetune is not None:
        parts, costs = [], []
        for r in sorted(rows, key=lambda r: r["mixer"]):
            ft = lookup(finetune, r["mixer"], "pretrained", "finetune", shots)
            if ft is None:
                continue
            parts.append(f"{mixer_label(r['mixer'])} {100 * (ft['miou_mean'] - r['miou_mean']):+.1f}")
            costs.append(f"{mixer_label(r['mixer'])} {ft['step_ms']:.0f} ms vs {r['step_ms']:.1f} ms")
        if parts:
            out.append(f"Fine-tuning the whole backbone on the same K = {shots} images changes mIoU by "
                       f"{', '.join(parts)} points over frozen features, at a cost per training step of "
                       f"{', '.join(costs)} (fine-tuning vs the frozen head, {finetune['device']}).")
        ft_gains = {g["mixer"]: g for g in pretraining_gain(finetune, "finetune") if g["shots"] == shots}
        if ft_gains:
            out.append(_gain_sentence(ft_gains, "Once the backbone is fine-tuned, pretraining buys"))
    if fresh is not None:
        pairs = [(r, lookup(fresh, r["mixer"], r["init"], "frozen", shots)) for r in frozen["summary"]
                 if (r["mode"], r["shots"]) == ("frozen", shots)]
        pairs = [(a, b) for a, b in pairs if b is not None]
        held = sum(abs(b["miou_mean"] - a["miou_mean"]) <= 2 * math.hypot(a["miou_std"], b["miou_std"])
                   for a, b in pairs)
        fresh_gains = [g for g in pretraining_gain(fresh) if g["shots"] == shots]
        helped = [mixer_label(g["mixer"]) for g in fresh_gains if g["z"] > 2]
        if pairs:
            out.append(f"On a fresh data seed ({fresh['settings']['data_seed']}: other test images and support sets), "
                       f"{held} of {len(pairs)} K = {shots} means (mixer and init) lie within two spreads of these, "
                       f"and pretraining buys more than two spreads for {len(helped)} of {len(fresh_gains)} mixers"
                       + (f" ({', '.join(helped)})." if helped else "."))
    return out


def replication(first: dict, second: dict, shots: int = 10, mode: str = "frozen") -> list[str]:
    """Per mixer and init: ``second``'s mIoU against ``first``'s, and whether it lies within ``first``'s spread
    (two standard deviations of the difference of two runs); then the pretraining gain in both."""
    lines = []
    for r in first["summary"]:
        if (r["mode"], r["shots"]) != (mode, shots):
            continue
        other = lookup(second, r["mixer"], r["init"], mode, shots)
        if other is None:
            continue
        diff, spread = other["miou_mean"] - r["miou_mean"], math.hypot(r["miou_std"], other["miou_std"])
        verdict = "within" if abs(diff) <= 2 * spread else "outside"
        lines.append(f"{mixer_label(r['mixer'])}, {r['init']}: {100 * r['miou_mean']:.1f} ± "
                     f"{100 * r['miou_std']:.1f} % (data seed {first['settings']['data_seed']}) vs "
                     f"{100 * other['miou_mean']:.1f} ± {100 * other['miou_std']:.1f} % "
                     f"(data seed {second['settings']['data_seed']}): "
                     f"{100 * diff:+.1f} points, {verdict} two spreads ({200 * spread:.1f}).")
    gains = {(g["mixer"]): g for g in pretraining_gain(second, mode) if g["shots"] == shots}
    for g in pretraining_gain(first, mode):
        if g["shots"] == shots and g["mixer"] in gains:
            h = gains[g["mixer"]]
            lines.append(f"{mixer_label(g['mixer'])}: pretraining buys {100 * g['gain']:+.1f} ± "
                         f"{100 * g['spread']:.1f} points (gain / spread {g['z']:+.1f}) on data seed "
                         f"{first['settings']['data_seed']}, "
                         f"{100 * h['gain']:+.1f} ± {100 * h['spread']:.1f} ({h['z']:+.1f}) on data seed "
                         f"{second['settings']['data_seed']}.")
    return lines


def merge_results(parts: list[dict]) -> dict:
    """One result from runs of the same protocol split across processes (by mixer, init, mode, K or seed).

    Rows are concatenated and the summary recomputed; the lists of mixers, shots, seeds, inits and modes are united
    (in order of appearance), the ``backbones`` too, ``seconds`` summed; ``command`` joins the parts' commands with
    `` && ``. Refused with a clear error: no parts, a run present twice, or parts that differ in anything else
    (test set, chance level, classes, steps, blocks, device).
    """
    if not parts:
        raise ValueError("parts: expected at least one result to merge, got none")
    lists = ("mixers", "shots", "seeds", "inits", "modes")
    first = parts[0]
    for i, part in enumerate(parts[1:], start=1):
        for key in ("chance_miou", "class_names", "device"):
            if part[key] != first[key]:
                raise ValueError(f"parts: part {i} differs from part 0 in {key}: {part[key]!r} vs {first[key]!r}")
        for key, value in part["settings"].items():
            if key not in lists and value != first["settings"].get(key):
                raise ValueError(f"parts: part {i} differs from part 0 in setting {key}: {value!r} vs "
                                 f"{first['settings'].get(key)!r}")
    rows = [row for part in parts for row in part["rows"]]
    keys = [(r["mixer"], r["init"], r["mode"], r["shots"], r["seed"]) for r in rows]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"parts: runs present in more than one part: {twice}")
    settings = dict(first["settings"])
    for key in lists:
        settings[key] = list(dict.fromkeys(v for part in parts for v in part["settings"][key]))
    return {**{k: v for k, v in first.items() if k not in ("models", "test")}, "rows": rows,
            "summary": summarise(rows), "settings": settings,
            "backbones": {k: v for part in parts for k, v in part.get("backbones", {}).items()},
            "seconds": sum(part.get("seconds", 0.0) for part in parts),
            "command": " && ".join(part.get("command", "?") for part in parts)}


def save_results(results: dict, out: str | Path) -> list[Path]:
    """Write ``results.json`` and ``results.csv`` to ``out``; returns the paths (the command line adds the figure,
    ``fewshot_miou.png``: :func:`afno_tutorial.viz.segmentation.plot_miou_bars`)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plain = {k: v for k, v in results.items() if k not in ("models", "test")}
    paths = [out / "results.json", out / "results.csv"]
    paths[0].write_text(json.dumps(plain, indent=1, default=float) + "\n")
    with paths[1].open("w", newline="") as f:
        fields = ["mixer", "init", "mode", "shots", "seeds", "miou_mean", "miou_std", "parameters", "fit_seconds",
                  "step_ms"]
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results["summary"])
    return paths


def load_results(path: str | Path) -> dict:
    """``results.json`` written by :func:`save_results` (a folder or the file)."""
    path = Path(path)
    path = path / "results.json" if path.is_dir() else path
    if not path.exists():
        raise ValueError(f"path: no few-shot results at {path}; produce them with `python -m afno_tutorial.fewshot`")
    return json.loads(path.read_text())
