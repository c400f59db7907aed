"""The 200-cell notebook ``bench_compile.py`` compiles and publishes.

A title and ``%load_ext`` cell, a ``parameters`` cell, then markdown notes, exploration
cells and ``%%flowat step`` cells (about three in four code cells) that import modules,
define helpers later steps call, read names defined several steps earlier, loop, branch
and now and then use an IPython magic (``%time``) or a ``!`` command. Every step
compiles.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CELLS", "notebook"]

CELLS = 200


def _code(source: str, tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": list(tags)} if tags else {},
        "outputs": [],
        "source": source,
    }


def _markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def _step(index: int, defined: list[str], helpers: list[str]) -> str:
    """The source of step ``index``; appends what it defines to ``defined``/``helpers``."""
    name = f"s{index:03d}"
    near = defined[-1] if defined else "rows"
    far = defined[-7] if len(defined) >= 7 else "seed"
    out = f"v{index:03d}"
    kind = index % 6
    if kind == 0:
        body = (
            "import math\nimport json\n\n"
            f"{out} = [round(math.sqrt(abs(x)) * scale, 3) for x in {near}]\n"
            f"_payload_{index} = json.dumps({out})\n"
            f"{out}_size = len(_payload_{index})"
        )
    elif kind == 1:
        helper = f"scaled_{index:03d}"
        body = (
            "from statistics import mean\n\n\n"
            f"def {helper}(values, factor=2):\n"
            '    """Scale values and drop the ones above the threshold."""\n'
            "    return [v * factor for v in values if v * factor < threshold * 1000]\n\n\n"
            f"{out} = {helper}({near})\n"
            f"{out}_mean = mean({out}) if {out} else 0.0"
        )
        helpers.append(helper)
    elif kind == 2:
        helper = helpers[-1] if helpers else "sorted"
        body = (
            f"{out} = {helper}({far})\n"
            f"for _i, _value in enumerate({near}):\n"
            f"    if _i % 3 == 0:\n"
            f"        {out}.append(_value)\n"
            f"    elif _value > threshold:\n"
            f"        {out}.append(-_value)\n"
            f"{out} = sorted({out})[:rows]"
        )
    elif kind == 3:
        body = (
            "from collections import Counter\n\n"
            f"_counts = Counter(int(x) % 7 for x in {near})\n"
            f"{out} = [float(k + c) for k, c in sorted(_counts.items())] or [0.0]\n"
            f"summary_{index:03d} = {{'n': len({out}), 'top': _counts.most_common(1), "
            f"'far': len({far})}}"
        )
    elif kind == 4:
        magic = "%time " if index % 12 == 4 else ""
        body = (
            f"{magic}{out} = [x + seed for x in {near}]\n"
            f"class Box{index:03d}:\n"
            f"    def __init__(self, items):\n"
            f"        self.items = list(items)\n\n"
            f"    def total(self):\n"
            f"        return sum(self.items)\n\n\n"
            f"box_{index:03d} = Box{index:03d}({out}).total()"
        )
    else:
        shell = "!echo step {rows}\n" if index % 18 == 5 else ""
        body = (
            f"{shell}try:\n"
            f"    {out} = [x / max(1, len({far})) for x in {near}]\n"
            f"except ZeroDivisionError:\n"
            f"    {out} = []\n"
            f"{out} = {out}[: rows]"
        )
    defined.append(out)
    after = f" --after s{index - 3:03d}" if index % 10 == 9 and index > 3 else ""
    retries = " --retries 2" if index % 8 == 0 else ""
    return f"%%flowat step {name}{after}{retries}\n{body}"


def notebook(cells: int = CELLS, rows: int = 50) -> dict[str, Any]:
    """A notebook document of ``cells`` cells (see the module's documentation).

    ``rows`` is the default of the parameter ``rows``: another value makes another version.
    """
    out: list[dict[str, Any]] = [
        _markdown("# A long notebook\n\nSteps build on each other; notes explain them."),
        _code("%load_ext flowat_kernel"),
        _code(f"rows = {rows}\nseed = 7\nthreshold = 0.8\nscale = 1.5", tags=("parameters",)),
        _code(
            "%%flowat step s000\nimport random\n\nv000 = [random.Random(seed).random() "
            "for _ in range(rows)]"
        ),
    ]
    defined, helpers = ["v000"], []
    index = 1
    while len(out) < cells:
        position = len(out)
        if position % 9 == 0:
            out.append(_markdown(f"## Part {position // 9}\n\nWhat the next steps do, and why."))
        elif position % 13 == 0:
            out.append(_code(f"{defined[-1]}[:5]  # a look at the data, not a step"))
        else:
            out.append(_code(_step(index, defined, helpers)))
            index += 1
    for number, cell in enumerate(out):
        cell["id"] = f"cell-{number:03d}"
    return {
        "cells": out,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
