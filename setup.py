"""Installs tfhm: `pip install .` (add `[test]` for the test suite)."""

import pathlib

from setuptools import find_packages, setup

HERE = pathlib.Path(__file__).parent

# Where the project will be published. It is NOT published yet: this address is
# the one place that names it (tests/test_tutorials.py reads it to check that
# no notebook or README points at it before it exists); change it here when it is.
PROJECT_URL = "https://github.com/tfhm/tfhm"

setup(
    name="tfhm",
    version="0.1.0",
    description="Helmholtz machines (wake-sleep, reweighted wake-sleep) in TensorFlow/Keras",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    url=PROJECT_URL,
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tfhm", "tfhm.*"]),
    # The shipped models of tfhm.pretrained (checked against manifest.json).
    package_data={"tfhm.pretrained": ["manifest.json", "*.keras"]},
    install_requires=[
        "tensorflow>=2.16",
        "tensorflow-probability[tf]>=0.24",
        "keras>=3.0",
        "numpy",
        "scipy",  # log-sum-exp of the baselines
        "scikit-learn",  # the embedded digits data set
        "matplotlib",  # learning curves
        "pillow",  # sample grids
        "tensorboard",  # tf.summary for --logdir
    ],
    extras_require={
        "test": [
            "pytest",
            "pytest-xdist>=3.2",  # .ci/run: -n 2 --dist worksteal (docs/testing.md)
            "scipy",
            "hypothesis",
            "nbclient",
            "nbformat",
            "ipykernel",
            # Reads the tutorials' percent files (tests/test_tutorials.py);
            # 1.16.0 checked: the same cells, and the same .ipynb from --update.
            "jupytext>=1.16",
            # CI lints tfhm, benchmarks, export and tests with ruff.toml; a new
            # minor release of ruff may add findings, so it moves by hand.
            "ruff>=0.17,<0.18",
            "tensorflow-serving-api",  # as `serve`: the warm-up record tests
        ],
        # PredictionLog/PredictRequest protos and the gRPC client of TF
        # Serving: export/README.md's gRPC example, and the tests that parse
        # the warm-up records (the exporter writes them without it).
        "serve": ["tensorflow-serving-api"],
        "bench": ["torch==2.13.0", "pyro-ppl==1.9.2"],  # benchmarks/vs_pyro.py
    },
    entry_points={"console_scripts": ["tfhm=tfhm.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
