"""Review of recognised cells, Qt-free: merging a new region into a slide's result
(:mod:`.merge`) and review sessions with undo / redo and atomic autosave (:mod:`.session`)."""

from .merge import MergeReport, merge_region, reviewed_mask, union_box
from .session import (
    ReviewHistory,
    SavedSession,
    load_session,
    save_cells,
    save_reviews,
    session_files,
)

__all__ = ["MergeReport", "ReviewHistory", "SavedSession", "load_session", "merge_region",
           "reviewed_mask", "save_cells", "save_reviews", "session_files", "union_box"]
