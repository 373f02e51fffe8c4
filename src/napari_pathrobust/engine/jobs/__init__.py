"""Jobs: the only place that turns inputs into output files.

The CLI and the widgets call these functions; each takes a :class:`..progress.Reporter`
(progress callback and cancel check) so every caller shares one code path.
"""

from .segment import (
    LARGE_IMAGE_PIXELS,
    JobOptions,
    JobResult,
    checkpoint_path,
    output_paths,
    segment_file,
    segment_to_files,
)

__all__ = ["LARGE_IMAGE_PIXELS", "JobOptions", "JobResult", "checkpoint_path", "output_paths",
           "segment_file", "segment_to_files"]
