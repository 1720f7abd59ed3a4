"""Import the reference implementation's measured single-op records into an MCU's LUT file.

    python -m micronas.cost.import_records PATH mcu=NAME [mcu.cost.lut_path=OUT.jsonl]

PATH is a records `.json` file or a folder of them. Cycles are converted with the MCU config's clock.
Ops the table already holds are skipped, so importing twice (or after an interruption) adds nothing new.
Failed records (e.g. `FLASHERROR`) are stored as `failed:<reason>` entries and never used as costs.
"""

import argparse
import logging

from micronas.config import load_config
from micronas.cost.lut import DeviceIdentity, LookupTable
from micronas.cost.reference_records import load_records, record_entry
from micronas.errors import ConfigError, exit_on_user_error


def import_records(path: str, mcu) -> tuple[int, int]:
    """Append the records at `path` to the MCU's LUT; returns (entries added, entries already there)."""
    if not mcu.clock_hz:
        raise ConfigError(f"mcu={mcu.name} has no clock_hz, so cycle records cannot be converted to ms.")
    records = load_records(path)
    table = LookupTable(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu))
    added = 0
    for source, record in records:
        entry = record_entry(record, int(mcu.clock_hz), f"reference-records:{source}")
        if entry.op in table:
            continue
        table.append(entry)
        added += 1
    return added, len(records) - added


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="records .json file or folder of them")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. mcu=nucleo_l552")
    args = parser.parse_args(argv)
    mcu = load_config("search", args.overrides).mcu
    added, skipped = import_records(args.path, mcu)
    print(f"{mcu.cost.lut_path}: added {added} entries, skipped {skipped} already present")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
