"""Every code block of README.md runs (or parses) as written.

- ```python blocks are executed in order as one script, in a fresh process
  and an empty temporary working directory, as a reader pasting them into a
  notebook would (later blocks may use names of earlier ones).
- ```bash blocks: every `tfhm ...` command is parsed by the real command-line
  parser (placeholders such as PATH and RUN are fine for parsing); the other
  lines are checked against the short list below of commands this test cannot
  run (network installs, the CI entry point itself, docker), so a new kind of
  line cannot slip in untested.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
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


def _blocks(language):
    return [body for lang, body in _FENCE.findall(README) if lang == language]


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


def test_python_blocks_run_in_order(tmp_path):
    script = "\n\n".join(_blocks("python"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]


def _tfhm_commands():
    found = []
    for body in _blocks("bash"):
        for line in _commands(body):
            for part in re.split(r"\s*&&\s*", line):
                words = shlex.split(part)
                if words and words[0].endswith("tfhm"):
                    found.append(words[1:])
                elif not any(part.startswith(p) or p in part for p in _NOT_RUN):
                    found.append(("UNCHECKED", part))
    return found


@pytest.mark.parametrize("argv", _tfhm_commands(), ids=lambda a: " ".join(a)[:60])
def test_bash_tfhm_commands_parse(argv):
    assert argv[0] != "UNCHECKED", f"README line neither run nor exempt: {argv[1]!r}"
    from tfhm.cli import build_parser

    parser = build_parser()
    try:
        parser.parse_args(list(argv))
    except SystemExit as error:  # argparse's way of refusing
        pytest.fail(f"`tfhm {' '.join(argv)}` does not parse (exit {error.code})")


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
    # another, as if for the same thing. Now one place holds both runs.
    text = " ".join(README.split())
    assert text.count("s of install") == 1
    bullet = text[text.index("**The main job**"):][:400]
    assert "84 s in all" in bullet and "118 s (70 + 40)" in bullet
