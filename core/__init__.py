"""numpy neural-network layers written from scratch (the seed exercise's API)."""
from core.cross_entropy_loss import CrossEntropyLoss
from core.datasets import DigitsData, IrisData, SklearnData, one_hot
from core.fully_connected import FullyConnected
from core.layer import Layer
from core.neural_network import NeuralNetwork
from core.relu import ReLU
from core.sgd import Sgd
from core.softmax import SoftMax

__all__ = ["CrossEntropyLoss", "DigitsData", "FullyConnected", "IrisData", "Layer", "NeuralNetwork", "ReLU",
           "Sgd", "SklearnData", "SoftMax", "one_hot"]
