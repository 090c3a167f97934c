"""hydro's numba set-up: NUMBA_OPT=max unless the user chose a level, so that kernels compiled in this process are
optimised as the cached ones are (why: the comment in hydro/__init__.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRINT_OPT = "import numba.core.config as c; print(repr(c.OPT), c.OPT.is_opt_max)"


def _python(code: str, **env: str) -> str:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_OPT"} | env
    return subprocess.run([sys.executable, "-c", code], env=environ, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("imports", ["import hydro", "import numba; import hydro"], ids=["hydro first", "numba first"])
def test_importing_hydro_asks_numba_for_max_optimisation(imports):
    assert _python(f"{imports}; {PRINT_OPT}") == "_OptLevel('max') True"


def test_a_users_numba_opt_wins():
    assert _python(f"import hydro; {PRINT_OPT}", NUMBA_OPT="2") == "_OptLevel(2) False"


def test_a_kernel_compiled_after_import_gets_the_vectorising_first_pass():
    # the code generator reads the level when numba builds it, at the first compile after import
    code = ("import numba; import hydro; from numba.core.registry import cpu_target; "
            "numba.njit(lambda x: x + 1)(1); cg = cpu_target.target_context.codegen(); print(cg._loopvect, cg._opt_level)")
    assert _python(code) == "True 3"
