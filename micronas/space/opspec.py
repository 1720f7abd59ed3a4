"""`OpSpec`: one int8 operator exactly as TFLM runs it; the LUT key and the unit of the cost models."""

from dataclasses import asdict, dataclass
from math import prod

KINDS = ("conv2d", "add", "mean", "softmax")


@dataclass(frozen=True)
class OpSpec:
    """One int8 operator of a deployed graph.

    Shapes exclude the batch dimension: activations are `(H, W, C)` with H = time and W = sensors;
    `MEAN` outputs `(C,)` and `SOFTMAX` maps `(n,)` to `(n,)`. `ADD` has two inputs of `input_shape`.
    Convolutions carry their kernel `(kh, kw)`, stride `(sh, sw)`, padding and fused activation.
    """

    kind: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    kernel: tuple[int, int] | None = None
    stride: tuple[int, int] | None = None
    padding: str | None = None
    activation: str = "none"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"OpSpec kind {self.kind!r} is not one of {', '.join(KINDS)}")
        # Normalise lists (from JSON) to tuples so equal specs hash equally.
        for name in ("input_shape", "output_shape", "kernel", "stride"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, tuple(int(v) for v in value))
        is_conv = self.kind == "conv2d"
        if is_conv != (self.kernel is not None and self.stride is not None and self.padding is not None):
            raise ValueError(f"{self.kind} must {'' if is_conv else 'not '}have kernel, stride and padding")

    @classmethod
    def conv(cls, in_shape, out_shape, kernel, stride, activation: str = "relu") -> "OpSpec":
        """A 'same'-padded `CONV_2D` (every convolution of the search space is one)."""
        return cls("conv2d", in_shape, out_shape, kernel, stride, "same", activation)

    @property
    def input_elements(self) -> int:
        """Elements read: both operands for `ADD`."""
        return prod(self.input_shape) * (2 if self.kind == "add" else 1)

    @property
    def output_elements(self) -> int:
        return prod(self.output_shape)

    @property
    def macs(self) -> int:
        """Multiply-accumulates of a convolution (0 for the other kinds)."""
        if self.kind != "conv2d":
            return 0
        return self.output_elements * self.kernel[0] * self.kernel[1] * self.input_shape[-1]

    @property
    def weight_count(self) -> int:
        """Int8 weights of a convolution (its int32 biases are `output_shape[-1]`)."""
        if self.kind != "conv2d":
            return 0
        return self.kernel[0] * self.kernel[1] * self.input_shape[-1] * self.output_shape[-1]

    def key(self) -> str:
        """A stable, human-readable string key, e.g. `conv2d|128x9x1|64x9x4|k3x1|s2x1|same|relu`."""

        def dims(shape):
            return "x".join(map(str, shape))

        parts = [self.kind, dims(self.input_shape), dims(self.output_shape)]
        if self.kind == "conv2d":
            parts += [f"k{dims(self.kernel)}", f"s{dims(self.stride)}", self.padding]
        parts.append(self.activation)
        return "|".join(parts)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict) -> "OpSpec":
        return cls(**data)
