"""Shared graph-building code for the catalogue's demo networks (OpenVINO opset, no training framework).

The catalogue networks (CT anatomy, lung segmentation, nodule candidates and false-positive reduction, cardiac
segmentation, mammography detection) are built the same way: a realistic architecture (ResNet, U-Net, 3D CNN,
FPN) whose every layer has two kinds of output channels.

- **Signal channels** (the first few of each layer) carry hand-set weights: simple, readable image operations
  (intensity windows such as "denser than lung", smoothing, centre-surround blob detectors, pass-through), so the
  network's outputs follow image content the way a trained network's would (lung air inside the body, compact
  bright blobs, a bright blood pool with a ring of myocardium). They read only from signal channels.
- **Filler channels** (the rest) carry seeded random weights: they make the compute, memory traffic and INT8
  behaviour those of the real architecture (what the benchmarks and the model server are about), but the heads
  give them zero weight, so they cannot turn outputs into noise.

Every convolution is followed by ``Clamp(0, 1)`` ("ReLU1", ReLU6's unit-range sibling) instead of a plain ReLU:
signal channels are then soft indicators in [0, 1] (``clamp(25 * (x + 0.45))`` is "denser than -450 HU") and
every activation tensor, filler channels included, has the same bounded range, which keeps per-tensor INT8
activation ranges tight. Filler kernels are L1-normalised (each output is a convex-ish mix of bounded inputs), so
they neither explode nor vanish with depth. Batch normalisation is represented as after deployment folding
(convolution + per-channel bias). Everything is deterministic for a given seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import openvino as ov
import openvino.opset13 as ops

# Relative size of the random per-channel bias of filler channels and the L1 norm of their kernels.
FILLER_L1 = 1.0
FILLER_BIAS = 0.05


@dataclass
class T:
    """A tensor under construction: its graph output, channel count and number of leading signal channels."""

    node: ov.Output
    channels: int
    signal: int = 0


def binomial(k: int, dims: int = 2) -> np.ndarray:
    """Normalised binomial (Gaussian-like) smoothing kernel of size ``k`` in ``dims`` dimensions (sums to 1)."""
    row = np.array([1.0])
    for _ in range(k - 1):
        row = np.convolve(row, [1.0, 1.0])
    kernel = row
    for _ in range(dims - 1):
        kernel = np.multiply.outer(kernel, row)
    return kernel / kernel.sum()


def delta(k: int, dims: int = 2) -> np.ndarray:
    """Centre tap: pass-through kernel of size ``k`` (odd) in ``dims`` dimensions."""
    kernel = np.zeros((k,) * dims)
    kernel[(k // 2,) * dims] = 1.0
    return kernel


def box(k: int, dims: int = 2) -> np.ndarray:
    """Uniform (box) average kernel of size ``k``."""
    return np.full((k,) * dims, 1.0 / k ** dims)


def ring_sum(k: int, dims: int = 2) -> np.ndarray:
    """Sum over the ``k``-neighbourhood without its centre (the "surround" of a centre-surround detector)."""
    kernel = np.ones((k,) * dims)
    kernel[(k // 2,) * dims] = 0.0
    return kernel


class Rows:
    """Hand-set weights of a layer's signal channels: ``rows.set(out, in_, kernel)`` adds a kernel, plus a bias."""

    def __init__(self, n_out: int):
        self.n_out = n_out
        self.terms: list[tuple[int, int, np.ndarray]] = []
        self.bias = np.zeros(n_out)

    def add(self, out: int, in_: int, kernel) -> Rows:
        self.terms.append((out, in_, np.asarray(kernel, np.float64)))
        return self

    def set_bias(self, out: int, value: float) -> Rows:
        self.bias[out] = value
        return self


class Net:
    """Builds one network: convolutions with signal and filler channels, pooling, upsampling, heads."""

    def __init__(self, rng: np.random.Generator, dims: int = 2):
        self.rng = rng
        self.dims = dims
        self._count = 0

    def _name(self, kind: str) -> str:
        self._count += 1
        return f"{kind}_{self._count}"

    def _filler(self, out_ch: int, in_ch: int, k: int, transposed: bool = False) -> np.ndarray:
        shape = (out_ch, in_ch) + (k,) * self.dims
        w = self.rng.normal(0.0, 1.0, shape)
        # L1-normalise each output's kernel: outputs stay within the range of their (bounded) inputs.
        axes = tuple(range(1, w.ndim))
        w *= FILLER_L1 / (np.abs(w).sum(axis=axes, keepdims=True) + 1e-12)
        return w

    def conv(self, x: T, out_ch: int, k: int, rows: Rows | None = None, *, stride: int = 1, act: bool = True,
             pad: int | None = None, filler_reads_signal: bool = True) -> T:
        """Convolution (``k``^dims kernel, same padding unless ``pad``) + folded-BN bias + Clamp(0, 1).

        ``rows``: the hand-set weights of the first ``rows.n_out`` output channels (reading only from the input's
        signal channels); the other outputs get seeded random L1-normalised kernels over every input channel.
        """
        n_sig = rows.n_out if rows is not None else 0
        if n_sig > out_ch:
            raise ValueError(f"{n_sig} signal channels do not fit in {out_ch}")
        w = np.zeros((out_ch, x.channels) + (k,) * self.dims)
        b = np.zeros(out_ch)
        if rows is not None:
            for out, in_, kernel in rows.terms:
                if in_ >= x.signal:
                    raise ValueError(f"signal row reads channel {in_}, input has {x.signal} signal channels")
                kernel = np.broadcast_to(kernel, (k,) * self.dims) if kernel.ndim == 0 else kernel
                if kernel.shape != (k,) * self.dims:
                    raise ValueError(f"kernel shape {kernel.shape} != {(k,) * self.dims}")
                w[out, in_] += kernel
            b[:n_sig] = rows.bias
        if out_ch > n_sig:
            w[n_sig:] = self._filler(out_ch - n_sig, x.channels, k)
            if not filler_reads_signal:
                w[n_sig:, :x.signal] = 0.0
            b[n_sig:] = self.rng.normal(0.0, FILLER_BIAS, out_ch - n_sig)
        p = k // 2 if pad is None else pad
        y = ops.convolution(x.node, ops.constant(w.astype(np.float32)), [stride] * self.dims, [p] * self.dims,
                            [p] * self.dims, [1] * self.dims)
        y = ops.add(y, ops.constant(b.astype(np.float32).reshape((1, out_ch) + (1,) * self.dims)))
        if act:
            y = ops.clamp(y, 0.0, 1.0)
        return T(y.output(0), out_ch, n_sig)

    def up(self, x: T, out_ch: int, rows: Rows | None = None, *, act: bool = True) -> T:
        """2x up-convolution (transposed convolution, kernel 4, stride 2, padding 1, as in U-Net decoders).

        Signal rows take a 2-D/3-D kernel of size 4 (``bilinear_up()``: smooth bilinear upsampling).
        """
        k = 4
        n_sig = rows.n_out if rows is not None else 0
        w = np.zeros((x.channels, out_ch) + (k,) * self.dims)  # ConvolutionBackpropData: [C_in, C_out, k...]
        b = np.zeros(out_ch)
        if rows is not None:
            for out, in_, kernel in rows.terms:
                if in_ >= x.signal:
                    raise ValueError(f"signal row reads channel {in_}, input has {x.signal} signal channels")
                w[in_, out] += kernel
            b[:n_sig] = rows.bias
        if out_ch > n_sig:
            filler = self._filler(out_ch - n_sig, x.channels, k)  # [out, in, k...]
            w[:, n_sig:] = np.swapaxes(filler, 0, 1) * 4.0  # each output pixel sees a quarter of the taps
            b[n_sig:] = self.rng.normal(0.0, FILLER_BIAS, out_ch - n_sig)
        y = ops.convolution_backprop_data(x.node, ops.constant(w.astype(np.float32)), [2] * self.dims,
                                          pads_begin=[1] * self.dims, pads_end=[1] * self.dims,
                                          dilations=[1] * self.dims)
        y = ops.add(y, ops.constant(b.astype(np.float32).reshape((1, out_ch) + (1,) * self.dims)))
        if act:
            y = ops.clamp(y, 0.0, 1.0)
        return T(y.output(0), out_ch, n_sig)

    def max_pool(self, x: T, k: int = 2, stride: int = 2, pad: int = 0) -> T:
        """Max pooling (every channel; on an indicator it is a dilation)."""
        y = ops.max_pool(x.node, [stride] * self.dims, [1] * self.dims, [pad] * self.dims, [pad] * self.dims,
                         [k] * self.dims)
        return T(y.output(0), x.channels, x.signal)

    def upsample_nearest(self, x: T, factor: int) -> T:
        """Nearest-neighbour upsampling by an integer factor (FPN top-down path)."""
        axes = list(range(2, 2 + self.dims))
        y = ops.interpolate(x.node, ops.constant(np.array([float(factor)] * self.dims, np.float32)), "nearest",
                            "scales", axes=ops.constant(np.array(axes, np.int64)), nearest_mode="floor",
                            coordinate_transformation_mode="asymmetric")
        return T(y.output(0), x.channels, x.signal)

    @staticmethod
    def add(a: T, b: T, act: bool = True) -> T:
        """Element-wise sum (residual or FPN merge), then Clamp(0, 1). Signal channels must be aligned."""
        y = ops.add(a.node, b.node)
        if act:
            y = ops.clamp(y, 0.0, 1.0)
        return T(y.output(0), a.channels, max(a.signal, b.signal))

    @staticmethod
    def concat(parts: Sequence[T]) -> tuple[T, list[int]]:
        """Channel concatenation; returns the tensor and each part's channel offset (to address its signals).

        The result's ``signal`` is the whole width up to the last part's signals, so hand-set rows may read any
        part's signal channels by offset (they must only read the parts' own signal channels).
        """
        offsets, total = [], 0
        for p in parts:
            offsets.append(total)
            total += p.channels
        y = ops.concat([p.node for p in parts], axis=1)
        return T(y.output(0), total, total), offsets


def bilinear_up(dims: int = 2) -> np.ndarray:
    """Kernel (size 4) that makes a stride-2 transposed convolution a bilinear (trilinear) 2x upsampling."""
    row = np.array([0.25, 0.75, 0.75, 0.25])
    kernel = row
    for _ in range(dims - 1):
        kernel = np.multiply.outer(kernel, row)
    return kernel


def head_conv(x: ov.Output, weights: np.ndarray, bias: np.ndarray, dims: int = 2) -> ov.Output:
    """A 1x1 output convolution (no activation) with explicit ``weights`` [out, in] and ``bias`` [out]."""
    w = weights.reshape(weights.shape + (1,) * dims).astype(np.float32)
    y = ops.convolution(x, ops.constant(w), [1] * dims, [0] * dims, [0] * dims, [1] * dims)
    return ops.add(y, ops.constant(bias.astype(np.float32).reshape((1, -1) + (1,) * dims))).output(0)


def finish(model: ov.Model, input_names: Sequence[str], output_names: Sequence[str],
           shapes: dict[str, Sequence[int]] | None = None) -> ov.Model:
    """Name the model's tensors (OVMS serves tensors by name) and set the served shapes (-1 = dynamic)."""
    if shapes:
        model.reshape({name: ov.PartialShape([ov.Dimension(d) if d >= 0 else ov.Dimension.dynamic() for d in s])
                       for name, s in shapes.items()})
    for port, name in zip(model.inputs, input_names):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, output_names):
        port.get_tensor().set_names({name})
        port.get_node().set_friendly_name(name)
    return model


def scale_ct(hu: np.ndarray) -> np.ndarray:
    """The catalogue's CT intensity scaling: Hounsfield units clipped to [-1000, 1000], mapped to [-1, 1]."""
    return (np.clip(np.asarray(hu, np.float32), -1000.0, 1000.0) / 1000.0).astype(np.float32)


def scale_percentile(image: np.ndarray) -> np.ndarray:
    """The catalogue's MR / mammography scaling: per image, 1st..99th percentile to [0, 1] (clipped)."""
    image = np.asarray(image, np.float32)
    lo, hi = np.percentile(image, [1.0, 99.0])
    return np.clip((image - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0).astype(np.float32)


def basic_block(net: Net, x: T, out_ch: int, stride: int, n_signal: int) -> T:
    """ResNet basic block carrying ``n_signal`` signal channels unchanged (identity shortcut; the branch's rows
    are zero), or, in a down-sampling block, through the residual branch as a 3x3 binomial average (the
    projection shortcut's signal rows are zero), so the signals are averaged, not aliased, at every stride."""
    if stride == 1 and x.channels == out_ch:
        h = net.conv(x, out_ch, 3, Rows(n_signal))
        h = net.conv(h, out_ch, 3, Rows(n_signal), act=False)
        return net.add(h, x)
    rows_a, rows_b = Rows(n_signal), Rows(n_signal)
    for i in range(n_signal):
        rows_a.add(i, i, binomial(3))
        rows_b.add(i, i, delta(3))
    h = net.conv(x, out_ch, 3, rows_a, stride=stride)
    h = net.conv(h, out_ch, 3, rows_b, act=False)
    shortcut = net.conv(x, out_ch, 1, Rows(n_signal), stride=stride, act=False)
    return net.add(h, shortcut)
