"""Carry a layer's parameters over to a reference: which reference tensor is made of which layer elements.

A carry-over is one integer array per reference tensor, in that tensor's shape, holding for each element the
position of the layer element it is a copy of, the layer's parameters laid end to end (``-1``: not from the
layer, a constant). Values go forward through it (``layer_flat[index]``) and gradients come back through it
(added, so a layer element copied twice gets both gradients, as the chain rule says).

Found in one of two ways:

- ``mapping=``: a callable ``mapping(params) -> dict`` from the layer's parameters (by label) to the
  reference's (by name), written with indexing, slicing, transposes, reshapes, concatenation and constants
  (``np.zeros_like``: a tensor, or part of one, that the layer does not have is zero). It is called twice:
  on the values, and on arrays of element positions, which gives the index arrays; a mapping that computes
  (adds, scales) or sets another constant is refused, since gradients could not come back through it.
- automatically: each reference tensor takes a piece of one layer tensor of its shape: the tensor as it is,
  a 2-D one transposed, an N-D one with its axes permuted (only where it does not fit as it is), or a bias
  row or column split off a 2-D one (core's ``FullyConnected`` keeps the bias as the last row of
  ``weights``). Every layer element must go to exactly one reference element. The **pairing** (which layer
  tensor feeds which reference tensor) is the one whose names agree best (the same path, or names that mean
  the same: ``weights``/``weight``/``W``/``kernel``/``gamma``, ``bias``/``b``/``beta``), then the fewest
  transposes and splits; the **layout** (which slices, as they are or transposed, for that pairing) is then
  chosen by behaviour: the first, simplest first, under which the reference's output agrees with the
  layer's at a second, random point. A pairing that names cannot
  decide is an error that names both sides' tensors and shapes.
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Carried", "CarryError", "by_mapping", "candidates"]

_MOST = 4096        # carry-overs enumerated at most (each is a choice of piece per reference tensor)
_SAME = [{"w", "weight", "kernel", "filter", "gamma", "scale"}, {"b", "bias", "beta", "shift", "offset"}]


class CarryError(ValueError):
    """No carry-over of the layer's parameters to the reference could be found."""


@dataclass
class Carried:
    """How the reference's tensors are made of the layer's parameters (see the module docstring)."""

    shapes: dict[str, tuple[int, ...]]                 # the layer's parameters, in order, by label
    index: dict[str, np.ndarray]                       # reference tensor name -> positions (-1: zero)
    text: dict[str, str] = field(default_factory=dict)  # reference tensor name -> "weights[:-1].T"

    def values(self, layer: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The reference's tensors from the layer's parameter values."""
        flat = np.concatenate([np.asarray(layer[k], dtype=np.float64).ravel() for k in self.shapes] or [np.zeros(0)])
        out = {}
        for name, idx in self.index.items():
            v = flat[np.maximum(idx, 0)] if flat.size else np.zeros(idx.shape)
            out[name] = np.where(idx >= 0, v, 0.0)
        return out

    def gradients_back(self, reference: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The reference's gradients as gradients of the layer's parameters (summed where an element was
        copied to several places)."""
        total = sum(int(np.prod(s)) for s in self.shapes.values())
        flat = np.zeros(total)
        for name, idx in self.index.items():
            g = np.asarray(reference[name], dtype=np.float64)
            mine = idx >= 0
            np.add.at(flat, idx[mine], g[mine])
        out, start = {}, 0
        for label, shape in self.shapes.items():
            size = int(np.prod(shape))
            out[label] = flat[start:start + size].reshape(shape)
            start += size
        return out

    def describe(self) -> str:
        texts = [self.text.get(name, "mapping=") for name in self.index]
        if texts and all(t == texts[0] for t in texts) and not texts[0].startswith(tuple(self.shapes)):
            return texts[0]         # one text for all: a convention or mapping=
        return ", ".join(f"{name} <- {text}" for name, text in zip(self.index, texts)) or "nothing"


def _table(tensors: Mapping[str, tuple[int, ...]]) -> str:
    return ", ".join(f"{k} {tuple(s)}" for k, s in tensors.items()) or "none"


def _offsets(shapes: Mapping[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    out, start = {}, 0
    for label, shape in shapes.items():
        size = int(np.prod(shape))
        out[label] = np.arange(start, start + size).reshape(shape)
        start += size
    return out


def by_mapping(mapping: Callable[[dict], Mapping], layer: Mapping[str, np.ndarray],
               reference: Mapping[str, tuple[int, ...]]) -> Carried:
    """The carry-over a user's ``mapping`` makes (see the module docstring)."""
    shapes = {k: tuple(np.shape(v)) for k, v in layer.items()}
    values = mapping({k: np.array(v, dtype=np.float64) for k, v in layer.items()})
    positions = mapping({k: v + 1 for k, v in _offsets(shapes).items()})     # 0: not from the layer
    if not isinstance(values, Mapping) or not isinstance(positions, Mapping):
        raise CarryError(f"mapping= must return a dict of the reference's tensors by name, got {type(values).__name__}")
    missing, extra = set(reference) - set(values), set(values) - set(reference)
    if missing or extra:
        raise CarryError(f"mapping= must give every tensor of the reference and no other: "
                         f"{'missing ' + ', '.join(sorted(missing)) if missing else ''}"
                         f"{'; ' if missing and extra else ''}{'unknown ' + ', '.join(sorted(extra)) if extra else ''}"
                         f" (the reference has {_table(reference)})")
    flat = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in layer.values()] or [np.zeros(0)])
    index = {}
    for name, shape in reference.items():
        v, p = np.asarray(values[name], dtype=np.float64), np.asarray(positions[name])
        if v.shape != tuple(shape) or p.shape != tuple(shape):
            raise CarryError(f"mapping= gave {name} the shape {v.shape}; the reference's {name} has {tuple(shape)}")
        whole = p.dtype.kind in "iu" or (p.dtype.kind == "f" and np.array_equal(p, np.round(p)))
        p = p.astype(np.intp) if whole else p       # np.zeros(n) for a constant is whole too
        if not whole or not np.all((0 <= p) & (p <= flat.size)) or not np.array_equal(v[p > 0], flat[p[p > 0] - 1]):
            raise CarryError(f"mapping= computes {name} from the layer's values; it may only select, reorder, "
                             "reshape, concatenate and add constants (np.zeros_like ...), so that gradients can "
                             "come back through it")
        if np.any(v[p == 0] != 0):
            raise CarryError(f"mapping= sets part of {name} to a constant other than zero; only zeros "
                             "(np.zeros_like) can stand for what the layer does not have")
        index[name] = p.astype(np.intp) - 1
    return Carried(shapes, index, {name: "mapping=" for name in reference})


@dataclass(frozen=True)
class _Piece:
    source: str                 # the layer tensor's label
    part: str                   # "" (whole), "[:-1]", "[-1]", "[:, :-1]", "[:, -1]"
    layout: tuple[int, ...] | None      # an axis permutation, or None (as it is)
    index: np.ndarray = field(compare=False)

    @property
    def cost(self) -> int:
        return (self.part != "") + (self.layout is not None)

    @property
    def text(self) -> str:
        if self.layout is None:
            return f"{self.source}{self.part}"
        t = ".T" if len(self.layout) == 2 else f".transpose{self.layout}"
        return f"{self.source}{self.part}{t}"


def _pieces(label: str, positions: np.ndarray, target: tuple[int, ...]) -> list[_Piece]:
    """The pieces of one layer tensor that have the shape ``target``."""
    parts = [("", positions)]
    if positions.ndim == 2 and min(positions.shape) >= 1:
        parts += [("[:-1]", positions[:-1]), ("[-1]", positions[-1]), ("[:, :-1]", positions[:, :-1]),
                  ("[:, -1]", positions[:, -1])]
    out = []
    for part, block in parts:
        if block.size == 0:
            continue
        if block.shape == target:
            out.append(_Piece(label, part, None, block))
        if block.ndim == 2 and block.T.shape == target:
            out.append(_Piece(label, part, (1, 0), block.T))
        elif block.ndim >= 3 and block.shape != target:     # N-D: permuted only where it does not fit as is
            out += [_Piece(label, part, p, block.transpose(p)) for p in itertools.permutations(range(block.ndim))
                    if p != tuple(range(block.ndim)) and block.transpose(p).shape == target]
    return out


def _words(name: str) -> set[str]:
    last = re.split(r"[.]", name)[-1].lstrip("_").lower()
    words = {last, last.rstrip("s")}
    return words | {next(iter(group)) for group in _SAME if words & group}


def _agreement(reference_name: str, piece: _Piece) -> int:
    """2: the same path; 1: names that mean the same; 0: neither."""
    if reference_name == piece.source:
        return 2
    return int(bool(_words(reference_name) & _words(piece.source)))


def _recurrent(layer: Mapping[str, tuple[int, ...]], reference: Mapping[str, tuple[int, ...]]) -> Carried | None:
    """The course's RNN and LSTM (``weights`` of ``[x, h, 1]`` to the gates, forget, input, candidate, output;
    ``output_layer.weights`` of ``[h, 1]``) as a torch module holding an ``nn.RNN``/``nn.LSTM`` (``P.weight_ih_l0``,
    ``P.weight_hh_l0``, ``P.bias_ih_l0``, ``P.bias_hh_l0``, gates input, forget, candidate, output) and one
    Linear after it (``Q.weight``, ``Q.bias``); torch's second bias is a zero constant. None where the shapes
    are not those."""
    if set(layer) != {"weights", "output_layer.weights"} or len(reference) != 6:
        return None
    prefix = next((n[:-len("weight_ih_l0")] for n in reference if n.endswith("weight_ih_l0")), None)
    rest = [n for n in reference if prefix is None or not n.startswith(prefix)]
    linear = next((n[:-len("weight")] for n in rest if n.endswith("weight")), None)
    if prefix is None or linear is None or set(rest) != {linear + "weight", linear + "bias"}:
        return None
    (rows, width), (hidden_1, out) = layer["weights"], layer["output_layer.weights"]
    n = hidden_1 - 1
    gates, n_in = width // max(n, 1), rows - 1 - n
    expected = {f"{prefix}weight_ih_l0": (gates * n, n_in), f"{prefix}weight_hh_l0": (gates * n, n),
                f"{prefix}bias_ih_l0": (gates * n,), f"{prefix}bias_hh_l0": (gates * n,),
                f"{linear}weight": (out, n), f"{linear}bias": (out,)}
    if gates not in (1, 4) or n_in < 1 or {k: tuple(v) for k, v in reference.items()} != expected:
        return None
    order = np.r_[n:2 * n, 0:n, 2 * n:4 * n] if gates == 4 else np.arange(n)

    def mapping(p):
        w, v = p["weights"][:, order], p["output_layer.weights"]
        return {f"{prefix}weight_ih_l0": w[:n_in].T, f"{prefix}weight_hh_l0": w[n_in:-1].T,
                f"{prefix}bias_ih_l0": w[-1], f"{prefix}bias_hh_l0": np.zeros_like(w[-1]),
                f"{linear}weight": v[:-1].T, f"{linear}bias": v[-1]}

    carried = by_mapping(mapping, {k: np.zeros(v) for k, v in layer.items()}, reference)
    what = "the course's LSTM gates (f, i, g, o) as torch's (i, f, g, o)" if gates == 4 else "the course's RNN"
    carried.text = {name: f"{what}; {prefix}bias_hh_l0 zero" for name in reference}
    return carried


def candidates(layer: Mapping[str, tuple[int, ...]], reference: Mapping[str, tuple[int, ...]]) -> list[Carried]:
    """The carry-overs of the best pairing, simplest layout first (see the module docstring); CarryError when
    there is none, or more than one pairing names cannot choose between."""
    recurrent = _recurrent(layer, reference)
    if recurrent is not None:
        return [recurrent]
    positions = _offsets(layer)
    total = sum(p.size for p in positions.values())
    names = list(reference)
    options = [[piece for label, pos in positions.items() for piece in _pieces(label, pos, tuple(reference[n]))]
               for n in names]
    why = f"the layer has {_table(layer)}; the reference has {_table(reference)}"
    for name, found in zip(names, options):
        if not found:
            raise CarryError(f"no parameter of the layer fits the reference's {name} {tuple(reference[name])} (as it "
                             f"is, transposed, or with a bias row split off): {why}; give mapping=")
    covers: list[tuple[_Piece, ...]] = []
    taken = np.zeros(total, dtype=bool)

    def extend(chosen: tuple[_Piece, ...]) -> None:
        """Depth first over the reference's tensors; a piece overlapping one already taken is never tried."""
        if len(covers) >= _MOST:
            return
        if len(chosen) == len(names):
            if taken.all():
                covers.append(chosen)
            return
        for piece in options[len(chosen)]:
            flat = piece.index.ravel()
            if not taken[flat].any():
                taken[flat] = True
                extend(chosen + (piece,))
                taken[flat] = False

    extend(())
    if not covers:
        raise CarryError(f"the layer's parameters cannot be carried over to the reference element for element: "
                         f"{why}; give mapping=")

    def pairing(choice: tuple[_Piece, ...]) -> tuple:
        return tuple(p.source for p in choice)

    def key(choice: tuple[_Piece, ...]) -> tuple[int, int]:
        return -sum(_agreement(n, p) for n, p in zip(names, choice)), sum(p.cost for p in choice)

    best = min(key(c) for c in covers)
    pairings = {pairing(c) for c in covers if key(c) == best}
    if len(pairings) > 1:
        shown = "; ".join(", ".join(f"{n} <- {source}" for n, source in zip(names, p)) for p in sorted(pairings))
        raise CarryError(f"the carry-over of the layer's parameters to the reference is ambiguous ({shown}): {why}; "
                         "give mapping=")
    chosen = pairings.pop()
    same = sorted((c for c in covers if pairing(c) == chosen), key=lambda c: sum(p.cost for p in c))
    return [Carried(dict(layer), {n: p.index.astype(np.intp) for n, p in zip(names, c)},
                    {n: p.text for n, p in zip(names, c)}) for c in same]
