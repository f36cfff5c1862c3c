"""The seed exercise's FullyConnected, kept as a contender: it concatenates a column of ones onto X."""
import numpy as np


class SeedFullyConnected:
    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights

    def forward(self, input_tensor: np.ndarray) -> np.ndarray:
        ones = np.ones((input_tensor.shape[0], 1), dtype=input_tensor.dtype)
        self.input_tensor = np.concatenate([input_tensor, ones], axis=1)
        return self.input_tensor @ self.weights

    def backward(self, error_tensor: np.ndarray) -> np.ndarray:
        self.gradient_weights = self.input_tensor.T @ error_tensor
        return (error_tensor @ self.weights.T)[:, :-1]
