"""Keep the committed code listings of the lessons identical to the module.

A lesson shows the code it teaches with a cell such as
``Code(inspect.getsource(vae.make_encoder), language="python")``; nbval compares
its committed output with the module's source, so a change to a shown function
needs its listing refreshed. This finds every such cell, evaluates it with the
``tfimagegen`` modules in scope, and (with ``--write``) saves the fresh outputs
in place, without executing anything else. ``tests/test_listings.py`` checks that
none is stale.

Run: ``python notebooks/refresh_listings.py [--write] [NOTEBOOK.ipynb ...]``
(default: every lesson).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
from pathlib import Path

import nbformat
from IPython.display import Code

LESSONS = sorted(Path(__file__).parent.glob("[0-9]*.ipynb"))
LISTING = "Code(inspect.getsource("


def _scope() -> dict:
    import tfimagegen

    modules = {m.name: importlib.import_module(f"tfimagegen.{m.name}")
               for m in pkgutil.iter_modules(tfimagegen.__path__)}
    return {"Code": Code, "inspect": inspect, **modules}


def _outputs(source: str, scope: dict) -> dict:
    """The ``data`` of the output a listing cell shows, as Jupyter saves it."""
    code = eval(source, scope)  # a listing cell is one expression over the modules
    return {"text/html": code._repr_html_(), "text/latex": code._repr_latex_(),
            "text/plain": repr(code).rstrip("\n")}


def stale(path: Path, write: bool = False) -> list[int]:
    """Indices of the listing cells of ``path`` whose committed output differs from the
    module's source; with ``write``, their outputs are replaced and the file saved."""
    notebook = nbformat.read(path, as_version=4)
    scope = _scope()
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or not cell.source.startswith(LISTING):
            continue
        data = _outputs(cell.source, scope)
        shown = [o for o in cell.outputs if o.output_type == "execute_result"]
        if len(shown) == 1 and dict(shown[0].data) == data:
            continue
        found.append(index)
        if write:
            count = shown[0].execution_count if shown else cell.execution_count
            cell.outputs = [nbformat.v4.new_output("execute_result", data=data,
                                                   execution_count=count)]
    if write and found:
        nbformat.write(notebook, path)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, default=LESSONS)
    parser.add_argument("--write", action="store_true", help="save fresh outputs in place")
    args = parser.parse_args()
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"notebooks must be .ipynb files, got {', '.join(missing)} (not found)")
    for path in args.notebooks:
        cells = stale(path, args.write)
        if cells:
            print(f"{path}: {'refreshed' if args.write else 'stale'} listing cells {cells}")


if __name__ == "__main__":
    main()
