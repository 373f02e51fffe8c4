"""The tiled runtime: how a slide of any size becomes one set of nuclei.

Every recognition (a file, a region, a whole slide, on threads or on a dask cluster)
takes the same path, one module a step::

    Slide (io: a lazy pyramid, level 0 + pixel size)
      |  sampling      one seeded sample of the whole slide's tissue -> method.fit()
      |                (refused when uniform or blank glass)
      |  resample      the working grid: the slide resampled to method.working_mpp
      |  tiling        tiles with a halo on that grid (tile size from the memory budget
      |                and the method's bytes per pixel: for psm 1024 working px cores,
      |                the halo about a third of each window);
      |  tissue        tiles on blank glass skipped
      v
    executor           tile jobs on a thread pool, a reader thread reading windows ahead
      |                (or distributed: dask.distributed, the job detached and re-attached)
      |  working_tiles load: read the window (halo included), resample; compute:
      |                method.segment(), labels back to slide pixels; keep the objects
      |                the tile owns
      v
    label_ids          provisional ids in tile order -> canonical ids (dense, raster
      |                order of each object's first pixel): tile size, worker count
      |                and machine never change them
      v
    sinks              the label canvas (numpy or zarr), record sinks (CSV, GeoJSON,
                       layer tables), stitched maps; checkpoint lets a run resume

:func:`.pipeline.segment_slide` drives it and records where the time went
(:mod:`.profile`, ``info["profile"]``). "Where does a tile get read?" has one answer:
:mod:`.working_tiles` (``WorkingTileJob``) on a working grid, :mod:`.executor`
(``TileJob``) otherwise.
"""
