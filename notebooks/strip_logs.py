"""Drop TensorFlow's C++ log lines from executed notebooks' stderr outputs.

``make notebooks`` runs this after executing each lesson. TensorFlow prints
lines such as "Could not find cuda drivers" and "failed call to cuInit" at
import and first use, before ``TF_CPP_MIN_LOG_LEVEL`` can hide them; they say
nothing to a learner on a machine without a GPU. Only whole lines of that
form are removed (the pattern ``sanitize.cfg`` gives nbval); an output left
empty is dropped. Everything else, warnings from Python included, stays.

Run: ``python notebooks/strip_logs.py NOTEBOOK.ipynb [...]``.
"""

import json
import re
import sys
from pathlib import Path

LOG_LINE = re.compile(r"^((W|I|E)\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ .*"
                      r"|WARNING: All log messages before absl::InitializeLog\(\) is called.*)$")


def strip(path: Path) -> int:
    """Remove the log lines from ``path`` in place; returns how many were removed."""
    notebook = json.loads(path.read_text())
    removed = 0
    for cell in notebook["cells"]:
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = "".join(output["text"]).splitlines(keepends=True)
                left = [line for line in lines if not LOG_LINE.match(line.rstrip("\n"))]
                removed += len(lines) - len(left)
                if not "".join(left).strip():
                    continue
                output["text"] = left
            kept.append(output)
        if cell["cell_type"] == "code":
            cell["outputs"] = kept
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
    return removed


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {strip(Path(name))} TensorFlow log lines removed")
