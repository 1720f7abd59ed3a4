import shutil
import subprocess

import pytest

from micronas.export.c_array import write_c_header

PROGRAM = """
#include <stdio.h>
#include <stdint.h>
#include "model_data.h"
int main(void) {
  printf("%u %u\\n", g_model_data_len, (unsigned)((uintptr_t)g_model_data % 16));
  fwrite(g_model_data, 1, g_model_data_len, stderr);
  return 0;
}
"""


@pytest.mark.parametrize("compiler, source", [("g++", "main.cc"), ("gcc", "main.c")])
def test_header_compiles_aligned_with_its_length_and_bytes(tmp_path, compiler, source):
    if shutil.which(compiler) is None:
        pytest.skip(f"{compiler} is not installed")
    model = bytes(range(256)) * 3 + b"\x00\xff\x10"
    write_c_header(model, tmp_path / "model_data.h")
    (tmp_path / source).write_text(PROGRAM)
    subprocess.run([compiler, "-Wall", "-Werror", "-O1", source, "-o", "main"], cwd=tmp_path, check=True)
    result = subprocess.run([str(tmp_path / "main")], capture_output=True, check=True)
    length, misalignment = result.stdout.decode().split()
    assert int(length) == len(model) and misalignment == "0"
    assert result.stderr == model


def test_header_refuses_a_name_that_is_not_a_c_identifier(tmp_path):
    with pytest.raises(ValueError, match="not a valid C identifier"):
        write_c_header(b"TFL3", tmp_path / "x.h", name="model-data")
