"""The pipeline's step cache with cheap fake steps: no-op re-runs, targeted re-runs, failure + resume."""

import json

import pytest

from cardlens.errors import UsageError
from cardlens.mlops import cache
from cardlens.mlops.cache import Step, StepFailed, run_steps


def make_steps(calls: dict, fail: set | None = None, tag: str = ""):
    """a → b → c, and d (independent). Each writes a file derived from its config and upstream."""
    fail = fail if fail is not None else set()

    def writer(name):
        def run(ctx):
            calls[name] = calls.get(name, 0) + 1
            upstream = "".join(r.path("out.txt").read_text() for r in ctx.inputs.values())
            if name in fail:
                (ctx.out / "half-done.txt").write_text("partial")
                raise RuntimeError(f"{name} broke")
            (ctx.out / "out.txt").write_text(f"{name}:{ctx.config}:{upstream}")
            return {"file": "out.txt", "volatile": {"call": calls[name]}}

        return run

    return [
        Step("a", writer("a"), config=lambda c: c["a"]),
        Step("b", writer("b"), deps=("a",), config=lambda c: c["b"]),
        Step("c", writer("c"), deps=("b",), config=lambda c: c["c"], resumable=True),
        Step("d", writer("d"), config=lambda c: c["d"]),
    ]


CFG = {"a": 1, "b": 2, "c": 3, "d": 4}


def run(tmp_path, steps, cfg=CFG, **kw):
    lines = []
    result = run_steps(steps, cfg, tmp_path / "pipeline", log=lines.append, **kw)
    return result, lines


def test_second_run_with_nothing_changed_does_no_work(tmp_path):
    calls = {}
    first, _ = run(tmp_path, make_steps(calls))
    assert calls == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert set(first.statuses.values()) == {"ran"}
    second, lines = run(tmp_path, make_steps(calls))
    assert calls == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert all(s == "cached" for s in second.statuses.values())
    assert sum("cached" in line for line in lines) == 4
    for name in "abcd":  # same folders, done.json written
        assert second.results[name].folder == first.results[name].folder
        assert json.loads((first.results[name].folder / "done.json").read_text())["step"] == name
    assert json.loads((tmp_path / "pipeline" / "latest.json").read_text())["steps"]["c"]["status"] == "cached"


def test_changing_one_step_reruns_it_and_its_dependents_only(tmp_path):
    calls = {}
    run(tmp_path, make_steps(calls))
    result, _ = run(tmp_path, make_steps(calls), cfg={**CFG, "b": 20})
    assert calls == {"a": 1, "b": 2, "c": 2, "d": 1}
    assert result.statuses == {"a": "cached", "b": "ran", "c": "ran", "d": "cached"}
    assert "b:20" in result.results["c"].path("out.txt").read_text()
    # back to the old config: the old results are still there, nothing runs
    result, _ = run(tmp_path, make_steps(calls))
    assert calls == {"a": 1, "b": 2, "c": 2, "d": 1}
    assert set(result.statuses.values()) == {"cached"}


def test_forced_step_with_identical_output_leaves_dependents_cached(tmp_path):
    calls = {}
    run(tmp_path, make_steps(calls))
    result, _ = run(tmp_path, make_steps(calls), force=["a"])
    # a ran again and wrote the same bytes (its 'volatile' call count differs): b and c are not redone
    assert calls == {"a": 2, "b": 1, "c": 1, "d": 1}
    assert result.statuses["a"] == "ran" and result.statuses["b"] == "cached"
    run(tmp_path, make_steps(calls), force=["all"])
    assert calls == {"a": 3, "b": 2, "c": 2, "d": 2}


def test_changed_upstream_output_reruns_dependents(tmp_path):
    calls = {}
    steps = make_steps(calls)
    run(tmp_path, steps)

    def a_other(ctx):  # same key material, different bytes (a non-deterministic training, say)
        (ctx.out / "out.txt").write_text("different")
        return {"file": "out.txt"}

    steps2 = [Step("a", a_other, config=lambda c: c["a"])] + make_steps(calls)[1:]
    result, _ = run(tmp_path, steps2, force=["a"])
    assert result.statuses == {"a": "ran", "b": "ran", "c": "ran", "d": "cached"}


def test_failed_step_keeps_earlier_results_and_the_next_run_resumes(tmp_path):
    calls = {}
    with pytest.raises(StepFailed) as err:
        run(tmp_path, make_steps(calls, fail={"c"}))
    assert "'c' failed" in str(err.value) and "resume" in str(err.value)
    assert calls == {"a": 1, "b": 1, "c": 1}  # d (after c) never started
    root = tmp_path / "pipeline"
    assert (err.value.folder / "failed.json").is_file() and not (err.value.folder / "done.json").exists()
    assert json.loads((root / "latest.json").read_text())["failed"] == "c"
    result, lines = run(tmp_path, make_steps(calls))
    assert calls == {"a": 1, "b": 1, "c": 2, "d": 1}
    assert result.statuses == {"a": "cached", "b": "cached", "c": "ran", "d": "ran"}
    assert any("[c] running" in line and "resuming" in line for line in lines)
    # c is resumable: its partial file from the failed attempt is still there, failed.json is gone
    assert (result.results["c"].folder / "half-done.txt").is_file()
    assert not (result.results["c"].folder / "failed.json").exists()


def test_non_resumable_partial_folder_is_cleared(tmp_path):
    calls = {}
    with pytest.raises(StepFailed) as err:
        run(tmp_path, make_steps(calls, fail={"b"}))
    assert (err.value.folder / "half-done.txt").is_file()
    result, _ = run(tmp_path, make_steps(calls))
    assert not (result.results["b"].folder / "half-done.txt").exists()


def test_deleted_output_file_reruns_the_step(tmp_path):
    calls = {}
    first, _ = run(tmp_path, make_steps(calls))
    (first.results["d"].folder / "out.txt").unlink()
    result, _ = run(tmp_path, make_steps(calls))
    assert result.statuses["d"] == "ran" and calls["d"] == 2


def test_code_version_is_part_of_the_key(tmp_path, monkeypatch):
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "mod.py").write_text("X = 1\n")
    monkeypatch.setattr(cache, "PACKAGE_ROOT", src)
    calls = {}

    def steps():
        base = make_steps(calls)
        return [Step("a", base[0].run, config=base[0].config, code=("*.py",)), *base[1:]]

    run(tmp_path, steps())
    (src / "mod.py").write_text("X = 2\n")
    result, _ = run(tmp_path, steps())
    assert result.statuses["a"] == "ran" and calls["a"] == 2
    assert result.statuses["b"] == "cached"  # a's output bytes did not change


def test_graph_and_argument_errors(tmp_path):
    calls = {}
    with pytest.raises(UsageError, match="no step named"):
        run(tmp_path, make_steps(calls), force=["nope"])
    with pytest.raises(UsageError, match="not an earlier step"):
        run(tmp_path, [Step("b", lambda ctx: {}, deps=("a",))])
    with pytest.raises(UsageError, match="matches no file"):
        run(tmp_path, [Step("a", lambda ctx: {}, code=("no/such/*.py",))])
    result, _ = run(tmp_path, make_steps(calls), until="b")
    assert set(result.results) == {"a", "b"}


def test_the_verifier_steps_code_fingerprint_reruns_it(tmp_path, monkeypatch):
    """The pipeline's real ``train-verifier`` step (its name, dependencies, config key and code patterns)
    with a counting stand-in for the training: cached on a second run; a change to the verifier's trainer,
    network or crop, or to the detector it harvests with, runs it again; a change elsewhere does not."""
    import shutil

    from cardlens.mlops import steps as steps_mod
    from cardlens.mlops.config import load_config

    cfg = load_config("tiny")
    real = next(s for s in steps_mod.build_steps(cfg) if s.name == "train-verifier")
    assert real.deps == ("train-detector", "data-detector-t1")
    src = tmp_path / "pkg"  # a copy of the cardlens files the step's patterns match, plus one they do not
    for rel in list(cache.code_digest(real.code)) + ["ocr/field_locator.py"]:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(cache.PACKAGE_ROOT / rel, src / rel)
    monkeypatch.setattr(cache, "PACKAGE_ROOT", src)
    fingerprint = cache.code_digest(real.code)
    for rel in ("training/verifier.py", "detector/verifier.py", "detector/verifier_net.py", "detector/model.py",
                "modelspec.py"):
        assert rel in fingerprint
    calls = {}

    def upstream(name):
        def write(ctx):
            (ctx.out / "out.txt").write_text(name)
            return {"file": "out.txt"}

        return Step(name, write)

    def train(ctx):
        calls["train-verifier"] = calls.get("train-verifier", 0) + 1
        (ctx.out / "model.txt").write_text(str(ctx.config))
        return {"model": "model.txt"}

    def steps():
        return [upstream("data-detector-t1"), upstream("train-detector"),
                Step(real.name, train, deps=real.deps, config=real.config, code=real.code)]

    first, _ = run(tmp_path, steps(), cfg=cfg)
    second, _ = run(tmp_path, steps(), cfg=cfg)
    assert calls == {"train-verifier": 1} and second.statuses["train-verifier"] == "cached"
    (src / "ocr" / "field_locator.py").write_text("# not the verifier's code\n")
    result, _ = run(tmp_path, steps(), cfg=cfg)
    assert result.statuses["train-verifier"] == "cached" and calls == {"train-verifier": 1}
    keys = {first.results["train-verifier"].key}
    for n, rel in enumerate(("training/verifier.py", "detector/verifier_net.py", "detector/verifier.py",
                             "detector/postprocess.py"), start=2):
        with (src / rel).open("a") as f:
            f.write("\n# changed\n")
        result, _ = run(tmp_path, steps(), cfg=cfg)
        assert result.statuses["train-verifier"] == "ran" and calls == {"train-verifier": n}, rel
        assert result.statuses["train-detector"] == "cached"
        keys.add(result.results["train-verifier"].key)
    assert len(keys) == 5
    # and the recipe: a new width is a new verifier
    wider = {**cfg, "train": {**cfg["train"], "verifier": {**cfg["train"]["verifier"], "width": 8}}}
    result, _ = run(tmp_path, steps(), cfg=wider)
    assert result.statuses["train-verifier"] == "ran" and calls == {"train-verifier": 6}
