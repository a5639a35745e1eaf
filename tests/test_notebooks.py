"""The committed notebooks: every picture is on the page, and the lessons agree.

nbval (``make nbval``) executes them; these tests read what is committed, the
full-mode outputs a learner sees on the web.
"""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9]*.ipynb"))
DRAWS = re.compile(r"show_grid\(|plt\.subplots|plt\.figure|\.imshow\(")


def cells(path: Path, kind: str = "code") -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def source(cell: dict) -> str:
    return "".join(cell["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_cell_that_draws_shows_a_picture(path):
    blind = [source(c).splitlines()[0] for c in cells(path)
             if DRAWS.search(source(c)) and not source(c).lstrip().startswith("def ")
             and not any("image/png" in o.get("data", {}) for o in c.get("outputs", []))]
    assert not blind, f"cells that draw but have no committed picture: {blind}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_have_hints_costs_and_executed_solutions(path):
    text = [source(c) for c in cells(path, "markdown")]
    exercises = next(t for t in text if "## Exercises" in t).split("## Exercises")[1]
    items = re.findall(r"^\d+\. ", exercises, flags=re.M)
    assert items, "no numbered exercises"
    for word in ("*Hint:*", "*You should see:*", "*Cost:*"):
        assert exercises.count(word) == len(items), word
    assert not re.search(r"EX\d_|_PROSE", "\n".join(text)), "a placeholder was left in the prose"
    solutions = [i for i, t in enumerate(text) if t.startswith("## Exercise solutions")]
    assert solutions, "no 'Exercise solutions' section"
    code = cells(path)
    assert code and all(c.get("outputs") for c in code[-2:]), "solutions were not executed"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_carry_no_cuda_or_retracing_noise(path):
    """Learners read these pages: no "failed call to cuInit", no retracing warnings, no
    TensorFlow C++ log lines (``make notebooks`` strips those with ``strip_logs.py``)."""
    noisy = [source(c).splitlines()[0] for c in cells(path)
             for o in c.get("outputs", []) if re.search(
                 r"cuInit|cuda drivers|triggered tf\.function retracing|^[WIE]0000 ",
                 "".join(o.get("text", "")), flags=re.M)]
    assert not noisy, f"cells with TensorFlow noise in their committed output: {noisy}"


def test_later_lessons_train_missing_runs_as_the_earlier_lessons_do():
    """Lessons 03 to 05 train earlier lessons' missing runs themselves, with the same epochs."""
    def full_mode(stem: str, name: str) -> int:
        """The last number on the line that sets ``name`` in a notebook's parameters cell."""
        path = next(p for p in NOTEBOOKS if p.stem == stem)
        parameters = next(source(c) for c in cells(path) if "parameters" in
                          c["metadata"].get("tags", []))
        line = re.search(rf"^{name} = ([^#]*)", parameters, flags=re.M).group(1)
        return int(re.findall(r"\d+", line)[-1])

    for stem in ("03_vae", "04_diffusion", "05_judge_and_use"):
        assert full_mode("02_gan", "PLAIN_EPOCHS") == full_mode(stem, "PLAIN_GAN_EPOCHS"), stem
    assert full_mode("04_diffusion", "PIXEL_EPOCHS") == full_mode("05_judge_and_use",
                                                                  "PIXEL_EPOCHS")


def test_lesson_07_trains_lesson_06s_missing_runs_with_lesson_06s_epochs():
    import ast

    def epochs(stem: str) -> dict:
        path = next(p for p in NOTEBOOKS if p.stem == stem)
        parameters = next(source(c) for c in cells(path) if "parameters" in
                          c["metadata"].get("tags", []))
        line = re.search(r"^EPOCHS = (\{[^}]*\})", parameters, flags=re.M).group(1)
        return ast.literal_eval(line)

    lesson06, lesson07 = epochs("06_colour_and_your_pictures"), epochs("07_text_to_image")
    assert (lesson07["vae"], lesson07["floor"]) == (lesson06["vae"], lesson06["latent"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_listings_match_the_module(path):
    """A lesson's ``Code(inspect.getsource(...))`` cells show today's source (nbval would
    fail later; ``python notebooks/refresh_listings.py --write`` mends them)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("refresh_listings",
                                                  path.parent / "refresh_listings.py")
    listings = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(listings)
    assert not listings.stale(path), "stale listings: run notebooks/refresh_listings.py --write"
