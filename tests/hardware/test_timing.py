"""The host's timing protocol: table entries, the per-invoke overhead and the measured Invoke of a deployed
model are one protocol, checked with an injected clock (behaviour, never a real timing)."""

import numpy as np
import pytest

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable, LutIdentityError, table_timing, timing_for
from micronas.cost.model import CostModel
from micronas.errors import ConfigError
from micronas.hardware.device import Device, DeviceInfo, LoadReport, Measurement
from micronas.hardware.local_device import LocalTflmDevice
from micronas.hardware.measure import measure
from micronas.profiling.profile import profile_ops
from micronas.space import Architecture, DiscreteNet, SearchSpace
from micronas.timing import TimingProtocol, time_models
from micronas.train.costs import HOST_TOLERANCE_PCT, MeasuredCosts, describe_host_latency, host_latency_check

BASE_NS, PER_OP_NS, SPIKE_NS = 4_000, 50_000, 900_000


class OpCountClock:
    """A clock under which an Invoke of the device's loaded model takes `BASE + PER_OP * ops` ns, and two
    of every three Invokes are also preempted for `SPIKE` ns (another process taking the core)."""

    def __init__(self):
        self.device, self.now, self.calls = None, 0, 0

    def __call__(self) -> int:
        self.calls += 1
        if self.calls % 2 == 0:  # the end of an Invoke
            invoke = self.calls // 2
            spike = SPIKE_NS if invoke % 3 else 0
            self.now += BASE_NS + PER_OP_NS * self.device._report.n_ops + spike
        return self.now


def test_the_prediction_and_the_measured_invoke_share_one_statistic_and_one_overhead(tmp_path):
    overrides = ["mcu=host", "dataset=japanesevowels", f"mcu.cost.lut_path={tmp_path / 'h.jsonl'}"]
    mcu = load_config("search", overrides).mcu
    space = SearchSpace(25, 12, 9)
    arch = Architecture.random(space, np.random.default_rng(3))
    clock = OpCountClock()
    device = clock.device = LocalTflmDevice(clock=clock)
    protocol = TimingProtocol(rounds=3, warmups=1, burst=3, span_s=0.0)
    table = LookupTable(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu), protocol)
    assert profile_ops(arch.ops(), device, table) == len(set(op.key() for op in arch.ops()))
    assert table_timing(mcu.cost.lut_path) == timing_for(mcu) == protocol  # the measured side reads it

    from micronas.export.convert import to_int8_tflite
    from micronas.export.keras_model import to_keras

    windows = np.random.default_rng(0).normal(size=(4, 25, 12, 1)).astype(np.float32)
    model = to_int8_tflite(to_keras(DiscreteNet(arch).eval()), windows)
    measured = MeasuredCosts.from_record(measure(device, model, timing=timing_for(mcu)), "median")
    predicted = CostModel.from_mcu(mcu).predict(arch).latency_ms
    truth_ms = (BASE_NS + PER_OP_NS * len(arch.ops())) / 1e6  # no preemption: what the network costs
    assert measured.latency_ms == pytest.approx(truth_ms)
    assert predicted == pytest.approx(truth_ms)
    assert CostModel.from_mcu(mcu).invoke_overhead_ms == pytest.approx(BASE_NS / 1e6)


class ScriptedDevice(Device):
    """Models are names; `run` returns the next scripted burst of the loaded model (in ms)."""

    def __init__(self, bursts: dict[bytes, list[list[float]]]):
        self.bursts, self.loaded, self.order = bursts, None, []

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            "host", "x86_64", None, 1_000_000, "t", "reference", "c", "f", "ram", 1, 1, None, "ns"
        )

    def load(self, tflite: bytes) -> LoadReport:
        self.loaded = tflite
        self.order.append(tflite)
        return LoadReport(len(tflite), 0, 100, 1)

    def run(self, warmups: int = 2, repeats: int = 10) -> Measurement:
        runs = self.bursts[self.loaded].pop(0)
        assert len(runs) == warmups + repeats
        ticks = tuple(int(round(1000 * ms)) for ms in runs)
        return Measurement(1_000_000, warmups, ticks[warmups:], tuple(() for _ in range(repeats)), ticks[0],
                           100, len(self.loaded), 0, "ns")

    def infer(self, input_bytes: bytes) -> bytes:
        return b""


def test_rounds_are_interleaved_spread_in_time_and_each_keeps_the_fastest_of_its_burst():
    # Warm-up first (untimed, slow), then a burst of 2; a round keeps its fastest timed run.
    device = ScriptedDevice({
        b"a": [[9.0, 2.0, 3.0], [9.0, 5.0, 4.0], [9.0, 1.5, 8.0]],
        b"b": [[9.0, 7.0, 6.0], [9.0, 6.5, 6.6], [9.0, 30.0, 6.2]],
    })
    pauses = []
    protocol = TimingProtocol(rounds=3, warmups=1, burst=2, span_s=3.0, retime_pct=1000.0)  # no re-timing
    a, b = time_models(device, [b"a", b"b"], protocol, sleep=pauses.append)
    assert device.order == [b"a", b"b"] * 3
    assert pauses == [pytest.approx(1.0, abs=0.2), pytest.approx(2.0, abs=0.2)]  # rounds spread over 3 s
    assert a.rounds_ms == pytest.approx((2.0, 4.0, 1.5)) and a.latency_ms == pytest.approx(2.0)
    assert b.rounds_ms == pytest.approx((6.0, 6.5, 6.2)) and b.latency_ms == pytest.approx(6.2)
    assert a.cold_ms == pytest.approx(9.0)


def test_a_model_whose_rounds_disagree_is_timed_again_and_the_steadier_timing_kept():
    # "a" runs in a slow spell for two of its three rounds (IQR 50 % of its median); "b" is steady.
    device = ScriptedDevice({
        b"a": [[1.0], [2.0], [2.0], [1.0], [1.02], [1.01]],
        b"b": [[3.0], [3.01], [3.02]],
    })
    a, b = time_models(device, [b"a", b"b"], TimingProtocol(rounds=3, warmups=0, burst=1, span_s=0.0))
    assert device.order == [b"a", b"b"] * 3 + [b"a"] * 3  # only the unsteady model, once
    assert a.rounds_ms == pytest.approx((1.0, 1.02, 1.01)) and a.latency_ms == pytest.approx(1.01)
    assert b.latency_ms == pytest.approx(3.01)


def test_a_bad_protocol_and_a_table_of_another_protocol_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match=r"^timing rounds=0 is not valid; use an integer >= 1\.$"):
        TimingProtocol(rounds=0)
    with pytest.raises(ConfigError, match=r"^timing span_s=-1 is not valid; use seconds from 0 to 600\.$"):
        TimingProtocol(span_s=-1)
    mcu = load_config("search", ["mcu=host", f"mcu.cost.lut_path={tmp_path / 'h.jsonl'}"]).mcu
    identity = DeviceIdentity.from_mcu(mcu)
    LookupTable(mcu.cost.lut_path, identity, TimingProtocol(rounds=3))
    assert LookupTable(mcu.cost.lut_path, identity, TimingProtocol(rounds=3)).timing.rounds == 3
    with pytest.raises(LutIdentityError, match="entries of two protocols do not add up"):
        LookupTable(mcu.cost.lut_path, identity, TimingProtocol(rounds=9))


def test_the_host_verdict_states_its_tolerance_and_that_the_host_is_no_target():
    measured = MeasuredCosts(10.0, 10.0, 9.5, "median", 1000, 2000, latency_spread_ms=0.2)
    tolerance = HOST_TOLERANCE_PCT + 2.0 + 1.0  # measured spread 0.2 / 10 ms, table spread 0.1 / 10 ms
    inside = host_latency_check(10.0 * (1 + (tolerance - 0.01) / 100), 0.1, measured)
    outside = host_latency_check(10.0 * (1 + (tolerance + 0.01) / 100), 0.1, measured)
    assert inside["tolerance_pct"] == pytest.approx(tolerance) and inside["within"] and not outside["within"]
    assert f"+{tolerance - 0.01:.2f} %" in describe_host_latency(inside)
    assert "within it" in describe_host_latency(inside)
    assert "OUTSIDE" in describe_host_latency(outside)
    assert "development stand-in, not a target" in describe_host_latency(outside)
