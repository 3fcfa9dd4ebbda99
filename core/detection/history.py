"""The R-CNN family and YOLO, as the lecture tells it: what changed at each step, and how fast.

Speeds are the lecture's (from the papers; GPU of the day). Accuracies are the papers' own
headline numbers, on the dataset named: PASCAL VOC 2007 test mAP, or COCO test-dev (AP50 or AP).
They are reported, not measured here, and datasets differ, so the plot separates them.

Where a number comes from matters: the lecture's 140 ms (7 FPS) for Faster R-CNN is the YOLO paper's
Table 1 entry (Redmon et al. 2016, "Faster R-CNN VGG-16, 7 FPS"); the Faster R-CNN paper itself
(Ren et al. 2015, Table 5) reports 198 ms per image (5 FPS) for VGG-16. RetinaNet (Lin et al.,
"Focal Loss for Dense Object Detection") and Mask R-CNN (He et al.) are both ICCV 2017 papers; the
slides' "2018" heading is the year of the YOLOv3 report that compares against them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Milestone:
    year: int
    name: str
    seconds_per_image: float
    speed_text: str  # as the lecture says it
    accuracy: float  # percent
    metric: str  # which number, on which dataset
    change: str  # what changed


MILESTONES = [
    Milestone(2014, "R-CNN", 50.0, "~50 s per image", 66.0, "VOC 2007 mAP",
              "~2000 selective-search proposals, each warped and passed through a fine-tuned CNN; SVMs and box "
              "regression trained separately. Too slow to be useful."),
    Milestone(2015, "Fast R-CNN", 2.3, "2.3 s per image", 70.0, "VOC 2007 mAP",
              "One CNN pass per image; RoI pooling crops proposals from the feature map; classifier and box "
              "regressor trained together. Proposals (selective search) now dominate the time."),
    Milestone(2015, "Faster R-CNN", 0.14, "140 ms (7 FPS; YOLO paper's Table 1 - the Faster R-CNN paper: 198 ms)",
              73.2, "VOC 2007 mAP",
              "A Region Proposal Network with anchors shares the features: proposals become nearly free. "
              "Box loss on x, y, log w, log h; cross-entropy for classes."),
    Milestone(2016, "YOLO", 1 / 45, "~40-60 FPS", 63.4, "VOC 2007 mAP",
              "No proposals at all: one network predicts an S x S x (B*5 + C) tensor in one pass."),
    Milestone(2017, "YOLOv2 (YOLO9000)", 1 / 67, "67 FPS at 416", 76.8, "VOC 2007 mAP",
              "Anchors from k-means (1 - IoU), batch norm, higher resolution, passthrough (reorg) layer."),
    Milestone(2017, "RetinaNet", 0.198, "198 ms", 57.5, "COCO AP50",
              "One stage with focal loss (ICCV 2017; speed and AP50 as the YOLOv3 report compares them)."),
    Milestone(2017, "Mask R-CNN", 0.2, "~5 FPS", 39.8, "COCO box AP",
              "Faster R-CNN plus a small FCN mask head per RoI, and RoIAlign instead of RoI pooling (ICCV 2017): "
              "instance segmentation."),
    Milestone(2018, "YOLOv3", 0.051, "51 ms at 608 (22 ms at 320: 28.2 mAP)", 57.9, "COCO AP50",
              "Three scales (13, 26, 52 at 416), Darknet-53 with shortcuts, sigmoid classes. RetinaNet: 57.5 AP50 "
              "in 198 ms - similar accuracy, 3.8x slower."),
]
