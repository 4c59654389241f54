"""Run every notebook (student copies and masters) at default and at quick settings; print the times.

Each notebook runs top to bottom in a fresh Jupyter kernel (nbclient), in its own folder, with
``NSTLIB_WEIGHTS=random`` unless the caller set it (pretrained weights are not needed to time
the work) and ``NSTLIB_QUICK=0`` (default settings) or ``1`` (quick: small images, few steps).
The time includes the kernel's start and imports, as a student experiences it.

Targets (issue "Fast on a laptop CPU"): every notebook of a series at defaults <= 10 min in
total on a 2-core CPU; quick <= 3 min.

    python benchmarks/bench_notebooks.py                    # both settings, both folders
    python benchmarks/bench_notebooks.py --mode quick       # quick only
    python benchmarks/bench_notebooks.py --only 05 --keep /tmp/executed   # one notebook, keep outputs
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import print_machine, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"default": 600.0, "quick": 180.0}  # seconds per series


def find_notebooks(only: str | None) -> list[Path]:
    """notebooks/*.ipynb (student copies) then notebooks/source/*.ipynb (masters), sorted."""
    found = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks" / "source").glob("*.ipynb"))
    return [p for p in found if only is None or only in p.name]


def slowest_cell(nb) -> str:
    """'cell N: S s' for the cell that took longest (nbclient's recorded timings)."""
    best, best_i = -1.0, -1
    for i, cell in enumerate(nb.cells):
        ex = cell.get("metadata", {}).get("execution", {})
        start, end = ex.get("iopub.execute_input"), ex.get("shell.execute_reply")
        if start and end:
            secs = (
                datetime.fromisoformat(end.replace("Z", "+00:00"))
                - datetime.fromisoformat(start.replace("Z", "+00:00"))
            ).total_seconds()
            if secs > best:
                best, best_i = secs, i
    return f"cell {best_i}: {best:.0f} s" if best_i >= 0 else ""


def run_notebook(path: Path, quick: bool, timeout: int, keep: Path | None) -> tuple[float, str, str]:
    """(wall seconds, status, slowest cell) of one top-to-bottom run in a fresh kernel."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(path, as_version=4)
    os.environ["NSTLIB_QUICK"] = "1" if quick else "0"  # the kernel inherits this process's environment
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    start = time.perf_counter()
    status = "ok"
    try:
        client.execute()
    except CellExecutionError as err:
        status = "error: " + str(err).strip().splitlines()[-1][:80]
    except Exception as err:  # noqa: BLE001 - timeouts, dead kernels: report and go on
        status = f"{type(err).__name__}: {str(err).strip()[:80]}"
    secs = time.perf_counter() - start
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        folder = "source" if path.parent.name == "source" else "students"
        nbformat.write(nb, keep / f"{folder}-{'quick' if quick else 'default'}-{path.name}")
    return secs, status, slowest_cell(nb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["both", "quick", "default"], default="both")
    ap.add_argument("--only", default=None, help="run only notebooks whose file name contains this")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per cell")
    ap.add_argument("--keep", type=Path, default=None, help="write the executed notebooks here")
    args = ap.parse_args()
    os.environ.setdefault("NSTLIB_WEIGHTS", "random")
    os.environ.setdefault("MPLBACKEND", "Agg")
    notebooks = find_notebooks(args.only)
    if not notebooks:
        raise SystemExit("no notebooks found under notebooks/ and notebooks/source/")
    modes = ["quick", "default"] if args.mode == "both" else [args.mode]

    print("# nstlib notebook timings\n")
    print_machine()
    print(
        f"\nNSTLIB_WEIGHTS={os.environ['NSTLIB_WEIGHTS']}; {len(notebooks)} notebooks; modes: {', '.join(modes)}\n",
        flush=True,
    )
    results: dict[tuple[str, str], tuple[float, str, str]] = {}
    for mode in modes:
        for path in notebooks:
            res = run_notebook(path, mode == "quick", args.timeout, args.keep)
            results[(str(path.relative_to(ROOT)), mode)] = res
            print(f"  {mode:7s} {path.relative_to(ROOT)}: {res[0]:6.1f} s  {res[1]}", flush=True)

    rows = []
    for path in notebooks:
        rel = str(path.relative_to(ROOT))
        row: list[object] = [rel]
        for mode in modes:
            secs, status, slow = results[(rel, mode)]
            row += [secs, slow, status]
        rows.append(row)
    header = ["notebook"]
    for mode in modes:
        header += [f"{mode} s", f"{mode}: slowest cell", f"{mode}: status"]
    print()
    print(table(header, rows))

    print()
    total_rows = []
    for folder, test in (
        ("students (notebooks/)", lambda p: Path(p).parent.name != "source"),
        ("masters (notebooks/source/)", lambda p: Path(p).parent.name == "source"),
    ):
        for mode in modes:
            secs = [v[0] for (p, m), v in results.items() if m == mode and test(p)]
            if secs:
                ok = sum(secs) <= TARGETS[mode]
                total_rows.append([folder, mode, len(secs), sum(secs), TARGETS[mode], "yes" if ok else "NO"])
    print(table(["series", "mode", "notebooks", "total s", "target s", "within"], total_rows))
    failed = [k for k, v in results.items() if v[1] != "ok"]
    if failed:
        print(f"\n{len(failed)} run(s) failed: " + ", ".join(f"{p} ({m})" for p, m in failed))


if __name__ == "__main__":
    main()
