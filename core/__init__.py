"""numpy neural-network layers written from scratch (the seed exercise's API, and the next exercise's)."""
from core.adam import Adam
from core.batch_normalization import BatchNormalization
from core.constant import Constant
from core.conv import Conv
from core.cross_entropy_loss import CrossEntropyLoss
from core.datasets import DigitsData, IrisData, RunningSumSigns, SklearnData, one_hot
from core.dropout import Dropout
from core.embedding import Embedding
from core.flatten import Flatten
from core.fully_connected import FullyConnected
from core.he import He
from core.l1_regularizer import L1_Regularizer, L1Regularizer
from core.l2_regularizer import L2_Regularizer, L2Regularizer
from core.layer import Layer, Phase
from core.lstm import LSTM
from core.neural_network import NeuralNetwork
from core.pooling import Pooling
from core.relu import ReLU
from core.rnn import RNN
from core.sgd import Sgd
from core.sgd_with_momentum import SgdWithMomentum
from core.sigmoid import Sigmoid
from core.softmax import SoftMax
from core.tanh import TanH
from core.uniform_random import UniformRandom
from core.xavier import Xavier

__all__ = ["Adam", "BatchNormalization", "Constant", "Conv", "CrossEntropyLoss", "DigitsData", "Dropout", "Embedding",
           "Flatten", "FullyConnected", "He", "IrisData", "L1Regularizer", "L1_Regularizer", "L2Regularizer",
           "L2_Regularizer", "Layer", "LSTM", "NeuralNetwork", "Phase", "Pooling", "ReLU", "RNN", "RunningSumSigns",
           "Sgd", "SgdWithMomentum", "Sigmoid", "SklearnData", "SoftMax", "TanH", "UniformRandom", "Xavier", "one_hot"]
