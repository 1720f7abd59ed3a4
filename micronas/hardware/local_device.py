"""`LocalTflmDevice`: the `Device` interface on this computer, with the in-process tflite-micro
interpreter (reference kernels, 64-bit build) timed by this thread's CPU clock."""

from __future__ import annotations

import platform
import time

import numpy as np

from micronas import __version__
from micronas.export.flatbuffer import FlatbufferError, read_graph
from micronas.export.tflm import MAX_ARENA_BYTES, TflmRunner
from micronas.hardware.device import Device, DeviceInfo, LoadReport, Measurement
from micronas.hardware.errors import DeviceError
from micronas.hardware.protocol import crc32, run_input_pattern

KEEP = 64  # interpreters kept loaded (a profile batch and the overhead probes fit)
COUNTER_HZ = 1_000_000_000  # nanoseconds of the clock (by default time.thread_time_ns)


class LocalTflmDevice(Device):
    """Runs models in tflite-micro in this process; Invokes are timed whole (no per-operator hook).

    A timed run sets the input tensor once, then times `Invoke()` alone with `clock` (nanoseconds), so
    no Python copy of the input or output is counted as operator time. The default clock is this
    thread's CPU time: on a shared machine the wall clock also counts the slices other processes take
    while an Invoke is preempted, which a long Invoke cannot escape (see docs/latency.md).
    """

    def __init__(self, clock=time.thread_time_ns):
        self._clock = clock
        self._kept: dict[bytes, tuple[TflmRunner, np.ndarray, LoadReport]] = {}
        self._runner: TflmRunner | None = None
        self._report: LoadReport | None = None
        self._input: np.ndarray | None = None

    def info(self) -> DeviceInfo:
        from tflite_micro.python.tflite_micro._version import __version__ as tflm_version

        return DeviceInfo(
            board="host",
            core=platform.machine(),
            core_clock_hz=None,
            counter_hz=COUNTER_HZ,
            tflm_version=f"tflite-micro {tflm_version}",
            kernel_library="reference",
            compiler=f"python {platform.python_version()}",
            firmware_build=f"micronas {__version__} in-process",
            weights_in="ram",
            arena_capacity_bytes=MAX_ARENA_BYTES,
            model_capacity_bytes=MAX_ARENA_BYTES,
            protocol_version=None,
            tick_unit="ns",
        )

    def load(self, tflite: bytes) -> LoadReport:
        """Load `tflite`; one of the last `KEEP` models loaded comes back as its interpreter (the rounds of
        `micronas.timing` switch between models without allocating them again)."""
        model = bytes(tflite)
        if model not in self._kept:
            try:
                n_ops = len(read_graph(model).operators)
                runner = TflmRunner(model)
            except (FlatbufferError, RuntimeError) as error:
                raise DeviceError(f"tflite-micro cannot load this model: {error}.") from None
            shape = runner.input_shape
            pattern = np.frombuffer(run_input_pattern(int(np.prod(shape))), np.int8).reshape(shape)
            report = LoadReport(len(model), crc32(model), runner.arena_bytes, n_ops)
            self._kept[model] = (runner, pattern, report)
            while len(self._kept) > KEEP:
                self._kept.pop(next(iter(self._kept)))
        self._runner, self._input, self._report = self._kept[model]
        return self._report

    @property
    def input_bytes(self) -> int:
        """Bytes of the loaded model's int8 input tensor."""
        return int(np.prod(self._runner.input_shape))

    def infer(self, input_bytes: bytes) -> bytes:
        if self._runner is None:
            raise DeviceError("no model is loaded on the in-process tflite-micro device: call load() first.")
        if len(input_bytes) != self.input_bytes:
            raise DeviceError(f"an input of {len(input_bytes)} bytes does not fit the model's int8 input tensor "
                              f"of {self.input_bytes} bytes.")
        x = np.frombuffer(bytes(input_bytes), np.int8).reshape(self._runner.input_shape)
        return self._runner.invoke(x).tobytes()

    def run(self, warmups: int = 2, repeats: int = 10) -> Measurement:
        if self._runner is None:
            raise DeviceError("no model is loaded on the in-process tflite-micro device: call load() first.")
        if repeats < 1 or warmups < 0:
            raise DeviceError(
                f"warmups={warmups}, repeats={repeats} are not valid: use warmups >= 0, repeats >= 1."
            )
        self._runner.set_input(self._input)
        ticks = []
        for _ in range(warmups + repeats):
            start = self._clock()
            self._runner.invoke_only()
            ticks.append(self._clock() - start)
        return Measurement(
            counter_hz=COUNTER_HZ,
            warmups=warmups,
            invoke_ticks=tuple(ticks[warmups:]),
            op_ticks=tuple(() for _ in range(repeats)),
            cold_ticks=ticks[0],
            arena_used_bytes=self._report.arena_used_bytes,
            model_bytes=self._report.model_bytes,
            model_crc32=self._report.model_crc32,
            tick_unit="ns",
        )
