"""Every code block of README.md and of the guides in docs/ runs (or parses) as written.

- ```python blocks of each file are executed in order as one script, in a
  fresh process and an empty temporary working directory, as a reader
  pasting them into a notebook would (later blocks may use names of earlier
  ones; a guide does not see the README's names).
- ```bash blocks: every `tfhm ...` command is parsed by the real command-line
  parser (placeholders such as PATH and RUN are fine for parsing); the other
  lines are checked against the short list below of commands this test cannot
  run (network installs, the CI entry point itself, docker), so a new kind of
  line cannot slip in untested.
- Every relative link resolves, and the README stays a front page.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TEXTS = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
         for path in DOCS}
README = TEXTS["README.md"]
README_MAX_BYTES = 12 * 1024  # issue 26.1: a front page, the rest in docs/
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)

# Lines of bash blocks that are not `tfhm` commands, and why they are not run
# here: they install from the network, are CI itself, or need a Docker engine.
_NOT_RUN = (
    "pip install",  # network installs (the suite runs without network)
    "python3 -m venv",  # the main job's fresh venv (timed by hand, see README)
    "bash .ci/run",  # the CI entry point, which runs this very test
    "python -m pytest",  # the suite itself
    "docker run",  # TF Serving needs a Docker engine
    "python -c",  # GPU check (prints the devices TensorFlow sees)
    "nvidia-smi",
)


def _blocks(language, name="README.md"):
    return [body for lang, body in _FENCE.findall(TEXTS[name]) if lang == language]


def _commands(body):
    """The logical lines of a bash block (continuations joined, comments cut)."""
    lines, current = [], ""
    for raw in body.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        current += line.rstrip("\\") + " "
        if not line.endswith("\\"):
            if current.strip():
                lines.append(current.strip())
            current = ""
    return lines


def test_readme_has_code_blocks():
    assert len(_blocks("python")) >= 2 and len(_blocks("bash")) >= 3


def test_readme_is_a_front_page():
    # Issue 26.1: the README had grown into a 42 KB manual; the details now
    # live in the guides under docs/, which the README links.
    size = len(README.encode("utf-8"))
    assert size < README_MAX_BYTES, f"README.md is {size} bytes (limit {README_MAX_BYTES})"
    assert len(DOCS) > 5
    for name in TEXTS:
        if name != "README.md":
            assert f"]({name})" in README, f"README.md does not link {name}"


_WITH_PYTHON = [name for name in TEXTS if _blocks("python", name)]


@pytest.mark.parametrize("name", _WITH_PYTHON)
def test_python_blocks_run_in_order(name, tmp_path):
    script = "\n\n".join(_blocks("python", name))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{name}: {result.stderr[-3000:]}"


def _tfhm_commands():
    found = []
    for name in TEXTS:
        for body in _blocks("bash", name):
            for line in _commands(body):
                for part in re.split(r"\s*&&\s*", line):
                    words = shlex.split(part)
                    if words and words[0].endswith("tfhm"):
                        found.append((name, words[1:]))
                    elif not any(part.startswith(p) or p in part for p in _NOT_RUN):
                        found.append((name, ("UNCHECKED", part)))
    return found


@pytest.mark.parametrize(("name", "argv"), _tfhm_commands(),
                         ids=lambda a: a if isinstance(a, str) else " ".join(a)[:60])
def test_bash_tfhm_commands_parse(name, argv):
    assert argv[0] != "UNCHECKED", f"{name} line neither run nor exempt: {argv[1]!r}"
    from tfhm.cli import build_parser

    parser = build_parser()
    try:
        parser.parse_args(list(argv))
    except SystemExit as error:  # argparse's way of refusing
        pytest.fail(f"{name}: `tfhm {' '.join(argv)}` does not parse (exit {error.code})")


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(text):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to '-'."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", _FENCE.sub("", text), re.MULTILINE)}


def test_relative_links_resolve():
    # Issue 26.1: the guides link each other, the README and the tree; a
    # moved file or a renamed heading must not leave a dead link behind.
    checked = 0
    for name, text in TEXTS.items():
        for target in _LINK.findall(_FENCE.sub("", text)):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = (ROOT / name).parent / path if path else ROOT / name
            assert resolved.exists(), f"{name}: link {target!r} points nowhere"
            if anchor and resolved.suffix == ".md":
                anchors = _anchors(resolved.read_text(encoding="utf-8"))
                assert anchor in anchors, f"{name}: no heading for {target!r}"
            checked += 1
    assert checked >= 20, checked


def _cli_commands():
    from tfhm.cli import build_parser

    parser = build_parser()
    return list(next(a for a in parser._actions if a.dest == "command").choices)


def test_help_and_module_table_name_every_command(capsys):
    # Issue 25.14: `tfhm --help`'s first line and the README's module table
    # left out `inpaint`; tfhm.inpainting had no row.
    from tfhm import cli

    commands = _cli_commands()
    assert "inpaint" in commands
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    line = capsys.readouterr().out.splitlines()[2]
    assert line == f"Helmholtz machines: {', '.join(commands)}.", line
    row = next(r for r in README.splitlines() if r.startswith("| `tfhm.cli` |"))
    assert all(f"`{command}`" in row for command in commands), row
    assert any(r.startswith("| `tfhm.inpainting` |") for r in README.splitlines())


def test_first_paragraph_names_every_estimator():
    # Issue 25.14: the opening named two estimators of seven.
    from tfhm.estimators import registry

    intro = " ".join(README.split("## Install")[0].split())
    names = registry.names()
    assert len(names) == 7
    assert all(f"`{name}`" in intro for name in names), intro
    assert "seven in all" in intro


def test_the_main_jobs_timing_is_quoted_once():
    # Issue 25.14: 118 s (70 + 40) in one section and 84 s (58 + 26) in
    # another, as if for the same thing. Now one place holds both runs: the
    # README's main job, which no guide repeats (issue 26.1).
    everywhere = " ".join(" ".join(TEXTS.values()).split())
    assert everywhere.count("s of install") == 1
    text = " ".join(README.split())
    bullet = text[text.index("**The main job**"):][:400]
    assert "84 s in all" in bullet and "118 s (70 + 40)" in bullet


def test_module_table_names_the_step_fit_and_the_trainer_call(monkeypatch):
    # Issue 26.1: the table said `objectives.compute_gradients` was what
    # `fit` and the Trainer share; both call `estimators.step.compute_gradients`.
    import numpy as np

    import tfhm
    from tfhm.estimators import step

    rows = {row.split(" | ")[0][2:]: row for row in README.splitlines()
            if row.startswith("| `tfhm.")}
    said = rows["`tfhm.estimators`"]
    assert "`step.compute_gradients` that `fit`" in said and "`Trainer`" in said, said
    assert "shared by `fit`" not in rows["`tfhm.objectives`"]
    calls = []  # traces of the step, one per tf.function trace
    real = step.compute_gradients

    def spy(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(step, "compute_gradients", spy)
    x = np.random.default_rng(0).integers(0, 2, size=(20, 6)).astype("float32")
    by_fit = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    by_fit.compile(jit_compile=False)
    by_fit.fit(x, batch_size=10, epochs=1, verbose=0)
    assert calls and all(c is by_fit.estimator for c in calls), calls
    del calls[:]
    by_loop = tfhm.HelmholtzMachine(data_dim=6, latent_dims=(2,), seed=0)
    config = tfhm.TrainConfig(batch_size=10, epochs=1, eval_max_examples=0)
    tfhm.Trainer(by_loop, config, verbose=0).fit(x)
    assert calls and all(c is by_loop.estimator for c in calls), calls
