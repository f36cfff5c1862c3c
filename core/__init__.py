"""numpy neural-network layers written from scratch (the seed exercise's API, and the next exercise's)."""
from core.adam import Adam
from core.constant import Constant
from core.conv import Conv
from core.cross_entropy_loss import CrossEntropyLoss
from core.datasets import DigitsData, IrisData, SklearnData, one_hot
from core.flatten import Flatten
from core.fully_connected import FullyConnected
from core.he import He
from core.layer import Layer
from core.neural_network import NeuralNetwork
from core.pooling import Pooling
from core.relu import ReLU
from core.sgd import Sgd
from core.sgd_with_momentum import SgdWithMomentum
from core.sigmoid import Sigmoid
from core.softmax import SoftMax
from core.tanh import TanH
from core.uniform_random import UniformRandom
from core.xavier import Xavier

__all__ = ["Adam", "Constant", "Conv", "CrossEntropyLoss", "DigitsData", "Flatten", "FullyConnected", "He",
           "IrisData", "Layer", "NeuralNetwork", "Pooling", "ReLU", "Sgd", "SgdWithMomentum", "Sigmoid",
           "SklearnData", "SoftMax", "TanH", "UniformRandom", "Xavier", "one_hot"]
