"""Moved to :mod:`core.geometry` (box geometry is shared by every feature package, so it lives below
them); this name stays for code written against the old path."""

from core.geometry import *  # noqa: F401,F403
from core.geometry import Letterbox, box_area, box_iou, box_overlap, enlarge, iou_wh, letterbox, nms  # noqa: F401
