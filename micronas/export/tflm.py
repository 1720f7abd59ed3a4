"""`TflmRunner`: run an int8 `.tflite` in-process with the real tflite-micro interpreter.

The arena size comes from TFLM's recording allocator: `print_allocations()` writes
"Arena allocation total N bytes" to file descriptor 2, which is captured through a temporary file.
A 64-bit host build overstates the arena of a 32-bit MCU (pointer-sized bookkeeping).
"""

import os
import re
import sys
import tempfile

import numpy as np
from tflite_micro.python.tflite_micro import runtime

from micronas.export.flatbuffer import Graph, read_graph
from micronas.export.quantize import dequantize, quantize

DEFAULT_ARENA_BYTES = 1 << 20
MAX_ARENA_BYTES = 1 << 28
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def capture_fd2(action) -> str:
    """Run `action()` and return what it (or native code) wrote to file descriptor 2."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            action()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        sink.seek(0)
        return sink.read().decode(errors="replace")


def safe_arena_floor(graph: Graph) -> int:
    """An arena size no model of this graph can underflow: all activations without reuse plus a
    generous per-tensor and per-op allowance for TFLM's persistent data. (TFLM's allocator can crash,
    rather than fail cleanly, when an arena is far too small, so no arena starts below this.)
    """
    activation_bytes = sum(t.nbytes for t in graph.tensors if not t.constant)
    return activation_bytes + 256 * len(graph.tensors) + 1024 * len(graph.operators) + 16384


class TflmRunner:
    """Load model bytes into a TFLM interpreter; invoke it on int8 windows.

    The arena starts at `max(arena_bytes_limit, safe_arena_floor(graph))` and doubles (up to
    256 MiB) until the model fits; `arena_bytes` is what TFLM actually used.
    """

    def __init__(self, model: bytes, arena_bytes_limit: int = DEFAULT_ARENA_BYTES):
        graph = read_graph(model)
        (self._input,), (self._output,) = (
            [graph.tensors[i] for i in graph.inputs],
            [graph.tensors[i] for i in graph.outputs],
        )
        self.model = bytes(model)
        self._invoked = False
        self._arena_bytes = None
        self._interpreter, self.arena_bytes_limit = self._load(
            max(arena_bytes_limit, safe_arena_floor(graph))
        )

    def _load(self, size: int):
        while True:
            loaded = []

            def load():
                try:
                    loaded.append(runtime.Interpreter.from_bytes(self.model, arena_size=size))
                except RuntimeError:
                    pass

            log = capture_fd2(load)
            if loaded:
                return loaded[0], size
            if size >= MAX_ARENA_BYTES:
                raise RuntimeError(f"TFLM could not allocate the model in {size} bytes: {log.strip()}")
            size *= 2

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input.shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self._output.shape

    @property
    def input_quantization(self) -> tuple[float, int]:
        """`(scale, zero_point)` of the int8 input."""
        return self._input.scale, self._input.zero_point

    @property
    def output_quantization(self) -> tuple[float, int]:
        return self._output.scale, self._output.zero_point

    def invoke(self, x: np.ndarray) -> np.ndarray:
        """One int8 input of `input_shape` (batch 1) -> the int8 output."""
        self.set_input(x)
        self.invoke_only()
        return np.array(self._interpreter.get_output(0), copy=True)

    def set_input(self, x: np.ndarray) -> None:
        """Copy one int8 input of `input_shape` into the input tensor (for `invoke_only`)."""
        x = np.asarray(x)
        if x.dtype != np.int8 or x.shape != self.input_shape:
            raise ValueError(f"TFLM input must be int8 of shape {self.input_shape}, got {x.dtype} {x.shape}")
        self._interpreter.set_input(x, 0)

    def invoke_only(self) -> None:
        """One `Invoke()` on the input tensor as it stands: no copy in or out (what a timer should see)."""
        self._interpreter.invoke()
        self._invoked = True

    def invoke_batch(self, xs: np.ndarray) -> np.ndarray:
        """Int8 inputs `[N, *input_shape[1:]]`, one `Invoke()` each -> int8 outputs `[N, ...]`."""
        return np.concatenate([self.invoke(x[None]) for x in np.asarray(xs)], axis=0)

    def predict(self, xs: np.ndarray) -> np.ndarray:
        """Float windows `[N, *input_shape[1:]]` -> dequantised float outputs, quantising the inputs."""
        q = quantize(xs, *self.input_quantization)
        return dequantize(self.invoke_batch(q), *self.output_quantization)

    @property
    def allocation_report(self) -> str:
        """The recording allocator's report (after at least one `Invoke()`)."""
        if not self._invoked:
            self.invoke(np.zeros(self.input_shape, np.int8))
        return capture_fd2(self._interpreter.print_allocations)

    @property
    def arena_bytes(self) -> int:
        """Tensor-arena bytes TFLM allocated ("Arena allocation total N bytes")."""
        if self._arena_bytes is None:
            report = self.allocation_report
            match = _ARENA_TOTAL.search(report)
            if match is None:
                raise RuntimeError(f"TFLM's allocation report has no arena total: {report!r}")
            self._arena_bytes = int(match.group(1))
        return self._arena_bytes
