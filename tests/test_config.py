"""Start-up validation: real Hydra composition of conf/, one clear sentence per mistake."""

import pytest

from micronas.config import group_options, load_config
from micronas.errors import ConfigError


def test_flagship_overrides_compose():
    cfg = load_config("search", ["dataset=ucihar", "mcu=nucleo_l552", "constraints.latency=50"])
    assert cfg.dataset.name == "ucihar"
    assert cfg.mcu.core == "cortex-m33"
    assert cfg.constraints.latency == 50
    assert cfg.constraints.memory is None


@pytest.mark.parametrize("config_name", ["search", "train"])
@pytest.mark.parametrize("mcu", ["nucleo_l552", "nucleo_f446re", "nicla_sense_me", "portenta_h7", "host", "qemu_m33",
                                 "qemu_m4", "qemu_m7"])
def test_every_mcu_composes_with_both_primary_configs(config_name, mcu):
    cfg = load_config(config_name, [f"mcu={mcu}"])
    assert cfg.mcu.name == mcu
    assert cfg.mcu.sram_bytes > 0 and cfg.mcu.flash_bytes > 0
    assert cfg.mcu.word_bits in (32, 64)


def test_groups_list_their_options():
    assert group_options("mcu") == ["host", "nicla_sense_me", "nucleo_f446re", "nucleo_l552", "portenta_h7",
                                    "qemu_m33", "qemu_m4", "qemu_m7"]
    assert {"basicmotions", "japanesevowels", "ucihar", "skodar", "npz"} <= set(group_options("dataset"))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["dataset=nosuch"], "dataset=nosuch is not a known dataset; valid options are: basicmotions"),
        (["mcu=arduino_uno"], "mcu=arduino_uno is not a known mcu; valid options are: host"),
        (["constraints.latency=0"], "constraints.latency=0 is not valid: a latency budget must be a positive"),
        (["constraints.latency=-5"], "constraints.latency=-5 is not valid"),
        (["constraints.flash=abc"], "constraints.flash=abc is not valid: a flash budget must be a positive"),
        (
            ["mcu=nucleo_f446re", "constraints.memory=200"],
            "constraints.memory=200 kB exceeds the SRAM of nucleo_f446re (128 kB)",
        ),
        (
            ["mcu=nucleo_l552", "constraints.flash=4096"],
            "constraints.flash=4096 kB exceeds the flash of nucleo_l552 (512 kB)",
        ),
        (["+constraints.energy=3"], "constraints.energy is not a known budget; valid budgets are: latency"),
        (["nosuchkey=1"], "the overrides nosuchkey=1 are not valid"),
        (["constraints.latency=nan"], "constraints.latency=nan is not valid: a latency budget must be a "),
        (["constraints.latency=inf"], "constraints.latency=inf is not valid"),
        (["constraints.memory=-inf"], "constraints.memory=-inf is not valid"),
        (["search.epochs=0"], "search.epochs=0 is not valid; use an integer of at least 1."),
        (["search.epochs=2.5"], "search.epochs=2.5 is not valid; use an integer of at least 1."),
        (["search.method=foo"], "search.method=foo is not valid; valid methods are: darts, dnas, random."),
        (["dataset.batch_size=0"], "dataset.batch_size=0 is not valid; use an integer of at least 1."),
    ],
)
def test_bad_config_is_refused_in_one_sentence(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config("search", overrides)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


def test_budgets_within_the_board_are_accepted():
    cfg = load_config("search", ["mcu=nucleo_f446re", "constraints.memory=128", "constraints.flash=512"])
    assert cfg.constraints.memory == 128


def test_device_overrides_are_short_for_the_mcu_device_section():
    cfg = load_config("search", ["mcu=nucleo_l552", "device.port=/dev/ttyACM0", "device.baud=115200"])
    assert cfg.mcu.device.port == "/dev/ttyACM0" and cfg.mcu.device.baud == 115200
    assert "device" not in cfg
