"""tfhm: Helmholtz machines in TensorFlow and Keras.

Latent-variable models with binary latents, a deep sigmoid-belief-net
generator p(x, z) and a recognition network q(z | x), trained by wake-sleep
(Hinton et al. 1995) and reweighted wake-sleep (Bornschein & Bengio 2015),
with exact (enumerated) and importance-sampled log-likelihoods.
"""

from tfhm import baselines
from tfhm import datasets
from tfhm import evaluation
from tfhm import export
from tfhm import layers
from tfhm import objectives
from tfhm.model import Generator, HelmholtzMachine, Recognizer
from tfhm.objectives import Algorithm, RecognizerUpdate

__version__ = "0.1.0"

__all__ = [
    "Algorithm",
    "Generator",
    "HelmholtzMachine",
    "Recognizer",
    "RecognizerUpdate",
    "baselines",
    "datasets",
    "evaluation",
    "export",
    "layers",
    "objectives",
]
