"""Runs the full reliability suite and rewrites the figures of RELIABILITY.md.

    python tests/reliability/make_report.py

sets TFHM_RELIABILITY_FULL=1 (the full counts), runs
`pytest -m reliability tests/reliability`, and replaces the block between
the FIGURES markers of RELIABILITY.md with the counts the tests recorded.
Exits with pytest's status; the figures are written only when it passed.
"""

import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
REPORT = ROOT / "RELIABILITY.md"
BEGIN, END = "<!-- FIGURES BEGIN -->", "<!-- FIGURES END -->"


def figures(data, seconds):
    s = data["sections"]
    i, c, n, f, v = (s.get(k, {}) for k in
                     ("interruption", "corruption", "numerics", "fuzz", "serving"))
    rows = [
        ("Training runs SIGKILLed at random moments, resumed bitwise-identical",
         f"{i.get('training_kills_survived', 0)} / {i.get('training_kills_tried', 0)}"
         f" ({i.get('killed_mid_run', 0)} killed mid-run, "
         f"{i.get('resumed_from_checkpoint', 0)} resumed from a checkpoint)"),
        ("Exports SIGKILLed, no half-written version visible",
         f"{i.get('export_kills_survived', 0)} / {i.get('export_kills_tried', 0)}"),
        ("Corrupt checkpoint files refused, error naming the checkpoint",
         f"{c.get('checkpoint_files_detected', 0)} / {c.get('checkpoint_files_tried', 0)}"),
        ("Resumes whose newest checkpoint was corrupt, fallen back and bitwise-identical",
         f"{c.get('resume_fallbacks_survived', 0)} / {c.get('resume_fallbacks_tried', 0)}"),
        ("Corrupt SavedModel files refused by tf.saved_model.load",
         f"{c.get('saved_model_files_detected', 0)} / {c.get('saved_model_files_tried', 0)}"
         f" (message names the file in {c.get('saved_model_errors_naming_file', 0)})"),
        ("Numerical-extreme cases, all values finite",
         f"{n.get('cases', 0)} cases, {n.get('values_checked', 0)} losses/gradients/"
         f"likelihoods checked, K up to {n.get('max_k', 0)}; NaN injected and stopped "
         f"before a checkpoint: {n.get('nan_guard_cases', 0)}"),
        ("Fuzzed inputs tried (hypothesis)",
         f"{f.get('api_inputs', 0)} Python API + {f.get('cli_inputs', 0)} command line"),
        ("Abusive requests to the SavedModels survived",
         f"{v.get('survived', 0)} / {v.get('abusive_requests', 0)} "
         f"(of which {v.get('concurrent_requests', 0)} requests, good and bad mixed, "
         f"came from 16 threads at once)"),
        ("Peak RSS of a serving process under abuse",
         f"{v.get('peak_rss_mb', 0)} MB (warm {v.get('warm_rss_mb', 0)} MB, growth "
         f"{v.get('peak_rss_growth_mb', 0)} MB; bound 300 MB)"),
    ]
    lines = [BEGIN, "",
             f"Last full run: {time.strftime('%Y-%m-%d')}, {seconds / 60:.1f} minutes, "
             f"Python {platform.python_version()}, {platform.machine()}, "
             f"{os.cpu_count()} CPU cores; pytest exit status {data['exitstatus']}.", "",
             "| what | figure |", "|---|---|"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines + ["", END])


def main():
    with tempfile.TemporaryDirectory() as folder:
        counts = os.path.join(folder, "counts.json")
        env = dict(os.environ, TFHM_RELIABILITY_FULL="1", TFHM_RELIABILITY_JSON=counts)
        started = time.monotonic()
        status = subprocess.call([sys.executable, "-m", "pytest", "-q", "-m", "reliability",
                                  "-p", "no:cacheprovider", "tests/reliability"],
                                 cwd=ROOT, env=env)
        seconds = time.monotonic() - started
        if status != 0 or not os.path.exists(counts):
            print(f"make_report: the suite failed (status {status}); "
                  "RELIABILITY.md left as it was", file=sys.stderr)
            return status or 1
        with open(counts, encoding="utf-8") as handle:
            data = json.load(handle)
    text = REPORT.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    REPORT.write_text(head + figures(data, seconds) + tail, encoding="utf-8")
    print(figures(data, seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
