"""The Qt-free engine: I/O, tiling, methods, measurements and writers.

Nothing in this package imports Qt, napari or magicgui (a test checks this).
"""
