"""tfhm: Helmholtz machines in TensorFlow and Keras.

Latent-variable models with binary latents, a deep sigmoid-belief-net
generator p(x, z) and a recognition network q(z | x), trained by wake-sleep
(Hinton et al. 1995) and reweighted wake-sleep (Bornschein & Bengio 2015),
with exact (enumerated) and importance-sampled log-likelihoods.
"""

from tfhm import baselines
from tfhm import datasets
from tfhm import diagnostics
from tfhm import evaluation
from tfhm import export
from tfhm import layers
from tfhm import objectives
from tfhm import plotting
from tfhm import training
from tfhm.model import Generator, HelmholtzMachine, Recognizer
from tfhm.objectives import Algorithm, RecognizerUpdate
from tfhm.training import TrainConfig, Trainer, train

__version__ = "0.1.0"

__all__ = [
    "Algorithm",
    "Generator",
    "HelmholtzMachine",
    "Recognizer",
    "RecognizerUpdate",
    "TrainConfig",
    "Trainer",
    "baselines",
    "datasets",
    "diagnostics",
    "evaluation",
    "export",
    "layers",
    "objectives",
    "plotting",
    "train",
    "training",
]
