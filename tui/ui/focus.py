"""Arrow keys between panes: pick the nearest pane in a direction (pure geometry)."""

from __future__ import annotations

from typing import Hashable, Mapping

from textual.geometry import Region

DIRECTIONS = ("left", "right", "up", "down")


def neighbour(regions: Mapping[Hashable, Region], current: Hashable,
              direction: str) -> Hashable | None:
    """The item whose region lies in ``direction`` of ``current``, nearest first.

    Candidates must overlap the current region on the other axis when any do (a pane right
    of this one, not one diagonally below); distance is measured between the facing edges.
    """
    here = regions[current]
    found: list[tuple[int, int, Hashable]] = []
    for item, region in regions.items():
        if item == current or not region.width or not region.height:
            continue
        if direction == "right" and region.x >= here.right:
            gap, overlap = region.x - here.right, _overlap(here.y, here.bottom, region.y,
                                                            region.bottom)
        elif direction == "left" and region.right <= here.x:
            gap, overlap = here.x - region.right, _overlap(here.y, here.bottom, region.y,
                                                            region.bottom)
        elif direction == "down" and region.y >= here.bottom:
            gap, overlap = region.y - here.bottom, _overlap(here.x, here.right, region.x,
                                                             region.right)
        elif direction == "up" and region.bottom <= here.y:
            gap, overlap = here.y - region.bottom, _overlap(here.x, here.right, region.x,
                                                             region.right)
        else:
            continue
        found.append((0 if overlap > 0 else 1, gap, item))
    if not found:
        return None
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return found[0][2]


def _overlap(a0: int, a1: int, b0: int, b1: int) -> int:
    return min(a1, b1) - max(a0, b0)
