"""Every cap on what a user may ask for, in one place: sizes of uploads and their decompression,
image sides and pixels, loop lengths, table sizes. A page, the CLI and the library check against the
same number, and a reader sees at once what a hostile input can cost at most.

The feature modules import their caps from here under their old local names (``images.DEFAULT_MAX_SIDE``,
``ascent.MAX_STEPS``, ...), so call sites did not change. Standard library only: every floor may use it.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import MAX_ECHO  # noqa: F401  (characters of user content quoted in a message)

# ----------------------------------------------------------------------------- uploads and files
DEFAULT_UPLOAD_MB = 200  # Streamlit's default when .streamlit/config.toml sets no maxUploadSize
UPLOAD_EXPANSION = 8  # a decompressed upload may be at most 8 x the upload cap
GZIP_RATIO = 20  # embeddings compress 1.1x (binary) to 4x (text); 20x leaves room and stops bombs
GZIP_FLOOR = 16 * 2 ** 20  # small archives may always expand to 16 MiB
MAX_WORD_CHARS = 1000  # a longer "word" is not a word: the file is not an embedding
USER_MODEL_RATIO = 20  # a model archive may expand to 20 x its size (weights barely compress) ...
USER_MODEL_FLOOR = 64 * 2 ** 20  # ... or to 64 MiB, whichever is larger
USER_MODEL_CONFIG_MAX = 16 * 2 ** 20  # config.json / metadata.json: EfficientNet-B7's is under 1 MiB
DATA_DIR_MAX_MB = 512  # largest file offered from the operator's data folder (DASHBOARD_DATA_MAX_MB overrides)

# ----------------------------------------------------------------------------- images
IMAGE_MAX_SIDE = 2048  # px: decoded images are scaled down to this
IMAGE_MAX_PIXELS = 64_000_000  # header-declared pixels we agree to decode (8000 x 8000)
MODEL_MIN_SIDE = 8  # px: below this a model's resize to its input is a smear of one or two pixels
MODEL_MAX_ASPECT = 20  # long side / short side: beyond it the squeeze to a square input destroys the picture

# ----------------------------------------------------------------------------- vision
ASCENT_MAX_STEPS = 2000  # gradient-ascent / dream steps
ASCENT_MAX_SIZE = 512  # px: side of an ascent canvas

# ----------------------------------------------------------------------------- fcn
UPSAMPLING_MAX_KERNEL = 9  # taps
UPSAMPLING_MAX_VALUES = 64  # input entries (the page shows at most UPSAMPLING_MAX_PAGE_VALUES)
UPSAMPLING_MAX_PAGE_VALUES = 12
UPSAMPLING_MAX_MAGNITUDE = 1e9  # |number|: products stay exact in float64 and printable
UPSAMPLING_MAX_SYMBOL_CHARS = 12
ATROUS_MAX_LAYERS = 6
ATROUS_MAX_RATE = 16

# ----------------------------------------------------------------------------- detection
DARKNET_MAX_SIZE = 2048  # px: darknet inputs; 608 is the largest the cfgs use
YOLO_LOSS_MAX_EXAMPLE = 2999  # yolo-loss --example: the first YOLO_RECIPE["n_train"] training scenes
ANCHORS_MAX_K = 50  # anchors --k: YOLO9000 Figure 2 stops at 10
ANCHORS_MAX_SCENES = 5000  # anchors --scenes
MAX_BOX_SIDE = 10_000  # px: the largest image side the pages accept, so no box can be larger
MAX_CLUSTER_BOXES = 20_000  # k-means for k = 1..10 with 5 restarts stays around a second up to here


def upload_cap_bytes() -> int:
    """The dashboard's upload cap (``server.maxUploadSize`` in .streamlit/config.toml), in bytes."""
    import tomllib

    config = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"
    try:
        mb = tomllib.loads(config.read_text())["server"]["maxUploadSize"]
    except (OSError, KeyError, ValueError, TypeError):
        mb = DEFAULT_UPLOAD_MB
    return int(mb) * 2 ** 20
