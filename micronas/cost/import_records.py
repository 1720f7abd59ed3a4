"""Import measured single-op records (the reference implementation's format) into an MCU's LUT file.

    python -m micronas.cost.import_records PATH mcu=NAME [mcu.cost.runtime_version=VERSION]

PATH is a records `.json` file, or a folder searched with its sub-folders (e.g. one `records.json` per
run). Cycles are converted with the MCU config's clock. Ops the table already holds are skipped, so
importing twice (or after an interruption) adds nothing new. Failed records (e.g. `FLASHERROR`) are stored
as `failed:<reason>` entries and never used as costs; a malformed record is skipped with a warning naming
what it lacks. A `mcu.cost.runtime_version` given here is stored in the user's copy of the MCU config
(`micronas.cost.board_settings`), so later commands need not repeat it.
"""

import argparse
import logging

from micronas.config import load_config
from micronas.cost.board_settings import remember_runtime_version
from micronas.cost.lut import DeviceIdentity, LookupTable
from micronas.cost.reference_records import SOURCE_PREFIX, read_mcu_records
from micronas.errors import exit_on_user_error


def import_records(path: str, mcu) -> tuple[int, int, int]:
    """Append the records at `path` to the MCU's LUT; returns (entries added, already there, malformed)."""
    entries, malformed = read_mcu_records(path, mcu, SOURCE_PREFIX)
    table = LookupTable(mcu.cost.lut_path, DeviceIdentity.from_mcu(mcu))
    added = 0
    for entry in entries:
        if entry.op in table:
            continue
        table.append(entry)
        added += 1
    return added, len(entries) - added, malformed


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", help="records .json file, or folder of them (sub-folders searched)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. mcu=nucleo_l552")
    args = parser.parse_args(argv)
    mcu = load_config("search", args.overrides).mcu
    added, present, malformed = import_records(args.path, mcu)
    bad = f", {malformed} malformed records skipped (see the warnings)" if malformed else ""
    print(f"{mcu.cost.lut_path}: added {added} entries, skipped {present} already present{bad}")
    remember_runtime_version(args.overrides, mcu)
    print(f"next: python -m micronas.cost.calibrate mcu={mcu.name} --write, then "
          f"python -m micronas.cost.arena_fit mcu={mcu.name} --write")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    main()
