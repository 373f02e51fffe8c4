"""Jobs: the only place that turns inputs into output files.

``segment`` (recognition -> labels, points, GeoJSON, overlay, run JSON), ``adapt``
(the same with test-time adaptation, plus its log), ``export`` (a napari layer -> one
file), ``train_psm`` (training images -> network weights); ``outputs`` publishes the
files of one image together. The CLI and the widgets call these functions; each takes
a :class:`..progress.Reporter` (progress callback and cancel check).
"""

from .outputs import OutputSet, checkpoint_path
from .segment import (
    LARGE_IMAGE_PIXELS,
    JobOptions,
    JobResult,
    output_paths,
    run_metadata,
    segment_file,
    segment_to_files,
)

__all__ = ["LARGE_IMAGE_PIXELS", "JobOptions", "JobResult", "OutputSet", "checkpoint_path",
           "output_paths", "run_metadata", "segment_file", "segment_to_files"]
