"""Property tests of every parser of user input (hypothesis, a bounded number of examples each): an
architecture JSON, LUT lines, an `.npz` dataset, protocol frames and config values either parse to a
valid object or end in the project's one-sentence error — never a traceback."""

import json
import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from micronas.config import load_config
from micronas.cost.lut import LookupTable, LutEntry, read_lut
from micronas.data import make_datamodule
from micronas.errors import MicronasError
from micronas.hardware.protocol import (MAX_PAYLOAD_BYTES, Frame, FrameDecoder, FrameType, MalformedPayload,
                                        decode_message, encode_frame)
from micronas.space.architecture import Architecture
from micronas.space.opspec import OpSpec
from tests.cost.test_lut import CONV, L552
from tests.train.conftest import small_basicmotions_arch

EXAMPLES = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def parses_or_says_why(parse, *args, errors=(MicronasError,)):
    """`parse(*args)`, or None after one of `errors` whose text is one line; anything else fails the test."""
    try:
        return parse(*args)
    except errors as error:
        assert str(error).strip() and "\n" not in str(error), repr(str(error))
        return None


def mutated(record: dict, data) -> dict:
    """`record` with a few of its fields (top level or one level down) replaced by arbitrary JSON."""
    record = json.loads(json.dumps(record))
    for _ in range(data.draw(st.integers(1, 3))):
        target = record
        key = data.draw(st.sampled_from(sorted(target)))
        if isinstance(target[key], dict) and target[key] and data.draw(st.booleans()):
            target, key = target[key], data.draw(st.sampled_from(sorted(target[key])))
        target[key] = data.draw(JSON)
    return record


# ---- architecture JSON -------------------------------------------------------------------------------------

@EXAMPLES
@given(st.data())
def test_an_architecture_json_parses_or_ends_in_one_sentence(data):
    kind = data.draw(st.sampled_from(["text", "json", "mutated"]))
    if kind == "text":
        text = data.draw(st.text(max_size=60))
    elif kind == "json":
        text = json.dumps(data.draw(JSON))
    else:
        text = json.dumps(mutated(small_basicmotions_arch().to_dict(), data))
    arch = parses_or_says_why(Architecture.from_json, text)
    if arch is not None:
        assert Architecture.from_json(arch.to_json()) == arch


@EXAMPLES
@given(st.binary(max_size=80))
def test_an_architecture_file_of_any_bytes_parses_or_ends_in_one_sentence(tmp_path, content):
    (tmp_path / "architecture.json").write_bytes(content)
    parses_or_says_why(Architecture.load, tmp_path / "architecture.json")


# ---- LUT lines ---------------------------------------------------------------------------------------------

@EXAMPLES
@given(st.data())
def test_a_lut_line_parses_or_ends_in_one_sentence(tmp_path, data):
    path = tmp_path / "lut.jsonl"
    path.unlink(missing_ok=True)
    table = LookupTable(path, L552)
    table.append(LutEntry(op=CONV, samples_ms=(1.0, 1.1), source="test"))
    valid = json.loads(path.read_text().splitlines()[1])
    kind = data.draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        line = data.draw(st.binary(max_size=40))
    else:
        line = json.dumps(data.draw(JSON) if kind == "json" else mutated(valid, data)).encode()
    with open(path, "ab") as handle:
        handle.write(line.replace(b"\n", b" ") + b"\n")
    parsed = parses_or_says_why(read_lut, path)
    if parsed is not None:
        identity, entries = parsed
        assert identity == L552 and all(isinstance(e.op, OpSpec) for e in entries)
        assert all(math.isfinite(v) for e in entries for v in e.samples_ms)


# ---- .npz datasets -----------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, "U3"])


def arrays(shape):
    return DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, shape))


@EXAMPLES
@given(st.data())
def test_an_npz_dataset_loads_or_ends_in_one_sentence(compose, tmp_path, data):
    n = data.draw(st.integers(0, 24))
    contents = {
        "X": data.draw(st.one_of(arrays(st.just((n, 2, 4))),
                                 arrays(hnp.array_shapes(max_dims=4, max_side=5)))),
        "y": data.draw(st.one_of(hnp.arrays(np.int64, (n,), elements=st.integers(0, 3)),
                                 arrays(st.just((n,))))),
    }
    for key, shape in (("subjects", (n,)), ("split", (n,)), ("class_names", (3,)), ("channel_names", (2,))):
        if data.draw(st.booleans()):
            contents[key] = data.draw(arrays(st.just(shape)))
    if data.draw(st.booleans()):
        contents.pop(data.draw(st.sampled_from(sorted(contents))))
    path = tmp_path / "data.npz"
    np.savez(path, **contents)
    cfg = compose("dataset=npz", f"dataset.path={path}", "dataset.batch_size=4")
    dm = make_datamodule(cfg)

    def setup():
        dm.setup()
        return dm

    if parses_or_says_why(setup) is not None:
        assert dm.num_classes >= 2 and len(dm.train_dataset) > 0 and len(dm.val_dataset) > 0


# ---- protocol frames ---------------------------------------------------------------------------------------

@EXAMPLES
@given(st.binary(max_size=600), st.lists(st.tuples(
    st.sampled_from([int(t) for t in FrameType] + [0x00, 0x42, 0xFE]),
    st.integers(0, 0xFFFF), st.binary(max_size=MAX_PAYLOAD_BYTES)), max_size=3))
def test_frames_decode_to_messages_or_a_malformed_payload(noise, frames):
    wire = noise + b"".join(encode_frame(kind, seq, payload) for kind, seq, payload in frames)
    events = FrameDecoder().feed(wire, now_s=0.0)
    decoded = [event for event in events if isinstance(event, Frame)]
    for frame in decoded:
        parses_or_says_why(decode_message, frame, errors=(MalformedPayload,))
    if not noise:
        assert [(f.type, f.seq, f.payload) for f in decoded] == frames


# ---- config values -----------------------------------------------------------------------------------------

VALUES = st.one_of(
    st.integers(-(2**40), 2**40).map(str), st.floats().map(repr), st.sampled_from(
        ["null", "nan", "inf", "-inf", "1e400", "true", "[1,2]", "{a: 1}", "''", "abc", "0", "0.0", "-0"]),
    st.text(alphabet="abc019.-e", max_size=6),
)
KEYS = ["constraints.latency", "constraints.memory", "constraints.flash", "search.epochs",
        "dataset.batch_size", "search.method"]


@EXAMPLES
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1, max_size=3))
def test_config_values_compose_to_a_valid_config_or_end_in_one_sentence(overrides):
    cfg = parses_or_says_why(load_config, "search", [f"{key}={value}" for key, value in overrides.items()])
    if cfg is None:
        return
    for budget in ("latency", "memory", "flash"):
        value = cfg.constraints[budget]
        assert value is None or (not isinstance(value, bool) and math.isfinite(value) and value > 0)
    assert isinstance(cfg.search.epochs, int) and cfg.search.epochs >= 1
    assert isinstance(cfg.dataset.batch_size, int) and cfg.dataset.batch_size >= 1

